//! What to send when the server asks for a frame.
//!
//! The server's freshness check counts from the moment it sends its timestamp, so the answer
//! must leave soon after the timestamp arrives, whatever the camera's rate. The outbox answers at
//! once with the newest captured frame not yet sent; when none is ready it waits for the next one
//! only for a short budget, well under the 80 ms limit, and then sends the last frame's bytes
//! again (a *repeat*, never re-encoded). A 1 fps camera thus keeps every frame fresh, and an
//! nvt-server, which recognises repeats and learns the camera's interval, rarely needs one.

use crate::capture::Encoded;
use nvt_capture::slot::Slot;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait for a new frame after a timestamp arrives, before the last one is repeated.
/// With the upload it must stay well inside the original server's 0.08 s freshness limit.
pub const REPEAT_BUDGET: Duration = Duration::from_millis(30);

/// The shortest budget, however slow the uploads are.
const MIN_BUDGET: Duration = Duration::from_millis(5);

/// The freshness limit the budget and the upload must fit in together, with room to spare.
const FRESHNESS_SHARE: Duration = Duration::from_millis(50);

/// The frame chosen for one exchange.
pub enum Pick {
    /// A frame not sent before.
    New(Arc<Encoded>),
    /// The last frame again, byte for byte.
    Repeat(Arc<Encoded>),
    /// The source has ended and everything captured has been sent.
    Closed,
}

/// Chooses each exchange's frame from the capture slot.
pub struct Outbox<'a> {
    frames: &'a Slot<Encoded>,
    last: Option<Arc<Encoded>>,
    /// A running estimate of how long a frame takes from our write to the server's verdict.
    upload: Duration,
}

impl<'a> Outbox<'a> {
    /// An outbox over the capture thread's slot, with nothing sent yet.
    pub fn new(frames: &'a Slot<Encoded>) -> Self {
        Self { frames, last: None, upload: Duration::ZERO }
    }

    /// How long to wait for a new frame before repeating: [`REPEAT_BUDGET`], less what slow
    /// uploads need of the freshness limit.
    pub fn budget(&self) -> Duration {
        FRESHNESS_SHARE.saturating_sub(self.upload).clamp(MIN_BUDGET, REPEAT_BUDGET)
    }

    /// Learns from one exchange's round trip how long uploads take.
    pub fn exchanged(&mut self, round_trip: Duration) {
        self.upload = self.upload.mul_f64(0.75) + round_trip.mul_f64(0.25);
    }

    /// The frame to send for the timestamp that has just arrived.
    pub async fn pick(&mut self) -> Pick {
        let fresh = match self.frames.try_take() {
            Some(frame) => Some(frame),
            None => match &self.last {
                // Nothing sent yet: only the first frame can answer, however long it takes.
                None => self.frames.take_async().await,
                Some(last) => match tokio::time::timeout(self.budget(), self.frames.take_async()).await {
                    Ok(frame) => frame,
                    Err(_) => return Pick::Repeat(Arc::clone(last)),
                },
            },
        };
        match fresh {
            Some(frame) => {
                let frame = Arc::new(frame);
                self.last = Some(Arc::clone(&frame));
                Pick::New(frame)
            }
            None => Pick::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn frame(index: u64) -> Encoded {
        Encoded { index, jpeg: vec![index as u8; 8], captured: SystemTime::now(), image: None }
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_frame_goes_at_once_and_a_missing_one_is_repeated_after_the_budget() {
        let slot = Slot::new();
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        let Pick::New(first) = outbox.pick().await else { panic!("the ready frame") };
        assert_eq!(first.index, 1);
        let started = tokio::time::Instant::now();
        let Pick::Repeat(again) = outbox.pick().await else { panic!("a repeat") };
        assert!(Arc::ptr_eq(&first, &again), "the same bytes, not a new encoding");
        assert_eq!(started.elapsed(), REPEAT_BUDGET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_that_arrives_within_the_budget_is_sent_instead_of_a_repeat() {
        let slot = Arc::new(Slot::new());
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        assert!(matches!(outbox.pick().await, Pick::New(_)));
        let producer = Arc::clone(&slot);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            producer.put(frame(2));
        });
        let Pick::New(second) = outbox.pick().await else { panic!("the new frame") };
        assert_eq!(second.index, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_newest_frame_wins_and_a_closed_source_ends() {
        let slot = Slot::new();
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        slot.put(frame(2));
        slot.close();
        let Pick::New(newest) = outbox.pick().await else { panic!("a frame") };
        assert_eq!(newest.index, 2);
        assert!(matches!(outbox.pick().await, Pick::Closed));
    }

    #[test]
    fn slow_uploads_shorten_the_budget_but_never_below_the_floor() {
        let slot = Slot::new();
        let mut outbox = Outbox::new(&slot);
        assert_eq!(outbox.budget(), REPEAT_BUDGET);
        for _ in 0..40 {
            outbox.exchanged(Duration::from_millis(30));
        }
        let budget = outbox.budget();
        assert!(budget < Duration::from_millis(21) && budget > Duration::from_millis(19), "{budget:?}");
        for _ in 0..40 {
            outbox.exchanged(Duration::from_millis(200));
        }
        assert_eq!(outbox.budget(), MIN_BUDGET);
    }
}
