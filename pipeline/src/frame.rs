//! A feed's frames after the network: as they arrive ([`Incoming`]), decoded ([`Decoded`]), and
//! finished: the record made and handed to every sink ([`finish`]). With a model, the detector
//! stage takes each feed's newest frame when its turn comes (see [`crate::local`]); without
//! one, the feed's worker decodes it and finishes it at once (see [`crate::stage`]).

use crate::feed::{Feed, Incoming};
use crate::looking::FramePlan;
use crate::metrics::Metrics;
use crate::record::{ms, round2, FrameRecord, Measured};
use crate::sinks::{Processed, Sink};
use nvt_capture::{draw, jpeg, Mat};
use nvt_transport::ReplyDetection;
use opencv::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A decoded frame.
pub struct Decoded {
    /// See [`Incoming::seq`].
    pub seq: u64,
    /// The BGR picture; empty when the frame was not decoded whole (`--detect motion`: the
    /// detector skipped it and nobody watched).
    pub image: Mat,
    /// The picture's width and height, from its header.
    pub size: (u32, u32),
    /// See [`Incoming::arrived`].
    pub arrived: Instant,
    /// See [`Incoming::lag`].
    pub lag: Duration,
    /// Milliseconds spent decoding.
    pub decode_ms: f64,
}

impl Decoded {
    /// A frame decoded whole: its size is its picture's.
    pub fn whole(seq: u64, image: Mat, arrived: Instant, lag: Duration, decode_ms: f64) -> Self {
        let size = (image.cols().max(0) as u32, image.rows().max(0) as u32);
        Self { seq, image, size, arrived, lag, decode_ms }
    }
}

/// Where finished frames go.
pub struct Output {
    /// Every output of processed frames, in the order they get each frame.
    pub sinks: Vec<Box<dyn Sink>>,
    /// The server's metrics, for what the stages count beside the frames (busy time, panics).
    pub metrics: Arc<Metrics>,
    /// The tracker's thresholds.
    pub track: nvt_events::TrackSettings,
    /// Where the detector looks (`--detect motion`); `None`: on every frame, whole.
    pub look: Option<Arc<nvt_motion::LookSettings>>,
}

impl Output {
    /// Tells every sink a feed has connected.
    pub fn joined(&self, feed: &Feed) {
        for sink in &self.sinks {
            sink.joined(feed);
        }
    }

    /// Tells every sink a feed has gone, once no sink is inside [`Feed::while_open`] for it.
    pub fn left(&self, feed: &Feed) {
        feed.close(|| {
            for sink in &self.sinks {
                sink.left(feed);
            }
        });
    }
}

/// The results of detection on one frame.
pub struct Results {
    /// The model's id.
    pub model: String,
    /// Detections, most confident first.
    pub detections: Vec<ReplyDetection>,
    /// Preprocess, inference and postprocess milliseconds.
    pub timings: nvt_detect::Timings,
    /// Where it was detected, when a fleet worker did it.
    pub remote: Option<crate::record::RemoteRecord>,
    /// Where the detector looked, with `--detect motion`: its plan, with the detections it
    /// carries over.
    pub look: Option<FramePlan>,
    /// How many times the detector ran for the frame (0 when every detection was carried).
    pub runs: u64,
}

/// Decodes a frame's JPEG (its header was checked on arrival); a failure is counted and logged,
/// and costs only this frame.
pub fn decode(feed: &Feed, frame: Incoming, max_pixels: u64) -> Option<Decoded> {
    let started = Instant::now();
    match jpeg::decode(&frame.payload, max_pixels) {
        Ok(image) => Some(Decoded::whole(frame.seq, image, frame.arrived, frame.lag, ms(started.elapsed()))),
        Err(error) => {
            feed.bump(|c| &c.decode_errors);
            if let Some(held_back) = feed.may_warn() {
                tracing::warn!(peer = %feed.peer, seq = frame.seq, %error, held_back_since_last = held_back, "frame refused: cannot decode");
            }
            None
        }
    }
}

