//! `--show`: the annotated frame in the feed's window.

use super::{Processed, Sink};
use opencv::prelude::*;

/// Puts each processed frame in its feed's window, when it has one.
pub struct WindowSink;

impl Sink for WindowSink {
    fn frame(&self, frame: &Processed<'_>) {
        if let Some(window) = &frame.feed.window {
            match frame.annotated.try_clone() {
                Ok(image) => {
                    window.put(image);
                }
                Err(error) => tracing::warn!(%error, "cannot copy a frame for the window"),
            }
        }
    }
}
