//! At most one log line per interval for a repeated warning: a peer that sends a thousand bad
//! frames, or a flood of refused connections, costs a line a second, not a thousand.

use std::time::{Duration, Instant};

/// Lets one warning through per interval and counts the ones it held back.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// One warning per `every`.
    pub fn new(every: Duration) -> Self {
        Self { every, last: None, held_back: 0 }
    }

    /// Whether to log now: `Some(held)` when it may, where `held` counts the lines held back
    /// since the last one, when any were (a log field that is absent when there were none:
    /// tracing leaves out a field whose value is `None`).
    pub fn allow(&mut self, now: Instant) -> Option<Option<u64>> {
        if self.last.is_some_and(|last| now.saturating_duration_since(last) < self.every) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(Some(std::mem::take(&mut self.held_back)).filter(|&n| n > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(Duration::from_secs(1));
        assert_eq!(throttle.allow(t0), Some(None), "none held back: no count");
        for ms in [1, 200, 999] {
            assert_eq!(throttle.allow(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(throttle.allow(t0 + Duration::from_millis(1000)), Some(Some(3)));
        assert_eq!(throttle.allow(t0 + Duration::from_millis(1001)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_millis(5000)), Some(Some(1)));
    }
}
