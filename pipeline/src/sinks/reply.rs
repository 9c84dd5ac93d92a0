//! The reply: the latest processed frame's detections become what the feed's next exchanges
//! are answered with, and its rates and latencies what the web view shows.

use super::{Processed, Sink};
use nvt_support::sync::lock;
use nvt_transport::ReplyDoc;
use std::time::Instant;

/// Makes each processed frame's detections its feed's reply.
pub struct ReplySink;

impl Sink for ReplySink {
    fn frame(&self, frame: &Processed<'_>) {
        let record = frame.record;
        *lock(&frame.feed.latest) = ReplyDoc {
            camera: Some(frame.feed.camera.clone()),
            seq: record.seq,
            detections: record.detections.clone(),
            omitted: 0,
            link: None,
            looked: record.looked.as_ref().map(|l| l.detector),
        };
        let mut recent = frame.feed.recent();
        recent.processed(Instant::now(), record.latency_ms);
        recent.model.clone_from(&record.model);
    }
}
