//! The reply: the latest processed frame's detections become what the client's next exchanges
//! are answered with, and its rates and latencies what the web view shows.

use super::{Processed, Sink};
use nvt_support::sync::lock;
use nvt_transport::ReplyDoc;
use std::time::Instant;

/// Makes each processed frame's detections its client's reply.
pub struct ReplySink;

impl Sink for ReplySink {
    fn frame(&self, frame: &Processed<'_>) {
        let record = frame.record;
        *lock(&frame.client.latest) = ReplyDoc {
            camera: Some(frame.client.camera.clone()),
            seq: record.seq,
            detections: record.detections.clone(),
            omitted: 0,
            link: None,
        };
        let mut recent = frame.client.recent();
        recent.processed(Instant::now(), record.latency_ms);
        recent.model.clone_from(&record.model);
    }
}
