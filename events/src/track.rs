//! Track ids: ByteTrack trackers per camera give each detection the number of the object it
//! belongs to, the same while the object stays in view.
//!
//! The tracker is `trackforge`'s ByteTrack (Kalman-predicted boxes, IoU matching of the confident
//! detections first, then the weak ones to the tracks left over). It is a maintained, pure-Rust
//! crate with one dependency (nalgebra), a clean-room implementation of the paper; nvt adds what
//! its cameras need around it: one tracker per label, as Frigate keeps labels apart (a detection
//! of one label never extends the track of another, however the detector's labels flicker),
//! the camera's object filters before anything is tracked, boxes in and out in nvt's
//! `[x1, y1, x2, y2]`, and camera-wide ids written into the detections they belong to.

use crate::filters::ObjectFilters;
use nvt_transport::ReplyDetection;
use std::collections::BTreeMap;
use std::sync::Arc;
use trackforge::trackers::byte_track::{ByteTrack, ByteTrackParams};
use trackforge::trackers::common::CommonParams;

/// The tracker's thresholds (`--track-*` flags); the defaults are Ultralytics' ByteTrack
/// settings, which suit a detector run at its usual 0.25 score threshold. And which detections
/// are tracked at all: the object filters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSettings {
    /// Detections scoring at least this are matched first; weaker ones only extend tracks.
    pub high: f32,
    /// A detection left unmatched starts a new track only when it scores at least this.
    pub new_track: f32,
    /// The least overlap (IoU) of a track's predicted box and a detection for them to match.
    pub match_iou: f32,
    /// Frames a lost track is kept, so that an object hidden briefly keeps its id.
    pub buffer_frames: usize,
    /// The labels tracked and each one's filter, per camera.
    pub objects: Arc<ObjectFilters>,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self { high: 0.25, new_track: 0.25, match_iou: 0.2, buffer_frames: 30, objects: Arc::default() }
    }
}

/// Most labels one camera tracks at once (a tracker each). A label's tracker goes once its
/// tracks have all been let go (no detection of it for `--track-buffer` frames); past this
/// bound, the tracker of the label seen longest ago makes room for a new one (a warning says so,
/// once a connection). A model declares at most 10000 classes, and a hostile one may use them
/// all.
pub const MAX_LABELS: usize = 256;

/// One label's tracker, and its ids mapped to the camera's.
struct LabelTracker {
    inner: ByteTrack,
    /// The tracker's own id -> (the camera-wide id, the last update it was returned in).
    ids: BTreeMap<u64, (u64, u64)>,
    /// The last update that gave it a detection.
    last_seen: u64,
}

/// One camera's trackers.
pub struct Tracker {
    settings: TrackSettings,
    camera: String,
    labels: BTreeMap<String, LabelTracker>,
    next_id: u64,
    updates: u64,
    /// Whether a label's tracker had to make room for another (warned once).
    crowded: bool,
}

impl Tracker {
    /// The trackers of `camera`, with no tracks yet.
    pub fn new(settings: &TrackSettings, camera: &str) -> Self {
        Self {
            settings: settings.clone(),
            camera: camera.to_owned(),
            labels: BTreeMap::new(),
            next_id: 1,
            updates: 0,
            crowded: false,
        }
    }

    /// How many labels have a tracker now.
    pub fn labels(&self) -> usize {
        self.labels.len()
    }

