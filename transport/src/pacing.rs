//! When the server sends its next timestamp.
//!
//! A client whose camera is slower than the freshness limit keeps the handshake fresh by sending
//! its last frame again (a *repeat*) when no new one is ready soon after a timestamp arrives. An
//! original-style server asks again at once, so a 1 fps camera would send each frame some twenty
//! times. The [`Pacer`] learns the client's frame interval from the arrivals of its distinct frames
//! and holds the next timestamp back until just before the next frame is due, so that each frame
//! crosses the wire about once. Over a link with a round trip, the timestamp is sent that much
//! earlier, so that it reaches the client just before the frame does.
//!
//! A stretch of repeats says nothing about the camera's interval: the source has stalled (a
//! network camera's hiccup) or shows a still scene. The interval is not learned from such a
//! stretch unless the stretches repeat alike (a camera that really slowed down), so that the first
//! frame after a pause is never followed by a hold as long as the pause. Pure arithmetic on
//! instants passed in: the connection reads the clock, this decides.

use crate::arrival::Arrival;
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

/// How many gaps the interval is the shortest of.
const SAMPLES: usize = 8;

/// Two stretches of repeats this close in length (as a share) show a camera that slowed down.
const ALIKE: f64 = 0.25;

/// What a gap between two distinct frames teaches about the interval.
enum Lesson {
    /// The gap spans a pause: nothing.
    Nothing,
    /// The gap is the interval of a camera that slowed down.
    NewInterval,
    /// As any gap (see [`Pacer::after_distinct`]).
    Usual,
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
    /// Whether the frame has been overdue by more than a quarter interval since the last
    /// distinct frame: the source paused, rather than the pacer asking early.
    paused: bool,
    /// The length of the last gap between distinct frames that spanned a pause.
    last_stretch: Option<Duration>,
    /// The last few gaps up to a frame the client waited for.
    samples: VecDeque<Duration>,
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

    /// A frame came in; `repeat` when its bytes were those of the frame before; `rtt` is the
    /// link's round trip (see [`crate::freshness`]). Returns when to send the next timestamp: at
    /// once or later, at most [`MAX_HOLD`] after the frame arrived.
    pub fn next_timestamp(&mut self, frame: Arrival, repeat: bool, rtt: Duration) -> Instant {
        let response = frame.response();
        let at = if repeat { self.after_repeat(frame) } else { self.after_distinct(frame, response, rtt) };
        if self.responses.len() == BASELINE_WINDOW {
            self.responses.pop_front();
        }
        self.responses.push_back(response);
        let now = frame.arrived;
        let at = at.min(now + MAX_HOLD).max(now);
        self.held = at - now;
        at
    }

    fn after_distinct(&mut self, frame: Arrival, response: Duration, rtt: Duration) -> Instant {
        let baseline = self.responses.iter().min().copied().unwrap_or_default();
        // Asked again at once after a repeat, a frame that was waiting came after that repeat
        // left: its arrival is as good as one the client waited for.
        let caught = self.repeats_in_a_row > 0 && self.held.is_zero();
        let waited = caught || response > baseline + WAITED;
        if let Some(last) = self.last {
            let sample = frame.started.saturating_duration_since(last);
            // Up to a frame the client waited for, the sample is the camera's interval, or a little
            // less if the frame before was waiting. From a frame the client waited for to one that
            // was waiting, it is at most the interval. Between two that were waiting it says
            // nothing: it is the exchange's own length.
            self.interval = match (self.lesson(sample), self.interval, waited, self.last_waited) {
                (Lesson::Nothing, known, _, _) => known,
                // Caught as it came, or a camera's new pace: the gap is the interval itself.
                (Lesson::NewInterval, ..) => Some(self.restart_from(sample)),
                (_, _, true, _) if caught => Some(self.restart_from(sample)),
                (_, None, _, _) | (_, _, true, _) => Some(self.sampled(sample)),
                (Lesson::Usual, Some(known), false, true) => Some(known.min(sample)),
                (Lesson::Usual, known, false, false) => known,
            };
        }
        self.settle(frame, waited, rtt)
    }

    /// Keeps `sample` among the last few gaps up to a frame the client waited for, and returns
    /// the shortest. A frame that looked waited for only because the link's delay varied gives a
    /// gap as long as the exchange, never shorter than the camera's interval: the shortest of
    /// several is the interval.
    fn sampled(&mut self, sample: Duration) -> Duration {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.samples.iter().min().copied().unwrap_or(sample)
    }

    /// Forgets the gaps before `sample`, which is the interval as it is now.
    fn restart_from(&mut self, sample: Duration) -> Duration {
        self.samples.clear();
        self.sampled(sample)
    }

