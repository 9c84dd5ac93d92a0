//! `/metrics`: the time each stage took and the frame's latency, as histograms, and each
//! camera's processed frames.

use super::{Processed, Sink};
use crate::metrics::Metrics;
use std::sync::Arc;

/// Observes each processed frame's stage times and latency.
pub struct StageMetricsSink(pub Arc<Metrics>);

impl Sink for StageMetricsSink {
    fn frame(&self, frame: &Processed<'_>) {
        let t = &frame.record.timings_ms;
        for (stage, value) in [
            ("decode", t.decode),
            ("preprocess", t.preprocess),
            ("infer", t.infer),
            ("postprocess", t.postprocess),
            ("track", t.track),
        ] {
            self.0.stage_seconds.with_label_values(&[stage]).observe(value / 1000.0);
        }
        self.0.latency_seconds.observe(frame.record.latency_ms / 1000.0);
        frame.feed.while_open(|| self.0.camera_frames.with_label_values(&[&frame.feed.camera]).inc());
    }

    fn left(&self, feed: &crate::feed::Feed) {
        // A camera's series goes with it, so that many short-lived names cannot grow /metrics.
        let _ = self.0.camera_frames.remove_label_values(&[&feed.camera]);
    }
}
