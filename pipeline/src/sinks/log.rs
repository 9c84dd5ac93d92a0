//! `--log`: one JSON Lines record per processed frame.

use super::{Processed, Sink};
use nvt_support::JsonLines;
use std::sync::Arc;

/// Writes each processed frame's record.
pub struct LogSink(pub Arc<JsonLines>);

impl Sink for LogSink {
    fn frame(&self, frame: &Processed<'_>) {
        if let Err(error) = self.0.write(frame.record) {
            tracing::error!(%error, "cannot write the log");
        }
    }
}