    /// What the gap `sample` since the last distinct frame teaches: nothing when it spans a
    /// pause (a stall, a still scene), a new interval when the pause before it was alike (a
    /// camera that slowed down), and the usual otherwise, or before the interval is known.
    fn lesson(&mut self, sample: Duration) -> Lesson {
        if self.interval.is_none() || !self.paused {
            self.last_stretch = None;
            return Lesson::Usual;
        }
        let alike = self
            .last_stretch
            .is_some_and(|before| (sample.as_secs_f64() - before.as_secs_f64()).abs() <= ALIKE * before.as_secs_f64());
        self.last_stretch = Some(sample);
        if alike {
            Lesson::NewInterval
        } else {
            Lesson::Nothing
        }
    }

    /// After a distinct frame: when to ask for the next one, one interval after this one's first
    /// byte, less the margin and the round trip the timestamp and the frame spend on the link.
    fn settle(&mut self, frame: Arrival, waited: bool, rtt: Duration) -> Instant {
        // Only a hold after a distinct frame can have made this one wait: after a repeat the
        // pacer asked when the frame was due or already late.
        // Asked at once, a frame that was waiting says nothing new: the pacer keeps asking as
        // early as it learned to.
        let late = !waited && !self.held.is_zero() && self.repeats_in_a_row == 0;
        let asked_at_once = self.held.is_zero() && self.repeats_in_a_row == 0;
        self.late_in_a_row = match (waited, late, asked_at_once) {
            (true, _, _) => 0,
            (false, true, _) => self.late_in_a_row.saturating_add(1),
            (false, false, true) => self.late_in_a_row,
            (false, false, false) => 0,
        };
        self.repeats_in_a_row = 0;
        self.paused = false;
        self.last = Some(frame.started);
        self.last_waited = waited;
        let Some(interval) = self.interval else { return frame.arrived };
        let ahead = Self::margin(interval).saturating_mul(1 << self.late_in_a_row.min(16));
        let at = frame.started + interval.saturating_sub(ahead).saturating_sub(rtt);
        // A hold no longer than the link's delay varies is lost in it, and only slows a camera
        // that is faster than the link: the client can wait that long itself.
        if at.saturating_duration_since(frame.arrived) <= self.spread() {
            return frame.arrived;
        }
        at
    }

