//! When the server sends its next timestamp.
//!
//! A client whose camera is slower than the freshness limit keeps the handshake fresh by sending
//! its last frame again (a *repeat*) when no new one is ready soon after a timestamp arrives. An
//! original-style server asks again at once, so a 1 fps camera would send each frame some twenty
//! times. The [`Pacer`] learns the client's frame interval from the arrivals of its distinct frames
//! and holds the next timestamp back until just before the next frame is due, so that each frame
//! crosses the wire about once. Pure arithmetic on instants passed in: the connection reads the
//! clock, this decides.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The longest the server holds a timestamp back: well inside any sensible read timeout of the
/// client (nvt-client's default is 10 s), and longer than a 0.5 frames/s camera's interval.
pub const MAX_HOLD: Duration = Duration::from_secs(4);

/// How many recent exchanges the response-time baseline looks at.
const BASELINE_WINDOW: usize = 64;

/// How much longer than the quickest recent response a response must take to show that the
/// client waited for its frame after the timestamp arrived.
const WAITED: Duration = Duration::from_millis(2);

/// The first pause after a repeat while the interval is still unknown; it doubles with each
/// repeat in a row, up to [`BOOTSTRAP_PAUSE_CAP`].
const BOOTSTRAP_PAUSE: Duration = Duration::from_millis(10);
const BOOTSTRAP_PAUSE_CAP: Duration = Duration::from_millis(160);

/// The times of one frame's exchange, as the server saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// When the timestamp went out.
    pub asked: Instant,
    /// When the first byte of the frame came in.
    pub started: Instant,
    /// When its last byte came in.
    pub arrived: Instant,
}

/// Learns one connection's frame interval and says when to ask for the next frame.
///
/// A frame the client had to wait for after the timestamp arrived starts coming in as soon as
/// the camera delivers it: between two such frames, the time from one first byte to the next is
/// the camera's interval, whatever the uploads take. A frame that was already waiting when the
/// timestamp came shows only that the pacer asked late; it then asks earlier, by twice as much
/// each time in a row, until the client waits again. A client that has to wait longer than its
/// budget sends a repeat, and the pacer then asks again when the frame is due.
#[derive(Debug, Default)]
pub struct Pacer {
    last: Option<Instant>,
    last_waited: bool,
    interval: Option<Duration>,
    responses: VecDeque<Duration>,
    held: Duration,
    late_in_a_row: u32,
    repeats_in_a_row: u32,
}

impl Pacer {
    /// A pacer that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client's frame interval as learned so far.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// How early to ask before the next frame is due: enough for the jitter of a camera or an
    /// encoder, and small enough that the client, told to wait a few times as long, stays well
    /// inside its repeat budget and the freshness limit.
    fn margin(interval: Duration) -> Duration {
        (interval / 8).clamp(Duration::from_millis(2), Duration::from_millis(12))
    }

    /// A frame came in; `repeat` when its bytes were those of the frame before. Returns when to
    /// send the next timestamp: at once or later, at most [`MAX_HOLD`] after the frame arrived.
    pub fn next_timestamp(&mut self, frame: Arrival, repeat: bool) -> Instant {
        let response = frame.started.saturating_duration_since(frame.asked);
        let at = if repeat { self.after_repeat(frame) } else { self.after_distinct(frame, response) };
        if self.responses.len() == BASELINE_WINDOW {
            self.responses.pop_front();
        }
        self.responses.push_back(response);
        let now = frame.arrived;
        let at = at.min(now + MAX_HOLD).max(now);
        self.held = at - now;
        at
    }

    fn after_distinct(&mut self, frame: Arrival, response: Duration) -> Instant {
        let baseline = self.responses.iter().min().copied();
        // Asked again at once after a repeat, a frame that was waiting came after that repeat
        // left: its arrival is as good as one the client waited for.
        let caught = self.repeats_in_a_row > 0 && self.held.is_zero();
        let waited = caught || response > baseline.unwrap_or_default() + WAITED;
        if let Some(last) = self.last {
            let sample = frame.started.saturating_duration_since(last);
            // Up to a frame the client waited for, the sample is the camera's interval, or a little
            // less if the frame before was waiting. From a frame the client waited for to one that
            // was waiting, it is at most the interval. Between two that were waiting it says
            // nothing.
            self.interval = match (self.interval, waited, self.last_waited) {
                (None, _, _) | (_, true, _) => Some(sample),
                (Some(known), false, true) => Some(known.min(sample)),
                (known, false, false) => known,
            };
        }
        // Only a hold after a distinct frame can have made this one wait: after a repeat the
        // pacer asked when the frame was due or already late.
        let late = !waited && !self.held.is_zero() && self.repeats_in_a_row == 0;
        self.late_in_a_row = if late { self.late_in_a_row.saturating_add(1) } else { 0 };
        self.repeats_in_a_row = 0;
        self.last = Some(frame.started);
        self.last_waited = waited;
        let Some(interval) = self.interval else { return frame.arrived };
        let ahead = Self::margin(interval).saturating_mul(1 << self.late_in_a_row.min(16));
        frame.started + interval.saturating_sub(ahead)
    }

