//! A camera's recent frames, as the JPEG bytes that arrived (shared, never copied): the last
//! few seconds for the pre-roll, and whatever a clip being written has not taken yet. Bounded
//! in bytes: past the bound the oldest frames go, counted as lost if a clip still wanted them.

use bytes::Bytes;
use std::collections::VecDeque;

/// One frame as it arrived.
#[derive(Debug, Clone)]
pub struct Frame {
    /// When it arrived, in the events' clock (Unix seconds).
    pub time: f64,
    /// Its JPEG bytes.
    pub jpeg: Bytes,
}

/// One camera's recent frames, oldest first.
#[derive(Debug, Default)]
pub struct Ring {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// Frames at or after this time are still wanted by a clip being written.
    pub wanted_from: Option<f64>,
    /// Frames a clip wanted that the byte bound pushed out.
    pub lost: u64,
}

impl Ring {
    /// Adds a frame; frames older than `keep` seconds before it go unless a clip still wants
    /// them, and the oldest go while the ring holds more than `max_bytes`.
    pub fn push(&mut self, frame: Frame, keep: f64, max_bytes: usize) {
        let horizon = frame.time - keep;
        self.bytes += frame.jpeg.len();
        self.frames.push_back(frame);
        while let Some(oldest) = self.frames.front() {
            let wanted = self.wanted_from.is_some_and(|from| oldest.time >= from);
            let expired = oldest.time < horizon && !wanted;
            let over = self.bytes > max_bytes && self.frames.len() > 1;
            if !expired && !over {
                break;
            }
            if wanted {
                self.lost += 1;
            }
            self.bytes -= oldest.jpeg.len();
            self.frames.pop_front();
        }
    }

    /// The frames that arrived after `after` and at or before `until`, in order.
    pub fn between(&self, after: f64, until: f64) -> Vec<Frame> {
        self.frames.iter().filter(|f| f.time > after && f.time <= until).cloned().collect()
    }

    /// When the newest frame arrived.
    pub fn newest(&self) -> Option<f64> {
        self.frames.back().map(|f| f.time)
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(time: f64, size: usize) -> Frame {
        Frame { time, jpeg: Bytes::from(vec![0u8; size]) }
    }

    #[test]
    fn keeps_the_last_seconds_and_what_a_clip_still_wants_within_the_bound() {
        let mut ring = Ring::default();
        for i in 0..50 {
            ring.push(frame(f64::from(i), 10), 10.0, 10_000);
        }
        assert_eq!(ring.len(), 11, "frames from 39 s to 49 s");
        assert_eq!(ring.between(44.5, 47.0).len(), 3);
        ring.wanted_from = Some(40.0);
        for i in 50..100 {
            ring.push(frame(f64::from(i), 10), 10.0, 10_000);
        }
        assert_eq!(ring.between(39.5, 1000.0).len(), 60, "everything from 40 s is kept for the clip");
        ring.push(frame(100.0, 9_500), 10.0, 10_000);
        assert!(ring.bytes() <= 10_000, "{}", ring.bytes());
        assert!(ring.lost > 0, "the clip's frames pushed out are counted");
    }
}
