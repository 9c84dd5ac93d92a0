//! The times of one frame's exchange as the server sees them, and what they are made of.
//!
//! ```text
//! asked ──(timestamp travels down)── client waits for a frame ──(first byte travels up)── started ──(upload)── arrived
//!        \______________________________ response _______________________________________/         \__ upload __/
//! ```
//!
//! The response is the link's round trip plus the time the timestamp waited at the client; the
//! upload is the frame's bytes crossing the link. The original freshness check measures all
//! of it at once (`arrived - asked`).

use std::time::{Duration, Instant};

/// When the timestamp went out, and when the frame that answers it began and finished arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// When the timestamp went out.
    pub asked: Instant,
    /// When the first byte of the frame came in.
    pub started: Instant,
    /// When its last byte came in.
    pub arrived: Instant,
}

impl Arrival {
    /// Timestamp out to the frame's first byte in: the round trip plus the client's wait.
    pub fn response(&self) -> Duration {
        self.started.saturating_duration_since(self.asked)
    }

    /// First byte to last: how long the frame took to cross.
    pub fn upload(&self) -> Duration {
        self.arrived.saturating_duration_since(self.started)
    }

    /// Timestamp out to the echo's last byte in: what the original server's check measures.
    pub fn lag(&self) -> Duration {
        self.arrived.saturating_duration_since(self.asked)
    }
}
