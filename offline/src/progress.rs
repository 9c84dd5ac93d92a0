//! Progress through a long input for `nvt-detect`: a bar on a terminal (frames done of total,
//! frames per second, time left), and a plain log line every few seconds when standard error is
//! not a terminal, so that a job under a scheduler or in CI still shows it is moving.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress through one input.
pub struct Progress {
    shown: Shown,
    done: u64,
    total: Option<u64>,
    started: Instant,
}

enum Shown {
    Bar(ProgressBar),
    Lines { input: String, every: Duration, last: Instant },
}

impl Progress {
    /// Starts showing progress through `input`, which has `total` frames when that is known.
    /// Without a terminal, a line goes out every `every`.
    pub fn start(input: &str, total: Option<u64>, every: Duration) -> Self {
        let now = Instant::now();
        let shown = if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, {eta} left"
            } else {
                "{msg} {pos} frames, {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(input.to_owned());
            Shown::Bar(bar)
        } else {
            Shown::Lines { input: input.to_owned(), every, last: now }
        };
        Self { shown, done: 0, total, started: now }
    }

    /// One more frame done.
    pub fn frame(&mut self) {
        self.done += 1;
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_position(self.done),
            Shown::Lines { input, every, last } => {
                if last.elapsed() >= *every {
                    *last = Instant::now();
                    let (fps, left) = rate_and_left(self.done, self.total, self.started.elapsed());
                    tracing::info!(
                        input = %input,
                        done = self.done,
                        total = self.total,
                        fps = format!("{fps:.1}"),
                        left_s = left.map(|d| format!("{:.0}", d.as_secs_f64())),
                        "progress"
                    );
                }
            }
        }
    }

    /// Clears the bar; the caller reports the outcome.
    pub fn finish(self) {
        if let Shown::Bar(bar) = self.shown {
            bar.finish_and_clear();
        }
    }
}

/// Frames per second so far, and the time left at that rate when the total is known.
pub fn rate_and_left(done: u64, total: Option<u64>, elapsed: Duration) -> (f64, Option<Duration>) {
    let fps = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let left = total.filter(|_| fps > 0.0).map(|t| Duration::from_secs_f64(t.saturating_sub(done) as f64 / fps));
    (fps, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_time_left() {
        let (fps, left) = rate_and_left(50, Some(200), Duration::from_secs(10));
        assert_eq!(fps, 5.0);
        assert_eq!(left, Some(Duration::from_secs(30)));
        assert_eq!(rate_and_left(0, Some(10), Duration::from_secs(1)).1, None, "no rate yet, no estimate");
        assert_eq!(rate_and_left(5, None, Duration::from_secs(1)).1, None);
        assert_eq!(rate_and_left(300, Some(200), Duration::from_secs(1)).1, Some(Duration::ZERO), "a short count");
    }
}
