//! Whether a frame is fresh: the server's half of the timestamped handshake.
//!
//! The original rule (`--max-lag 80ms`, kept exactly for whoever sets it) times everything from
//! sending the timestamp to the echo's last byte: the link's round trip, the upload of the whole
//! frame and the time the timestamp waited at the client. Over an ordinary Wi-Fi link the first
//! two alone exceed 80 ms, so every frame fails, whatever the client does.
//!
//! What the check is for is the last part: a client that answers with a frame it has held for a
//! while. The default rule (`--max-lag auto`) judges that part alone. The upload is timed from
//! the frame's first byte to its last and left out. The round trip is learned from the link
//! itself: the quickest response (timestamp out to first byte in) of the last few seconds, when
//! the client answered at once, is the round trip; anything a response takes beyond that is
//! time the timestamp spent waiting at the client, and that must stay within
//! [`WAIT_LIMIT`]. Learning from responses rather than from the kernel's TCP round trip keeps
//! the rule right behind proxies and tunnels, whose TCP connection ends before the real link.
//!
//! A client that is not honest about freshness can always send an old frame quickly; the rule
//! protects honest clients from their own delays, as the original did.

use crate::arrival::Arrival;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// How long a timestamp may wait at the client under `--max-lag auto`: the original's 80 ms.
pub const WAIT_LIMIT: Duration = Duration::from_millis(80);

/// The longest round trip `--max-lag auto` learns: a client that held every timestamp the same
/// time would look like a longer link, and no usable link is slower than this (a
/// geostationary satellite's is about 0.6 s).
pub const RTT_CEILING: Duration = Duration::from_secs(1);

/// The longest a frame may take to arrive under `--max-lag auto`: by then what it shows is old,
/// however promptly the client answered.
pub const UPLOAD_LIMIT: Duration = Duration::from_secs(2);

/// How far back the round trip is learned from.
const RTT_WINDOW: Duration = Duration::from_secs(5);

/// The window is kept as the quickest response of each slice this long.
const SLICE: Duration = Duration::from_millis(250);

/// How many responses the round trip is learned from at least, however old (a slow camera's).
const RTT_SAMPLES: usize = 4;

/// The freshness rule (`--max-lag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxLag {
    /// Judge only the time the timestamp waited at the client ([`WAIT_LIMIT`]); the link's
    /// round trip and the upload are learned and left out.
    #[default]
    Auto,
    /// The original rule: timestamp out to echo in, all of it, must not exceed this.
    Strict(Duration),
}

impl MaxLag {
    /// The limit the rule applies (to the wait, or to the whole lag).
    pub fn limit(self) -> Duration {
        match self {
            MaxLag::Auto => WAIT_LIMIT,
            MaxLag::Strict(limit) => limit,
        }
    }
}

impl fmt::Display for MaxLag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxLag::Auto => f.write_str("auto"),
            MaxLag::Strict(limit) => write!(f, "{}ms", limit.as_millis()),
        }
    }
}

/// Why a frame was judged stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaleReason {
    /// The timestamp waited at the client longer than the rule allows.
    Waited,
    /// The link made it late: under the strict rule its round trip and the upload alone
    /// exceeded the limit; under `auto` the upload took longer than [`UPLOAD_LIMIT`].
    Link,
}

impl StaleReason {
    /// Its name in logs, metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::Waited => "waited",
            StaleReason::Link => "link",
        }
    }
}

/// One frame judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// `None` when fresh; why it was stale otherwise.
    pub stale: Option<StaleReason>,
    /// The link's round trip as learned so far (this frame's response included).
    pub rtt: Duration,
    /// How long the timestamp waited at the client: the response beyond the round trip (as far
    /// as the server can tell: a client's constant delay looks like link).
    pub wait: Duration,
    /// How long the frame took to cross, first byte to last.
    pub upload: Duration,
    /// Timestamp out to echo in: what the original rule measures.
    pub lag: Duration,
}

/// The quickest response of the last [`RTT_WINDOW`], in constant time and memory whatever the
/// exchange rate: the quickest of each [`SLICE`], and the last [`RTT_SAMPLES`] responses however
/// old they are.
#[derive(Debug, Default)]
struct Quickest {
    slices: VecDeque<(Instant, Duration)>,
    latest: VecDeque<Duration>,
}

impl Quickest {
    fn add(&mut self, at: Instant, response: Duration) {
        if self.latest.len() == RTT_SAMPLES {
            self.latest.pop_front();
        }
        self.latest.push_back(response);
        match self.slices.back_mut() {
            Some((start, quickest)) if at.saturating_duration_since(*start) < SLICE => {
                *quickest = (*quickest).min(response);
            }
            _ => self.slices.push_back((at, response)),
        }
        while self.slices.front().is_some_and(|(start, _)| at.saturating_duration_since(*start) > RTT_WINDOW) {
            self.slices.pop_front();
        }
    }

    fn get(&self) -> Option<Duration> {
        self.slices.iter().map(|(_, r)| *r).chain(self.latest.iter().copied()).min()
    }
}

/// Judges one connection's frames and learns its link's round trip.
#[derive(Debug)]
pub struct Freshness {
    rule: MaxLag,
    quickest: Quickest,
}

impl Freshness {
    /// A judge that knows nothing of the link yet.
    pub fn new(rule: MaxLag) -> Self {
        Self { rule, quickest: Quickest::default() }
    }

    /// The rule it applies.
    pub fn rule(&self) -> MaxLag {
        self.rule
    }

    /// The link's round trip as learned so far: the quickest response of the last few seconds,
    /// which holds the client's quickest answer too; at most [`RTT_CEILING`].
    pub fn rtt(&self) -> Option<Duration> {
        self.quickest.get().map(|r| r.min(RTT_CEILING))
    }

