//! Telling a repeat from a new frame. A client with no newer frame when a timestamp arrives sends
//! its last one again, byte for byte, to keep the handshake fresh: that copy is answered from
//! the first copy's results and costs no decode and no detection. Only when the first copy was
//! not taken (it came back stale, or was refused) is a repeat processed like a new frame.

use bytes::Bytes;

/// What a frame's bytes are, next to the frame before on the same connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Bytes not seen just before.
    New,
    /// The previous frame's bytes again; `taken` when that frame was taken for processing.
    Repeat {
        /// The first copy was accepted and handed on: nothing more to do.
        taken: bool,
    },
}

/// The previous frame on a connection.
#[derive(Debug, Default)]
pub struct LastFrame {
    bytes: Option<Bytes>,
    taken: bool,
}

impl LastFrame {
    /// Whether `payload` repeats the previous frame.
    pub fn classify(&self, payload: &Bytes) -> Sent {
        match &self.bytes {
            Some(bytes) if bytes == payload => Sent::Repeat { taken: self.taken },
            _ => Sent::New,
        }
    }

    /// Remembers the frame just answered, and whether it was taken for processing.
    pub fn remember(&mut self, payload: Bytes, taken: bool) {
        self.bytes = Some(payload);
        self.taken = taken;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_of_a_taken_frame_needs_no_work_and_one_of_a_stale_frame_does() {
        let mut last = LastFrame::default();
        let (a, b) = (Bytes::from_static(b"\xFF\xD8 frame a"), Bytes::from_static(b"\xFF\xD8 frame b"));
        assert_eq!(last.classify(&a), Sent::New);
        last.remember(a.clone(), true);
        assert_eq!(last.classify(&Bytes::copy_from_slice(&a)), Sent::Repeat { taken: true }, "by content");
        assert_eq!(last.classify(&b), Sent::New);
        last.remember(b.clone(), false);
        assert_eq!(last.classify(&b), Sent::Repeat { taken: false }, "the first copy came back stale");
        assert_eq!(last.classify(&a), Sent::New, "only the frame just before counts");
    }
}