/// Tracks a processed frame's detections, makes its record, draws its boxes when anyone watches,
/// and hands it to every sink: the reply, the metrics, the events, the web view, the log, the
/// window.
pub fn finish(feed: &Feed, output: &Output, frame: Decoded, results: Option<Results>) {
    let (model, mut detections, detect, remote, mut look) = match results {
        Some(r) => {
            for _ in 0..r.runs {
                feed.bump(|c| &c.detector_runs);
            }
            (Some(r.model), r.detections, r.timings, r.remote, r.look)
        }
        None => (None, Vec::new(), nvt_detect::Timings::default(), None, None),
    };
    if let Some(plan) = look.as_mut() {
        feed.carry(plan);
        plan.place(&mut detections);
        if plan.looked == nvt_transport::Looked::None {
            feed.bump(|c| &c.carried);
        }
    }
    let size = frame.size;
    let tracked = if model.is_some() { feed.track(&output.track, frame.seq, &mut detections, size) } else { None };
    if let (Some(plan), Some(_)) = (&look, tracked) {
        feed.learn(plan, &detections);
    }
    let track_ms = tracked.unwrap_or(0.0);
    let measured = Measured { decode_ms: frame.decode_ms, detect, since: frame.arrived, lag: Some(frame.lag) };
    let mut record = FrameRecord::new(&frame.image, feed.peer.clone(), frame.seq, model, measured, detections);
    // A frame not decoded whole has its size from its header, and no stamp read.
    (record.width, record.height) = size;
    record.camera = Some(feed.camera.clone());
    record.timings_ms.track = round2(track_ms);
    record.looked = look.as_ref().map(FramePlan::record);
    record.remote = remote.map(|r| crate::record::RemoteRecord {
        round_trip_ms: round2(r.round_trip_ms),
        worker_ms: round2(r.worker_ms),
        deadline_ms: round2(r.deadline_ms),
        ..r
    });
    let annotated =
        if feed.watched() && !frame.image.empty() { annotate(&frame.image, &record.detections) } else { None };
    let image = Arc::new(frame.image);
    let annotated = annotated.as_ref().unwrap_or(&image);
    let processed = Processed { feed, record: &record, image: &image, annotated, tracked: tracked.is_some() };
    for sink in &output.sinks {
        sink.frame(&processed);
    }
    feed.bump(|c| &c.processed);
}

/// A copy of `image` with every detection's box and label (`#id` after the label when tracked).
fn annotate(image: &Mat, detections: &[ReplyDetection]) -> Option<Mat> {
    let mut copy = image.try_clone().map_err(|error| tracing::warn!(%error, "cannot copy a frame to draw on")).ok()?;
    for d in detections {
        let label = match d.track_id {
            Some(id) => format!("{} #{id}", d.label),
            None => d.label.clone(),
        };
        if let Err(error) = draw::draw_box(&mut copy, d.bbox, d.class_id as usize, &label, d.score) {
            tracing::warn!(%error, "cannot draw a box");
        }
    }
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use nvt_support::sync::lock;
    use std::sync::Mutex;

    /// A sink that writes down what it was given.
    struct Recording(Arc<Mutex<Vec<(String, u64, usize)>>>, &'static str);

    impl Sink for Recording {
        fn frame(&self, frame: &Processed<'_>) {
            lock(&self.0).push((self.1.to_owned(), frame.record.seq, frame.record.detections.len()));
        }
    }

    #[test]
    fn every_sink_gets_every_processed_frame_in_the_order_they_were_assembled() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let totals = Arc::new(Counters::default());
        let metrics = Arc::new(Metrics::new(Arc::clone(&totals)));
        let sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(crate::sinks::ReplySink),
            Box::new(Recording(Arc::clone(&seen), "first")),
            Box::new(Recording(Arc::clone(&seen), "second")),
        ];
        let output = Output { sinks, metrics, track: nvt_events::TrackSettings::default(), look: None };
        let feed = Feed::new(1, "127.0.0.1:5000".into(), "127.0.0.1".into(), None, Arc::clone(&totals));
        let image = Mat::new_rows_cols_with_default(48, 64, opencv::core::CV_8UC3, 0.into()).expect("mat");
        let detection = ReplyDetection {
            class_id: 2,
            label: "blue triangle".into(),
            score: 0.9,
            bbox: [1.0, 2.0, 3.0, 4.0],
            track_id: None,
            carried: false,
            region: None,
        };
        for seq in [7, 8] {
            let frame = Decoded::whole(seq, image.clone(), Instant::now(), Duration::ZERO, 1.0);
            let results = Results {
                model: "m".into(),
                detections: vec![detection.clone()],
                timings: Default::default(),
                remote: None,
                look: None,
                runs: 1,
            };
            finish(&feed, &output, frame, Some(results));
        }
        let order: Vec<_> = lock(&seen).clone();
        let expected = [("first", 7), ("second", 7), ("first", 8), ("second", 8)];
        assert_eq!(order.iter().map(|(n, s, _)| (n.as_str(), *s)).collect::<Vec<_>>(), expected);
        assert!(order.iter().all(|(_, _, n)| *n == 1));
        assert_eq!(lock(&feed.latest).seq, 8, "the reply sink made the newest frame the reply");
        assert_eq!(feed.counters.snapshot().processed, 2);
    }
}
