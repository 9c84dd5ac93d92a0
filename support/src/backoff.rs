//! A log line about a condition that lasts (a broker without JetStream, a store that is not
//! there yet): said at once, then again at growing intervals, with how many times it was held
//! back, so that a process left waiting for a day writes a handful of lines, not 86 400.

use std::time::{Duration, Instant};

/// Lets the first line through, then one after `first`, then after twice that, and so on up to
/// `most` between two lines; counts the lines it held back.
#[derive(Debug, Clone)]
pub struct LogBackoff {
    first: Duration,
    most: Duration,
    next: Option<Instant>,
    gap: Duration,
    held_back: u64,
}

impl LogBackoff {
    /// Says it at once, then after `first`, doubling the gap each time up to `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        Self { first, most, next: None, gap: first, held_back: 0 }
    }

    /// Whether to log now: `Some(held)` when it may, where `held` counts the lines held back
    /// since the last one, when any were (`None` otherwise, so that tracing leaves the field
    /// out).
    pub fn allow(&mut self, now: Instant) -> Option<Option<u64>> {
        if self.next.is_some_and(|next| now < next) {
            self.held_back += 1;
            return None;
        }
        if self.next.is_some() {
            self.gap = (self.gap * 2).min(self.most);
        }
        self.next = Some(now + self.gap);
        Some(Some(std::mem::take(&mut self.held_back)).filter(|&n| n > 0))
    }

    /// The condition ended: the next time it comes, it is said at once again.
    pub fn reset(&mut self) {
        *self = Self::new(self.first, self.most);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_then_at_doubling_intervals_with_the_count_held_back() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut backoff = LogBackoff::new(Duration::from_secs(1), Duration::from_secs(8));
        // Asked every second for a minute: said at 0, 1, 3, 7, 15, 23, ... (gaps 1, 2, 4, 8, 8).
        let said: Vec<(u64, Option<u64>)> =
            (0..60).filter_map(|s| backoff.allow(at(s)).map(|held| (s, held))).collect();
        assert_eq!(&said[..5], &[(0, None), (1, None), (3, Some(1)), (7, Some(3)), (15, Some(7))]);
        assert!(said[5..].iter().all(|&(_, held)| held == Some(7)), "{said:?}");
        assert_eq!(said.len(), 5 + (59 - 15) / 8);
    }

    #[test]
    fn a_reset_says_it_at_once_again() {
        let t0 = Instant::now();
        let mut backoff = LogBackoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(backoff.allow(t0).is_some());
        assert!(backoff.allow(t0 + Duration::from_millis(10)).is_none());
        backoff.reset();
        assert_eq!(backoff.allow(t0 + Duration::from_millis(20)), Some(None));
    }
}
