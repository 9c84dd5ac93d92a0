//! Capped exponential backoff with full jitter, so that many clients of a restarted server do
//! not all come back in the same instant.

use std::time::Duration;

/// Delays between reconnection attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `first` and doubles up to `cap`.
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self { first, cap: cap.max(first), attempt: 0 }
    }

    /// The next delay: uniformly random between half and all of the current step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.first.saturating_mul(1u32 << self.attempt.min(16)).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        step.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// Back to the first step, after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays[9] >= Duration::from_secs(1), "capped steps stay near the cap");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| a.next_delay()).collect();
        assert!(delays.len() > 10);
    }
}