    /// Takes one frame's detections (the frame is `size` pixels) and sets each one's
    /// `track_id`: the id of the track it extends or starts, or `None` when it belongs to no
    /// track (filtered out, or a weak detection of nothing tracked). Every frame the camera
    /// processes must come through here, in order, even one with no detections, so that tracks
    /// age.
    pub fn update(&mut self, detections: &mut [ReplyDetection], size: (u32, u32)) {
        self.updates += 1;
        let frame_area = f64::from(size.0) * f64::from(size.1);
        let mut by_label: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, d) in detections.iter_mut().enumerate() {
            d.track_id = None;
            if self.settings.objects.passes(&self.camera, &d.label, d.score, d.bbox, frame_area) {
                by_label.entry(d.label.clone()).or_default().push(i);
            }
        }
        let (updates, buffer) = (self.updates, self.settings.buffer_frames as u64);
        // A tracker with no detection for longer than the buffer has let every track go.
        self.labels.retain(|label, tracker| by_label.contains_key(label) || updates - tracker.last_seen <= buffer + 1);
        for label in by_label.keys() {
            if let Some(tracker) = self.labels.get_mut(label) {
                tracker.last_seen = updates;
            } else if self.make_room(updates) {
                let tracker = LabelTracker {
                    inner: ByteTrack::from_params(self.params()),
                    ids: BTreeMap::new(),
                    last_seen: updates,
                };
                self.labels.insert(label.clone(), tracker);
            }
        }
        for (label, tracker) in &mut self.labels {
            let chosen = by_label.get(label).map(Vec::as_slice).unwrap_or_default();
            let input = chosen
                .iter()
                .map(|&i| {
                    let d = &detections[i];
                    let [x1, y1, x2, y2] = d.bbox;
                    ([x1, y1, (x2 - x1).max(0.0), (y2 - y1).max(0.0)], d.score, 0)
                })
                .collect();
            for track in tracker.inner.update(input) {
                let id = tracker.ids.entry(track.track_id).or_insert_with(|| {
                    self.next_id += 1;
                    (self.next_id - 1, updates)
                });
                id.1 = updates;
                if let Some(detection) = track.det_ind.and_then(|i| chosen.get(i)).and_then(|&i| detections.get_mut(i))
                {
                    detection.track_id = Some(id.0);
                }
            }
            // Ids of tracks the tracker has let go (older than its buffer) are forgotten.
            tracker.ids.retain(|_, (_, last)| updates - *last <= buffer + 1);
        }
    }

    /// Whether a new label's tracker fits; past [`MAX_LABELS`], the tracker of the label seen
    /// longest ago (not in this frame) goes.
    fn make_room(&mut self, updates: u64) -> bool {
        if self.labels.len() < MAX_LABELS {
            return true;
        }
        let oldest = self
            .labels
            .iter()
            .filter(|(_, tracker)| tracker.last_seen < updates)
            .min_by_key(|(_, tracker)| tracker.last_seen)
            .map(|(label, _)| label.clone());
        let Some(oldest) = oldest else { return false };
        if !std::mem::replace(&mut self.crowded, true) {
            tracing::warn!(
                camera = %self.camera,
                max = MAX_LABELS,
                "this camera sees more labels at once than nvt tracks; the label seen longest ago loses its tracks"
            );
        }
        self.labels.remove(&oldest);
        true
    }

    fn params(&self) -> ByteTrackParams {
        ByteTrackParams {
            common: CommonParams { max_age: self.settings.buffer_frames, min_hits: 1 },
            track_thresh: self.settings.high,
            match_thresh: 1.0 - self.settings.match_iou,
            det_thresh: self.settings.new_track,
            ..ByteTrackParams::default()
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
            carried: false,
            region: None,
        }
    }

    const SIZE: (u32, u32) = (640, 480);

    fn open() -> TrackSettings {
        let filters = ObjectFilters::new(crate::filters::Filter { min_score: 0.0, ..Default::default() });
        TrackSettings { objects: Arc::new(filters), ..TrackSettings::default() }
    }

    #[test]
    fn moving_objects_keep_their_ids_and_new_ones_get_new_ids() {
        let mut tracker = Tracker::new(&open(), "door");
        let mut ids = Vec::new();
        for frame in 0..60 {
            let step = frame as f32 * 6.0;
            let mut frame_detections =
                vec![detection(0, 10.0 + step, 10.0, 0.9), detection(1, 400.0 - step, 200.0, 0.8)];
            tracker.update(&mut frame_detections, SIZE);
            ids.push((frame_detections[0].track_id, frame_detections[1].track_id));
        }
        let (first, second) = ids[0];
        assert!(first.is_some() && second.is_some() && first != second, "{:?}", ids[0]);
        assert!(ids.iter().all(|pair| *pair == (first, second)), "ids changed: {ids:?}");
        let mut third = vec![detection(2, 300.0, 400.0, 0.95)];
        tracker.update(&mut third, SIZE);
        assert!(third[0].track_id.is_some_and(|id| Some(id) != first && Some(id) != second));
    }

    #[test]
    fn an_object_hidden_for_a_few_frames_keeps_its_id() {
        let mut tracker = Tracker::new(&open(), "door");
        let mut before = vec![];
        for frame in 0..10 {
            before = vec![detection(0, 100.0 + frame as f32 * 2.0, 100.0, 0.9)];
            tracker.update(&mut before, SIZE);
        }
        for _ in 0..5 {
            tracker.update(&mut [], SIZE);
        }
        let mut after = vec![detection(0, 130.0, 100.0, 0.9)];
        tracker.update(&mut after, SIZE);
        assert_eq!(after[0].track_id, before[0].track_id);
    }

    #[test]
    fn weak_detections_do_not_start_tracks() {
        let mut tracker = Tracker::new(&TrackSettings { high: 0.5, new_track: 0.6, ..open() }, "door");
        let mut weak = vec![detection(0, 100.0, 100.0, 0.3)];
        for _ in 0..5 {
            tracker.update(&mut weak, SIZE);
            assert_eq!(weak[0].track_id, None);
        }
    }

    #[test]
    fn a_flickering_label_never_extends_another_labels_track() {
        // One object, its label flickering between two classes with near-equal scores.
        let mut tracker = Tracker::new(&open(), "yard");
        let mut ids: BTreeMap<u32, std::collections::BTreeSet<u64>> = BTreeMap::new();
        for frame in 0..40u32 {
            let class = if (frame / 3) % 2 == 0 { 0 } else { 1 };
            let mut found = vec![detection(class, 200.0 + frame as f32, 150.0, 0.6)];
            tracker.update(&mut found, SIZE);
            ids.entry(class).or_default().insert(found[0].track_id.expect("tracked"));
        }
        assert_eq!(ids[&0].len(), 1, "each label keeps one track: {ids:?}");
        assert_eq!(ids[&1].len(), 1, "{ids:?}");
        assert_ne!(ids[&0], ids[&1], "and the two labels never share one");
    }

    #[test]
    fn a_connection_tracks_every_label_it_meets_not_only_its_first_256() {
        // 600 labels, each seen in one frame: a tracker goes once its tracks are let go, so
        // the 257th label and every later one is tracked.
        let mut tracker = Tracker::new(&open(), "door");
        for class in 0..600u32 {
            let mut found = vec![detection(class, 100.0, 100.0, 0.9)];
            tracker.update(&mut found, SIZE);
            assert!(found[0].track_id.is_some(), "label {class} not tracked");
            assert!(tracker.labels() <= 32, "idle trackers are let go: {}", tracker.labels());
        }
        // 300 labels in one frame: 256 trackers; the other 44 take the places of the labels
        // seen longest ago in the next frame.
        let mut crowd: Vec<ReplyDetection> =
            (1000..1300u32).map(|c| detection(c, (c % 20) as f32 * 30.0, (c / 20 % 15) as f32 * 30.0, 0.9)).collect();
        tracker.update(&mut crowd, SIZE);
        assert_eq!(crowd.iter().filter(|d| d.track_id.is_some()).count(), MAX_LABELS);
        assert_eq!(tracker.labels(), MAX_LABELS);
        let mut rest: Vec<ReplyDetection> = crowd.iter().filter(|d| d.track_id.is_none()).cloned().collect();
        tracker.update(&mut rest, SIZE);
        assert!(rest.iter().all(|d| d.track_id.is_some()), "the labels left out are tracked now");
        assert_eq!(tracker.labels(), MAX_LABELS);
    }

    #[test]
    fn filtered_detections_are_not_tracked() {
        let mut filters = ObjectFilters::default();
        filters.track(["class 0".to_owned()]);
        let mut tracker =
            Tracker::new(&TrackSettings { objects: Arc::new(filters), ..TrackSettings::default() }, "door");
        let mut found =
            vec![detection(0, 10.0, 10.0, 0.9), detection(0, 300.0, 10.0, 0.4), detection(1, 100.0, 300.0, 0.9)];
        tracker.update(&mut found, SIZE);
        let tracked: Vec<bool> = found.iter().map(|d| d.track_id.is_some()).collect();
        assert_eq!(tracked, [true, false, false], "below min_score 0.5, and a label not tracked");
    }
}