    fn after_repeat(&mut self, frame: Arrival) -> Instant {
        let now = frame.arrived;
        self.repeats_in_a_row = self.repeats_in_a_row.saturating_add(1);
        let Some(interval) = self.interval else {
            let doubling = 1u32 << (self.repeats_in_a_row - 1).min(16);
            return now + BOOTSTRAP_PAUSE.saturating_mul(doubling).min(BOOTSTRAP_PAUSE_CAP);
        };
        // The frame is due any moment: ask again at once, so that the client is waiting when it
        // comes and its arrival shows when the camera delivered it. Once it is a quarter of an
        // interval overdue, the source has paused: ask less and less often, down to once an
        // interval.
        let overdue = self.last.map_or(Duration::ZERO, |last| now.saturating_duration_since(last + interval));
        if overdue <= interval / 4 {
            return now;
        }
        let doubling = 1u32 << self.repeats_in_a_row.min(16);
        now + Self::margin(interval).saturating_mul(doubling).min(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// What a simulated run did.
    #[derive(Debug)]
    struct Run {
        frames: u64,
        sent: u64,
        repeats: u64,
        worst_lag: Duration,
    }

    /// Simulates a camera that delivers a frame every `period` (plus up to `jitter`, from a fixed
    /// pseudo-random sequence), a client that answers each timestamp with the newest unsent frame
    /// or, after waiting `budget` for one, repeats the last, an upload of `upload`, and the pacer
    /// deciding when each timestamp goes out. All on a virtual clock.
    fn simulate(period: Duration, jitter: Duration, upload: Duration, seconds: u64) -> Run {
        let budget = ms(30);
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(seconds);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut ready: Vec<Instant> = Vec::new();
        let mut at = t0 + period;
        while at < end {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let extra = jitter.mul_f64((seed % 1000) as f64 / 1000.0);
            ready.push(at + extra);
            at += period;
        }
        let mut pacer = Pacer::new();
        let (mut next_unsent, mut sent, mut repeats, mut worst_lag) = (0usize, 0u64, 0u64, Duration::ZERO);
        let mut any_sent = false;
        let mut ts = t0;
        while ts < end && next_unsent < ready.len() {
            // The newest frame ready by now, else the first one to come within the budget.
            let newest = ready.iter().rposition(|r| *r <= ts).filter(|&i| i >= next_unsent);
            let (send_at, repeat) = match newest {
                Some(i) => {
                    next_unsent = i + 1;
                    (ts, false)
                }
                None if ready[next_unsent] <= ts + budget || !any_sent => {
                    next_unsent += 1;
                    (ready[next_unsent - 1].max(ts), false)
                }
                None => (ts + budget, true),
            };
            any_sent = true;
            if repeat {
                repeats += 1;
            } else {
                sent += 1;
            }
            let arrived = send_at + upload;
            let lag = arrived - ts;
            if sent > 2 {
                worst_lag = worst_lag.max(lag);
            }
            ts = pacer.next_timestamp(Arrival { asked: ts, started: send_at, arrived }, repeat);
        }
        Run { frames: next_unsent as u64, sent, repeats, worst_lag }
    }

    #[test]
    fn every_camera_rate_sends_nearly_every_frame_once_and_fresh() {
        for fps in [0.5, 1.0, 2.0, 5.0, 7.5, 10.0, 12.5, 15.0, 24.0, 30.0, 60.0] {
            for (upload, jitter) in [(ms(12), ms(3)), (ms(1), ms(0)), (ms(1), ms(5))] {
                let period = Duration::from_secs_f64(1.0 / fps);
                let run = simulate(period, jitter, upload, 120);
                let label = format!("{fps} fps, upload {upload:?}, jitter {jitter:?}: {run:?}");
                assert!(run.sent as f64 >= 0.95 * run.frames as f64, "frames skipped: {label}");
                assert!(run.worst_lag < ms(80), "an answer went stale: {label}");
                // On the wire: each frame about once, so well within twice the source's bytes.
                assert!((run.sent + run.repeats) as f64 <= 1.5 * run.sent as f64, "too many repeats: {label}");
            }
        }
    }

    /// A frame asked for at `asked` ms, started at `started` ms, fully in at `arrived` ms.
    fn frame(t0: Instant, asked: u64, started: u64, arrived: u64) -> Arrival {
        Arrival { asked: t0 + ms(asked), started: t0 + ms(started), arrived: t0 + ms(arrived) }
    }

    #[test]
    fn the_margin_is_an_eighth_of_the_interval_between_2_and_12_ms() {
        assert_eq!(Pacer::margin(ms(40)), ms(5));
        assert_eq!(Pacer::margin(ms(8)), ms(2), "at least 2 ms");
        assert_eq!(Pacer::margin(ms(1000)), ms(12), "at most 12 ms");
    }

    #[test]
    fn asks_at_once_until_it_knows_the_interval_then_backs_off_repeats() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        assert_eq!(pacer.next_timestamp(frame(t0, 0, 200, 201), false), t0 + ms(201), "first frame: at once");
        let after_repeat = pacer.next_timestamp(frame(t0, 201, 231, 232), true);
        assert_eq!(after_repeat, t0 + ms(232) + BOOTSTRAP_PAUSE);
        let after_second = pacer.next_timestamp(frame(t0, 242, 272, 273), true);
        assert_eq!(after_second, t0 + ms(273) + BOOTSTRAP_PAUSE * 2);
        assert_eq!(pacer.interval(), None);
    }

    #[test]
    fn a_slow_camera_is_asked_just_before_its_next_frame() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        // Frames a second apart, each waited for (the client answered 20 ms after the timestamp,
        // where the quickest answer was 1 ms), each taking 5 ms to upload.
        pacer.next_timestamp(frame(t0, 0, 1, 6), false);
        pacer.next_timestamp(frame(t0, 980, 1000, 1005), false);
        let at = pacer.next_timestamp(frame(t0, 1980, 2000, 2005), false);
        assert_eq!(pacer.interval(), Some(ms(1000)));
        assert_eq!(at, t0 + ms(3000) - ms(12), "from the first byte, one interval less the margin");
    }