    /// Judges a frame that came in at `times`, and learns from it.
    pub fn judge(&mut self, times: Arrival) -> Judgement {
        let response = times.response();
        self.quickest.add(times.started, response);
        let rtt = self.rtt().unwrap_or(response.min(RTT_CEILING));
        let (wait, upload, lag) = (response.saturating_sub(rtt), times.upload(), times.lag());
        let stale = match self.rule {
            MaxLag::Auto if wait > WAIT_LIMIT => Some(StaleReason::Waited),
            MaxLag::Auto => (upload > UPLOAD_LIMIT).then_some(StaleReason::Link),
            MaxLag::Strict(limit) if lag > limit => {
                Some(if rtt + upload > limit { StaleReason::Link } else { StaleReason::Waited })
            }
            MaxLag::Strict(_) => None,
        };
        Judgement { stale, rtt, wait, upload, lag }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A frame asked for at `asked` ms, whose first byte came `response` ms later and whose last
    /// came `upload` ms after that.
    fn frame(t0: Instant, asked: u64, response: u64, upload: u64) -> Arrival {
        let started = t0 + ms(asked + response);
        Arrival { asked: t0 + ms(asked), started, arrived: started + ms(upload) }
    }

    #[test]
    fn auto_leaves_the_round_trip_and_the_upload_out() {
        // Another continent: 120 ms round trip; a 200 KB frame over 20 Mbit/s takes 80 ms.
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        for i in 0..20 {
            let j = judge.judge(frame(t0, i * 210, 120 + i % 3, 80));
            assert_eq!(j.stale, None, "{j:?}");
            assert_eq!(j.rtt, ms(120));
            assert!(j.wait <= ms(2));
            assert_eq!(j.upload, ms(80));
        }
    }

    #[test]
    fn auto_catches_a_client_that_held_the_timestamp() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        judge.judge(frame(t0, 0, 30, 10));
        assert_eq!(judge.judge(frame(t0, 100, 110, 10)).stale, None, "80 ms of waiting is allowed");
        let held = judge.judge(frame(t0, 300, 111, 10));
        assert_eq!(held.stale, Some(StaleReason::Waited), "{held:?}");
        assert_eq!(held.wait, ms(81));
    }

    #[test]
    fn strict_is_the_original_rule_with_its_reason() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Strict(ms(80)));
        assert_eq!(judge.judge(frame(t0, 0, 6, 74)).stale, None, "80 ms in all is on time");
        let slow_link = judge.judge(frame(t0, 100, 6, 75));
        assert_eq!(slow_link.stale, Some(StaleReason::Link), "{slow_link:?}");
        assert_eq!(slow_link.lag, ms(81));
        let waited = judge.judge(frame(t0, 200, 56, 30));
        assert_eq!(waited.stale, Some(StaleReason::Waited), "the link alone fits: {waited:?}");
    }

    #[test]
    fn the_round_trip_follows_a_link_that_got_slower_within_seconds() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        for i in 0..30 {
            judge.judge(frame(t0, i * 50, 10, 5));
        }
        // The route changes: 200 ms round trip from now on. For a few seconds the quick old
        // responses stay the reference, then the new one takes over.
        let mut stale = 0;
        let mut i = 30;
        while judge.rtt() != Some(ms(200)) {
            stale += usize::from(judge.judge(frame(t0, i * 250, 200, 5)).stale.is_some());
            i += 1;
            assert!(i < 100, "never learned the new round trip");
        }
        assert!(stale <= 22, "{stale} stale frames");
        assert_eq!(judge.judge(frame(t0, i * 250, 200, 5)).stale, None);
    }

    #[test]
    fn a_hold_of_a_second_or_more_is_caught_whatever_it_looks_like_and_so_is_a_long_upload() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        for i in 0..10 {
            let held = judge.judge(frame(t0, i * 2000, 1200, 5));
            assert_eq!(held.stale, Some(StaleReason::Waited), "a constant 1.2 s hold: {held:?}");
        }
        assert_eq!(judge.rtt(), Some(RTT_CEILING));
        let mut judge = Freshness::new(MaxLag::Auto);
        judge.judge(frame(t0, 0, 10, 5));
        assert_eq!(judge.judge(frame(t0, 100, 10, 1999)).stale, None, "a slow but bounded upload");
        assert_eq!(judge.judge(frame(t0, 2200, 10, 2001)).stale, Some(StaleReason::Link));
    }

    #[test]
    fn judging_costs_the_same_at_any_exchange_rate() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        for i in 0..100_000u64 {
            let started = t0 + Duration::from_micros(i * 50);
            judge.judge(Arrival { asked: started - ms(1), started, arrived: started });
        }
        assert!(judge.quickest.slices.len() <= 21, "{}", judge.quickest.slices.len());
        assert_eq!(judge.rtt(), Some(ms(1)));
    }

    #[test]
    fn a_slow_camera_keeps_a_few_responses_however_old() {
        let t0 = Instant::now();
        let mut judge = Freshness::new(MaxLag::Auto);
        for i in 0..6 {
            judge.judge(frame(t0, i * 10_000, 40 + i, 5));
        }
        assert_eq!(judge.rtt(), Some(ms(42)), "the last four, ten seconds apart");
    }

    #[test]
    fn the_rule_reads_as_the_flag_does() {
        assert_eq!(MaxLag::Auto.to_string(), "auto");
        assert_eq!(MaxLag::Strict(ms(80)).to_string(), "80ms");
        assert_eq!(MaxLag::default(), MaxLag::Auto);
        assert_eq!(MaxLag::Auto.limit(), WAIT_LIMIT);
    }
}