    /// How much the link's delay varies: the typical response beyond the quickest.
    fn spread(&self) -> Duration {
        let mut responses: Vec<Duration> = self.responses.iter().copied().collect();
        responses.sort();
        match (responses.first(), responses.get(responses.len() / 2)) {
            (Some(quickest), Some(typical)) => *typical - *quickest,
            _ => Duration::ZERO,
        }
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
        self.paused = true;
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

    /// The link in a simulation: a one-way delay each way, plus up to `jitter` more each time.
    #[derive(Debug, Clone, Copy)]
    struct Net {
        one_way: Duration,
        jitter: Duration,
    }

    const LOOPBACK: Net = Net { one_way: Duration::ZERO, jitter: Duration::ZERO };

    /// A fixed pseudo-random sequence in [0, 1).
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % 1000) as f64 / 1000.0
        }
    }

    /// Simulates a camera that delivers a frame every `period` (plus up to `jitter`), a client
    /// that answers each timestamp with the newest unsent frame or, after waiting `budget` for
    /// one, repeats the last, an upload of `upload` over `net`, and the pacer deciding when each
    /// timestamp goes out. All on a virtual clock, in the client's time with the server's
    /// instants shifted by the link's delays.
    fn simulate(period: Duration, jitter: Duration, upload: Duration, seconds: u64) -> Run {
        simulate_over(LOOPBACK, period, jitter, upload, seconds)
    }

    fn simulate_over(net: Net, period: Duration, jitter: Duration, upload: Duration, seconds: u64) -> Run {
        let budget = ms(30);
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(seconds);
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let mut ready: Vec<Instant> = Vec::new();
        let mut at = t0 + period;
        while at < end {
            ready.push(at + jitter.mul_f64(random.next()));
            at += period;
        }
        let mut pacer = Pacer::new();
        let (mut next_unsent, mut sent, mut repeats, mut worst_lag) = (0usize, 0u64, 0u64, Duration::ZERO);
        let mut any_sent = false;
        let mut asked = t0;
        while asked < end && next_unsent < ready.len() {
            let ts = asked + net.one_way + net.jitter.mul_f64(random.next());
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
            let started = send_at + net.one_way + net.jitter.mul_f64(random.next());
            let arrived = started + upload;
            // What waited at the client: the freshness rule's concern.
            if sent > 2 {
                worst_lag = worst_lag.max(send_at - ts);
            }
            asked = pacer.next_timestamp(Arrival { asked, started, arrived }, repeat, net.one_way * 2);
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
                assert!(run.worst_lag + upload < ms(80), "an answer went stale: {label}");
                // On the wire: each frame about once, so well within twice the source's bytes.
                assert!((run.sent + run.repeats) as f64 <= 1.5 * run.sent as f64, "too many repeats: {label}");
            }
        }
    }

    #[test]
    fn a_camera_faster_than_a_jittery_link_is_never_held_back() {
        // 30 fps over 20 Mbit/s Wi-Fi with 3 ms each way and up to 10 ms more: a 62 KB frame
        // takes 25 ms to upload, so the link, not the camera, sets the pace. Holding timestamps
        // back could only slow it down.
        let net = Net { one_way: ms(3), jitter: ms(10) };
        let run = simulate_over(net, Duration::from_secs_f64(1.0 / 30.0), ms(2), ms(25), 60);
        let cycle = 2 * 3 + 10 + 25;
        let most = 60.0 * 1000.0 / f64::from(cycle);
        assert!(run.sent as f64 >= 0.9 * most, "{run:?}: about {most:.0} frames could have gone");
        // And one a little slower than the link is still paced: each frame about once.
        let run = simulate_over(net, Duration::from_secs_f64(1.0 / 10.0), ms(2), ms(25), 60);
        assert!(run.sent as f64 >= 0.95 * run.frames as f64 && run.repeats * 4 <= run.sent, "{run:?}");
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
        assert_eq!(pacer.next_timestamp(frame(t0, 0, 200, 201), false, ms(0)), t0 + ms(201), "first frame: at once");
        let after_repeat = pacer.next_timestamp(frame(t0, 201, 231, 232), true, ms(0));
        assert_eq!(after_repeat, t0 + ms(232) + BOOTSTRAP_PAUSE);
        let after_second = pacer.next_timestamp(frame(t0, 242, 272, 273), true, ms(0));
        assert_eq!(after_second, t0 + ms(273) + BOOTSTRAP_PAUSE * 2);
        assert_eq!(pacer.interval(), None);
    }

    #[test]
    fn a_slow_camera_is_asked_just_before_its_next_frame() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        // Frames a second apart, each waited for (the client answered 20 ms after the timestamp,
        // where the quickest answer was 0 ms), each taking 5 ms to upload.
        pacer.next_timestamp(frame(t0, 0, 0, 5), false, ms(0));
        pacer.next_timestamp(frame(t0, 980, 1000, 1005), false, ms(0));
        let at = pacer.next_timestamp(frame(t0, 1980, 2000, 2005), false, ms(0));
        assert_eq!(pacer.interval(), Some(ms(1000)));
        assert_eq!(at, t0 + ms(3000) - ms(12), "from the first byte, one interval less the margin");
    }

    #[test]
    fn a_frame_that_was_waiting_makes_the_pacer_ask_earlier_and_earlier() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false, ms(0));
        pacer.next_timestamp(frame(t0, 980, 1000, 1001), false, ms(0));
        // Asked at 1988, the client answered at once: the frame was there already.
        let at = pacer.next_timestamp(frame(t0, 1988, 1988, 1989), false, ms(0));
        assert_eq!(at, t0 + ms(1988) + ms(988) - ms(24));
        let at = pacer.next_timestamp(frame(t0, 2952, 2952, 2953), false, ms(0));
        assert_eq!(at, t0 + ms(2952) + ms(988) - ms(48), "two waiting frames say nothing of the interval");
    }

    #[test]
    fn a_late_frame_is_hunted_at_once_and_a_paused_source_is_asked_less_and_less() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false, ms(0));
        pacer.next_timestamp(frame(t0, 980, 1000, 1001), false, ms(0));
        // Asked at 1987; nothing came within the client's 30 ms budget: ask again at once.
        let first = pacer.next_timestamp(frame(t0, 1987, 2017, 2018), true, ms(0));
        assert_eq!(first, t0 + ms(2018));
        // The frame came while the client waited on the next timestamp: the interval is exact.
        pacer.next_timestamp(frame(t0, 2018, 2025, 2026), false, ms(0));
        assert_eq!(pacer.interval(), Some(ms(1025)));
        // Then the source pauses. Until a quarter interval overdue, ask at once; then less often.
        let mut at = t0 + ms(3013);
        let mut holds = Vec::new();
        for _ in 0..20 {
            let asked = at;
            at = pacer.next_timestamp(Arrival { asked, started: asked + ms(30), arrived: asked + ms(31) }, true, ms(0));
            holds.push(pacer.held);
        }
        assert!(holds[0].is_zero(), "{holds:?}");
        assert!(holds.windows(2).all(|w| w[1] >= w[0]), "the pauses only grow: {holds:?}");
        assert_eq!(holds.last().copied(), pacer.interval(), "and stop at one interval");
    }

    #[test]
    fn a_stall_or_a_still_scene_does_not_stretch_the_interval() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        // A 30 fps camera, each frame waited for.
        let mut t = 0;
        for _ in 0..10 {
            pacer.next_timestamp(frame(t0, t, t + 5, t + 6), false, ms(0));
            t += 33;
        }
        let interval = pacer.interval().expect("learned");
        assert!(interval <= ms(34), "{interval:?}");
        // Eight seconds of repeats (the scene stood still, or the stream stalled), asked once an
        // interval at most.
        let mut at = t0 + ms(t);
        let end = t0 + ms(t + 8000);
        while at < end {
            at = pacer.next_timestamp(Arrival { asked: at, started: at + ms(30), arrived: at + ms(31) }, true, ms(0));
            assert!(pacer.held <= interval, "never asks less than once an interval: {:?}", pacer.held);
        }
        // Then a change: the next timestamp follows within one interval, as before the pause.
        let after = pacer.next_timestamp(Arrival { asked: at, started: at + ms(3), arrived: at + ms(4) }, false, ms(0));
        assert_eq!(pacer.interval(), Some(interval), "the pause taught nothing");
        assert!(after <= at + ms(4) + interval, "{:?} after the change", after - at);
    }

    #[test]
    fn a_slow_first_upload_does_not_teach_a_long_interval() {
        // A 30 fps camera over a 10 Mbit/s link with a 30 ms round trip: the first frame, at
        // full quality, takes 200 ms to arrive; the client then sends smaller frames (24 ms),
        // each already waiting when its timestamp comes. The link sets the pace; the pacer must
        // not hold timestamps back on the strength of that first long gap.
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        let mut asked = t0;
        let mut upload = ms(200);
        let mut held = Duration::ZERO;
        for i in 0..60 {
            let started = asked + ms(30);
            let arrived = started + upload;
            let next = pacer.next_timestamp(Arrival { asked, started, arrived }, false, ms(30));
            if i >= 20 {
                held += next - arrived;
            }
            asked = next;
            upload = ms(24);
        }
        assert!(held <= ms(40), "held {held:?} over 40 exchanges the link set the pace of");
    }

    #[test]
    fn a_camera_that_really_slowed_down_is_learned_from_two_alike_stretches() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        let mut t = 0;
        for _ in 0..10 {
            pacer.next_timestamp(frame(t0, t, t + 5, t + 6), false, ms(0));
            t += 33;
        }
        // From now on a frame a second, the server asking every 33 ms in between.
        for second in 0..3 {
            let mut at = t0 + ms(t);
            let next_frame = t0 + ms(t + 1000);
            while at + ms(30) < next_frame {
                at = pacer.next_timestamp(
                    Arrival { asked: at, started: at + ms(30), arrived: at + ms(31) },
                    true,
                    ms(0),
                );
            }
            t += 1000;
            pacer.next_timestamp(frame(t0, t - 5, t, t + 1), false, ms(0));
            if second == 0 {
                assert!(pacer.interval() < Some(ms(40)), "one stretch is not enough");
            }
        }
        assert!(pacer.interval() > Some(ms(900)), "{:?}", pacer.interval());
    }

    #[test]
    fn over_a_link_the_timestamp_leaves_a_round_trip_early() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 61, 66), false, ms(60));
        pacer.next_timestamp(frame(t0, 940, 1061, 1066), false, ms(60));
        let at = pacer.next_timestamp(frame(t0, 1941, 2061, 2066), false, ms(60));
        assert_eq!(pacer.interval(), Some(ms(1000)));
        assert_eq!(at, t0 + ms(3061) - ms(12) - ms(60), "an interval from the first byte, less margin and round trip");
        // A round trip longer than the interval: ask at once.
        let mut fast = Pacer::new();
        fast.next_timestamp(frame(t0, 0, 121, 122), false, ms(120));
        fast.next_timestamp(frame(t0, 122, 243, 244), false, ms(120));
        assert_eq!(fast.next_timestamp(frame(t0, 244, 365, 366), false, ms(120)), t0 + ms(366));
    }

    #[test]
    fn the_hold_is_bounded() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new();
        pacer.next_timestamp(frame(t0, 0, 1, 2), false, ms(0));
        pacer.next_timestamp(frame(t0, 59_980, 60_000, 60_001), false, ms(0));
        let at = pacer.next_timestamp(frame(t0, 119_980, 120_000, 120_001), false, ms(0));
        assert_eq!(at, t0 + ms(120_001) + MAX_HOLD);
    }
}
