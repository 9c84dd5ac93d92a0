//! Live numbers of the exchange loop: a one-line status on a terminal, a log line otherwise.

use std::io::Write;
use std::time::{Duration, Instant};

/// Counts over the current reporting window and since start.
#[derive(Debug)]
pub struct Status {
    window_start: Instant,
    sent: u64,
    accepted: u64,
    stale: u64,
    rtts: Vec<f64>,
    terminal: bool,
    every: Duration,
}

impl Status {
    /// Reports every `every`, as a rewritten terminal line when `terminal` is true.
    pub fn new(terminal: bool, every: Duration) -> Self {
        Self { window_start: Instant::now(), sent: 0, accepted: 0, stale: 0, rtts: Vec::new(), terminal, every }
    }

    /// Records one exchange.
    pub fn exchange(&mut self, accepted: bool, rtt: Duration) {
        self.sent += 1;
        if accepted {
            self.accepted += 1;
        } else {
            self.stale += 1;
        }
        self.rtts.push(rtt.as_secs_f64() * 1000.0);
        if self.window_start.elapsed() >= self.every {
            self.report();
        }
    }

    /// Writes the report for the window so far and starts a new window.
    pub fn report(&mut self) {
        let secs = self.window_start.elapsed().as_secs_f64().max(1e-9);
        self.rtts.sort_by(f64::total_cmp);
        let rtt_p50 = self.rtts.get(self.rtts.len() / 2).copied().unwrap_or(0.0);
        let stale_pct = if self.sent == 0 { 0.0 } else { 100.0 * self.stale as f64 / self.sent as f64 };
        let (fps_sent, fps_accepted) = (self.sent as f64 / secs, self.accepted as f64 / secs);
        if self.terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2Ksent {fps_sent:5.1} fps | accepted {fps_accepted:5.1} fps | stale {stale_pct:4.1}% | rtt p50 {rtt_p50:5.1} ms"
            );
            let _ = err.flush();
        } else {
            tracing::info!(
                fps_sent = format!("{fps_sent:.1}"),
                fps_accepted = format!("{fps_accepted:.1}"),
                stale_pct = format!("{stale_pct:.1}"),
                rtt_p50_ms = format!("{rtt_p50:.1}"),
                "status"
            );
        }
        *self = Self::new(self.terminal, self.every);
    }

    /// Ends the status line so that later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.terminal {
            eprintln!();
        }
    }
}