    #[test]
    fn a_frame_that_was_waiting_makes_the_pacer_ask_earlier_and_earlier() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false);
        pacer.next_timestamp(frame(t0, 980, 1000, 1001), false);
        // Asked at 1988, the client answered at once: the frame was there already.
        let at = pacer.next_timestamp(frame(t0, 1988, 1988, 1989), false);
        assert_eq!(at, t0 + ms(1988) + ms(988) - ms(24));
        let at = pacer.next_timestamp(frame(t0, 2952, 2952, 2953), false);
        assert_eq!(at, t0 + ms(2952) + ms(988) - ms(48), "two waiting frames say nothing of the interval");
    }

    #[test]
    fn a_late_frame_is_hunted_at_once_and_a_paused_source_is_asked_less_and_less() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false);
        pacer.next_timestamp(frame(t0, 980, 1000, 1001), false);
        // Asked at 1987; nothing came within the client's 30 ms budget: ask again at once.
        let first = pacer.next_timestamp(frame(t0, 1987, 2017, 2018), true);
        assert_eq!(first, t0 + ms(2018));
        // The frame came while the client waited on the next timestamp: the interval is exact.
        pacer.next_timestamp(frame(t0, 2018, 2025, 2026), false);
        assert_eq!(pacer.interval(), Some(ms(1025)));
        // Then the source pauses. Until a quarter interval overdue, ask at once; then less often.
        let mut at = t0 + ms(3013);
        let mut holds = Vec::new();
        for _ in 0..20 {
            let asked = at;
            at = pacer.next_timestamp(Arrival { asked, started: asked + ms(30), arrived: asked + ms(31) }, true);
            holds.push(pacer.held);
        }
        assert!(holds[0].is_zero(), "{holds:?}");
        assert!(holds.windows(2).all(|w| w[1] >= w[0]), "the pauses only grow: {holds:?}");
        assert_eq!(holds.last().copied(), pacer.interval(), "and stop at one interval");
    }

    #[test]
    fn the_hold_is_bounded() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false);
        pacer.next_timestamp(frame(t0, 59_980, 60_000, 60_001), false);
        let at = pacer.next_timestamp(frame(t0, 119_980, 120_000, 120_001), false);
        assert_eq!(at, t0 + ms(120_001) + MAX_HOLD);
    }
}
