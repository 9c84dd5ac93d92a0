//! Track ids: a ByteTrack tracker per camera gives each detection the number of the object it
//! belongs to, the same while the object stays in view.
//!
//! The tracker is `trackforge`'s ByteTrack (Kalman-predicted boxes, IoU matching of the confident
//! detections first, then the weak ones to the tracks left over). It is a maintained, pure-Rust
//! crate with one dependency (nalgebra), a clean-room implementation of the paper; nvt adds what
//! its cameras need around it: boxes in and out in nvt's `[x1, y1, x2, y2]`, and ids written
//! into the detections they belong to.

use nvt_transport::ReplyDetection;
use trackforge::trackers::byte_track::{ByteTrack, ByteTrackParams};
use trackforge::trackers::common::CommonParams;

/// The tracker's thresholds (`--track-*` flags); the defaults are Ultralytics' ByteTrack
/// settings, which suit a detector run at its usual 0.25 score threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackSettings {
    /// Detections scoring at least this are matched first; weaker ones only extend tracks.
    pub high: f32,
    /// A detection left unmatched starts a new track only when it scores at least this.
    pub new_track: f32,
    /// The least overlap (IoU) of a track's predicted box and a detection for them to match.
    pub match_iou: f32,
    /// Frames a lost track is kept, so that an object hidden briefly keeps its id.
    pub buffer_frames: usize,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self { high: 0.25, new_track: 0.25, match_iou: 0.2, buffer_frames: 30 }
    }
}

/// One camera's tracker.
pub struct Tracker {
    inner: ByteTrack,
}

impl Tracker {
    /// A tracker with no tracks yet.
    pub fn new(settings: TrackSettings) -> Self {
        let params = ByteTrackParams {
            common: CommonParams { max_age: settings.buffer_frames, min_hits: 1 },
            track_thresh: settings.high,
            match_thresh: 1.0 - settings.match_iou,
            det_thresh: settings.new_track,
            ..ByteTrackParams::default()
        };
        Self { inner: ByteTrack::from_params(params) }
    }

    /// Takes one frame's detections and sets each one's `track_id`: the id of the track it
    /// extends or starts, or `None` when it belongs to no track (a weak detection of nothing
    /// tracked). Every frame the camera processes must come through here, in order, even one
    /// with no detections, so that tracks age.
    pub fn update(&mut self, detections: &mut [ReplyDetection]) {
        let input = detections
            .iter()
            .map(|d| {
                let [x1, y1, x2, y2] = d.bbox;
                ([x1, y1, (x2 - x1).max(0.0), (y2 - y1).max(0.0)], d.score, i64::from(d.class_id))
            })
            .collect();
        for detection in detections.iter_mut() {
            detection.track_id = None;
        }
        for track in self.inner.update(input) {
            if let Some(detection) = track.det_ind.and_then(|i| detections.get_mut(i)) {
                detection.track_id = Some(track.track_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(class_id: u32, x: f32, y: f32, score: f32) -> ReplyDetection {
        ReplyDetection {
            class_id,
            label: format!("class {class_id}"),
            score,
            bbox: [x, y, x + 50.0, y + 50.0],
            track_id: None,
        }
    }

    #[test]
    fn moving_objects_keep_their_ids_and_new_ones_get_new_ids() {
        let mut tracker = Tracker::new(TrackSettings::default());
        let mut ids = Vec::new();
        for frame in 0..60 {
            let step = frame as f32 * 6.0;
            let mut frame_detections =
                vec![detection(0, 10.0 + step, 10.0, 0.9), detection(1, 400.0 - step, 200.0, 0.8)];
            tracker.update(&mut frame_detections);
            ids.push((frame_detections[0].track_id, frame_detections[1].track_id));
        }
        let (first, second) = ids[0];
        assert!(first.is_some() && second.is_some() && first != second, "{:?}", ids[0]);
        assert!(ids.iter().all(|pair| *pair == (first, second)), "ids changed: {ids:?}");
        let mut third = vec![detection(2, 300.0, 400.0, 0.95)];
        tracker.update(&mut third);
        assert!(third[0].track_id.is_some_and(|id| Some(id) != first && Some(id) != second));
    }

    #[test]
    fn an_object_hidden_for_a_few_frames_keeps_its_id() {
        let mut tracker = Tracker::new(TrackSettings::default());
        let mut before = vec![];
        for frame in 0..10 {
            before = vec![detection(0, 100.0 + frame as f32 * 2.0, 100.0, 0.9)];
            tracker.update(&mut before);
        }
        for _ in 0..5 {
            tracker.update(&mut []);
        }
        let mut after = vec![detection(0, 130.0, 100.0, 0.9)];
        tracker.update(&mut after);
        assert_eq!(after[0].track_id, before[0].track_id);
    }

    #[test]
    fn weak_detections_do_not_start_tracks() {
        let mut tracker = Tracker::new(TrackSettings { high: 0.5, new_track: 0.6, ..TrackSettings::default() });
        let mut weak = vec![detection(0, 100.0, 100.0, 0.3)];
        for _ in 0..5 {
            tracker.update(&mut weak);
            assert_eq!(weak[0].track_id, None);
        }
    }
}
