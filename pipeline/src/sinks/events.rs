//! Objects and events: each processed frame's tracked detections go to the events hub, which
//! makes the events and hands them to the events file, the snapshots folder, MQTT and the web
//! view. A camera counts for MQTT from its first processed frame (a connection that sends none,
//! a port probe, makes nothing); a feed leaving ends its objects, and a frame of it that
//! finishes later makes none. Only frames tracked in order reach the hub: a frame that finished
//! after a newer one of its camera (several inference workers, the fleet) has no track ids, and
//! would count as a frame in which every object was missed; and of two frames tracked in order,
//! the older one reaching here second is left out, never applied after the newer.

use super::{Processed, Sink};
use crate::feed::Feed;
use nvt_events::Hub;
use std::sync::Arc;

/// Hands each processed frame's detections to the events hub.
pub struct EventSink(pub Arc<Hub>);

impl Sink for EventSink {
    fn frame(&self, frame: &Processed<'_>) {
        if !frame.tracked {
            return;
        }
        let (hub, detections) = (&self.0, &frame.record.detections);
        // Tracked in order, but two workers may still get here in the other order.
        let seq = frame.record.seq;
        let size = (frame.record.width, frame.record.height);
        frame.feed.in_order(seq, || hub.frame(&frame.feed.camera, hub.now(), size, detections, frame.image));
    }

    fn left(&self, feed: &Feed) {
        self.0.camera_left(&feed.camera, self.0.now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use crate::frame::{finish, Decoded, Output, Results};
    use crate::metrics::Metrics;
    use nvt_capture::Mat;
    use nvt_events::hub::{EventOutput, Outputs};
    use nvt_events::{Event, EventSettings, EventType};
    use nvt_support::sync::lock;
    use nvt_transport::ReplyDetection;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    struct Recorder(Arc<Mutex<Vec<EventType>>>);

    impl EventOutput for Recorder {
        fn event(&self, event: &Event) {
            lock(&self.0).push(event.kind);
        }
    }

    #[test]
    fn frames_that_finish_out_of_order_make_no_events_and_do_not_count_as_misses() {
        // Several inference workers finish a camera's frames out of order: a person at 0.9 in
        // every frame, each new frame followed by two older ones that finished late. The late
        // ones are not tracked; were they handed to the events, the person would read missed in
        // two frames of three and never become an event.
        let made = Arc::new(Mutex::new(Vec::new()));
        let outputs = Outputs { others: vec![Box::new(Recorder(Arc::clone(&made)))], ..Outputs::default() };
        let hub = Arc::new(Hub::new(EventSettings::default(), outputs, true));
        let totals = Arc::new(Counters::default());
        let metrics = Arc::new(Metrics::new(Arc::clone(&totals)));
        let sinks: Vec<Box<dyn crate::sinks::Sink>> = vec![Box::new(EventSink(Arc::clone(&hub)))];
        let output = Output { sinks, metrics, track: nvt_events::TrackSettings::default(), look: None };
        let feed = Feed::new(1, "127.0.0.1:5000".into(), "door".into(), None, totals);
        let image = Mat::new_rows_cols_with_default(48, 64, opencv::core::CV_8UC3, 0.into()).expect("mat");
        let person = ReplyDetection {
            class_id: 0,
            label: "person".into(),
            score: 0.9,
            bbox: [10.0, 10.0, 30.0, 40.0],
            track_id: None,
            carried: false,
            region: None,
        };
        for k in 0..8u64 {
            for seq in [100 + k, 2 * k, 2 * k + 1] {
                let frame = Decoded::whole(seq, image.clone(), Instant::now(), Duration::ZERO, 1.0);
                let results = Results {
                    model: "m".into(),
                    detections: vec![person.clone()],
                    timings: Default::default(),
                    remote: None,
                    look: None,
                    runs: 1,
                };
                finish(&feed, &output, frame, Some(results));
            }
        }
        output.left(&feed);
        hub.stop(Duration::from_secs(1));
        assert_eq!(*lock(&made), [EventType::New, EventType::End], "one life for the person");
    }
}
