//! What to send when the server asks for a frame.
//!
//! The server's freshness check counts from the moment it sends its timestamp, so the answer
//! must leave soon after the timestamp arrives, whatever the camera's rate. The outbox answers at
//! once with the newest captured frame not yet sent; when none is ready it waits for the next one
//! only for a short budget, well under the 80 ms limit, and then sends the last frame's bytes
//! again (a *repeat*, never re-encoded). A 1 fps camera thus keeps every frame fresh, and an
//! nvt-server, which recognises repeats and learns the camera's interval, rarely needs one. How
//! long it may wait is [`crate::fit`]'s to say: under a server that counts the link in its
//! limit, slow uploads leave less.

use crate::capture::Encoded;
use nvt_capture::slot::Slot;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait for a new frame after a timestamp arrives, before the last one is repeated:
/// well inside the 80 ms any server allows a timestamp to wait.
pub const REPEAT_BUDGET: Duration = Duration::from_millis(30);

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
}

impl<'a> Outbox<'a> {
    /// An outbox over the capture thread's slot, with nothing sent yet.
    pub fn new(frames: &'a Slot<Encoded>) -> Self {
        Self { frames, last: None }
    }

    /// The last frame sent.
    pub fn last(&self) -> Option<&Arc<Encoded>> {
        self.last.as_ref()
    }

    /// The frame to send for the timestamp that has just arrived, waiting at most `budget` for
    /// a new one before repeating the last.
    pub async fn pick(&mut self, budget: Duration) -> Pick {
        let fresh = match self.frames.try_take() {
            Some(frame) => Some(frame),
            None => match &self.last {
                // Nothing sent yet: only the first frame can answer, however long it takes.
                None => self.frames.take_async().await,
                Some(last) => match tokio::time::timeout(budget, self.frames.take_async()).await {
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
        Encoded {
            index,
            jpeg: vec![index as u8; 8],
            rung: 0,
            quality: 100,
            size: (8, 8),
            captured: SystemTime::now(),
            image: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_frame_goes_at_once_and_a_missing_one_is_repeated_after_the_budget() {
        let slot = Slot::new();
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        let Pick::New(first) = outbox.pick(REPEAT_BUDGET).await else { panic!("the ready frame") };
        assert_eq!(first.index, 1);
        let started = tokio::time::Instant::now();
        let Pick::Repeat(again) = outbox.pick(REPEAT_BUDGET).await else { panic!("a repeat") };
        assert!(Arc::ptr_eq(&first, &again), "the same bytes, not a new encoding");
        assert_eq!(started.elapsed(), REPEAT_BUDGET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_that_arrives_within_the_budget_is_sent_instead_of_a_repeat() {
        let slot = Arc::new(Slot::new());
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        assert!(matches!(outbox.pick(REPEAT_BUDGET).await, Pick::New(_)));
        let producer = Arc::clone(&slot);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            producer.put(frame(2));
        });
        let Pick::New(second) = outbox.pick(REPEAT_BUDGET).await else { panic!("the new frame") };
        assert_eq!(second.index, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_newest_frame_wins_and_a_closed_source_ends() {
        let slot = Slot::new();
        let mut outbox = Outbox::new(&slot);
        slot.put(frame(1));
        slot.put(frame(2));
        slot.close();
        let Pick::New(newest) = outbox.pick(REPEAT_BUDGET).await else { panic!("a frame") };
        assert_eq!(newest.index, 2);
        assert!(matches!(outbox.pick(REPEAT_BUDGET).await, Pick::Closed));
    }
}
