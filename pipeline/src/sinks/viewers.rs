//! The web view's streams: the annotated frame as JPEG for whoever watches `/stream/{id}`. A frame
//! nobody watches is not encoded.

use super::{Processed, Sink};
use bytes::Bytes;
use nvt_capture::jpeg;
use opencv::prelude::MatTraitConst;

/// Hands each processed frame to the feed's web viewers.
pub struct ViewerSink;

/// JPEG quality of the frames the web view streams.
const VIEW_QUALITY: i32 = 80;

impl Sink for ViewerSink {
    fn frame(&self, frame: &Processed<'_>) {
        // A frame not decoded whole (a viewer came while it was planned) waits for the next.
        if frame.feed.view.receiver_count() == 0 || frame.annotated.empty() {
            return;
        }
        match jpeg::encode(frame.annotated, VIEW_QUALITY) {
            Ok(bytes) => {
                frame.feed.view.send_replace(Some(Bytes::from(bytes)));
            }
            Err(error) => tracing::warn!(%error, "cannot encode a frame for the web view"),
        }
    }
}
