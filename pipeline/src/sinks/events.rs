//! Objects and events: each processed frame's tracked detections go to the events hub, which
//! makes the events and hands them to the events file, the snapshots folder, MQTT and the web
//! view. A camera counts for MQTT from its first processed frame (a connection that sends none,
//! a port probe, makes nothing); a feed leaving ends its objects, and a frame of it that
//! finishes later makes none.

use super::{Processed, Sink};
use crate::feed::Feed;
use nvt_events::Hub;
use std::sync::Arc;

/// Hands each processed frame's detections to the events hub.
pub struct EventSink(pub Arc<Hub>);

impl Sink for EventSink {
    fn frame(&self, frame: &Processed<'_>) {
        let (hub, detections) = (&self.0, &frame.record.detections);
        frame.feed.while_open(|| hub.frame(&frame.feed.camera, hub.now(), detections, frame.image));
    }

    fn left(&self, feed: &Feed) {
        self.0.camera_left(&feed.camera, self.0.now());
    }
}
