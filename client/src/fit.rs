//! Fitting the frames to the link, as video-call clients do: the JPEG quality, and below a quality
//! floor the frame size, are chosen so that a frame uploads within a budget, and raised again
//! when the link allows.
//!
//! The budget depends on how the server judges freshness, which an nvt-server says in every
//! reply (see `nvt_transport::freshness`):
//!
//! - **The wait only** (`--max-lag auto`): the link does not make frames late, so the budget
//!   serves the frame rate and the frames' age: an upload that leaves the camera's interval for
//!   the round trip, or [`FLOOR`] where the round trip alone takes the interval.
//! - **The whole lag** (an original server, or `--max-lag 80ms`): the timestamp's wait, the round
//!   trip and the upload must fit in the limit together, with [`SAFETY`] to spare. When the round
//!   trip alone leaves no room, no frame can be on time: the client says so once and sends only
//!   a small probe every [`PROBE_EVERY`] until the link recovers.
//!
//! Until a server says otherwise, it is taken to be an original one with the 80 ms rule.
//! `--jpeg-quality` is the ceiling; on loopback and fast networks nothing changes.

use crate::link::LinkEstimate;
use nvt_transport::{Judged, LinkReport};
use std::time::{Duration, Instant};

/// One setting of the encoder: a JPEG quality and a scale of the frame's sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    /// JPEG quality, 1-100.
    pub quality: i32,
    /// Scale of width and height, up to 1.
    pub scale: f64,
    /// Its size next to quality 100 at full size, on a typical frame: a first guess before the
    /// rung has been seen on the camera's own frames.
    pub share: f64,
}

/// The settings from best to smallest: quality first, down to 40; then size, at a quality that
/// keeps small frames clean. The shares were measured on the synthetic scene at 640x480.
pub const LADDER: [Rung; 13] = [
    Rung { quality: 100, scale: 1.0, share: 1.0 },
    Rung { quality: 95, scale: 1.0, share: 0.48 },
    Rung { quality: 90, scale: 1.0, share: 0.30 },
    Rung { quality: 85, scale: 1.0, share: 0.20 },
    Rung { quality: 80, scale: 1.0, share: 0.154 },
    Rung { quality: 70, scale: 1.0, share: 0.108 },
    Rung { quality: 60, scale: 1.0, share: 0.076 },
    Rung { quality: 50, scale: 1.0, share: 0.057 },
    Rung { quality: 40, scale: 1.0, share: 0.044 },
    Rung { quality: 50, scale: 0.75, share: 0.034 },
    Rung { quality: 70, scale: 0.5, share: 0.021 },
    Rung { quality: 50, scale: 0.5, share: 0.016 },
    Rung { quality: 70, scale: 0.25, share: 0.010 },
];

/// The freshness limit of a server that has not said what it judges: the original's.
pub const ORIGINAL_LIMIT: Duration = Duration::from_millis(80);

/// Kept free under a whole-lag limit, for jitter and the server's own turn.
pub const SAFETY: Duration = Duration::from_millis(10);

/// The upload budget where the round trip alone takes the camera's interval.
pub const FLOOR: Duration = Duration::from_millis(30);

/// The longest upload budget, for slow cameras: it bounds the frames' age.
pub const CEILING: Duration = Duration::from_millis(100);

/// A budget shorter than this is not worth aiming the camera's frame rate at.
const SHORTEST_USEFUL: Duration = Duration::from_millis(15);

/// How much a late frame that should have been on time adds to the delay the client cannot see,
/// and how much each frame on time takes off again: an original server that sets no TCP_NODELAY
/// holds each timestamp until the client's ACK comes back, up to a round trip its timer counts
/// and the client never sees.
const UNSEEN_UP: Duration = Duration::from_millis(10);
const UNSEEN_DOWN: Duration = Duration::from_micros(250);

/// How often a link that cannot be on time is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);

/// Exchanges in a row that must fit a better rung before the client moves up to it.
const BEFORE_UP: u32 = 3;

/// Planned sizes keep this much of the budget spare.
const HEADROOM: f64 = 0.85;

/// How long a rung's measured size stays better than a guess from another rung's.
const SIZE_MEMORY: Duration = Duration::from_secs(10);

/// What the server judges, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Nothing said yet: an original server is assumed.
    Assumed,
    /// The wait only, within this limit (`--max-lag auto`).
    Wait(Duration),
    /// The whole lag, within this limit.
    Lag(Duration),
}

impl Rule {
    /// The limit of a rule that counts the whole lag.
    fn lag_limit(self) -> Option<Duration> {
        match self {
            Rule::Assumed => Some(ORIGINAL_LIMIT),
            Rule::Lag(limit) => Some(limit),
            Rule::Wait(_) => None,
        }
    }
}

/// Why a frame came back late, as far as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// The timestamp waited at the client (for the camera, or a slow encoder).
    Waited,
    /// The round trip and the upload alone exceed the server's limit.
    Link,
}

impl Late {
    /// Its name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Late::Waited => "waited",
            Late::Link => "link",
        }
    }
}

/// What changed after an exchange, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Nothing to say.
    None,
    /// The link cannot be on time: probing from now on.
    Hopeless {
        /// The round trip that leaves no room.
        rtt: Duration,
        /// The server's limit.
        limit: Duration,
    },
    /// The link fits again.
    Recovered,
}

/// Probes of a link that cannot be on time. They go in pairs: the first answers a timestamp held
/// until the probe is due (late by the server's rule, whatever the link), the second answers the
/// next timestamp at once, so that the server judges it on the link alone.
#[derive(Debug, Clone, Copy)]
struct Probing {
    due: Instant,
    second: bool,
}

/// What one exchange showed.
#[derive(Debug, Clone, Copy)]
pub struct Exchanged<'a> {
    /// How the server judged it, when it said (nvt-server's reply).
    pub report: Option<&'a LinkReport>,
    /// Whether the frame was on time.
    pub accepted: bool,
    /// How long its timestamp waited here before the frame went.
    pub wait: Duration,
    /// From the frame's first byte written to the verdict read.
    pub took: Duration,
}

/// Chooses the rung for the next frames and how long to wait for one.
#[derive(Debug)]
pub struct Fit {
    rungs: Vec<Rung>,
    current: usize,
    sizes: Vec<Option<(f64, Instant)>>,
    fitting_in_a_row: u32,
    rule: Rule,
    interval: Option<Duration>,
    adapt: bool,
    probing: Option<Probing>,
    stale_in_a_row: u32,
    /// Delay a whole-lag rule counts that the client cannot see, learned from late frames that
    /// should have been on time.
    unseen: Duration,
}

impl Fit {
    /// Rungs at or below `ceiling` quality; `interval` is the camera's (`None`: unpaced); with
    /// `adapt` false the first rung is kept whatever the link.
    pub fn new(ceiling: i32, interval: Option<Duration>, adapt: bool) -> Self {
        // Rungs above the ceiling become the ceiling; of several alike, the last one's share
        // (the nearest quality listed) is the better guess.
        let mut rungs: Vec<Rung> = Vec::new();
        for rung in LADDER {
            let rung = Rung { quality: rung.quality.min(ceiling), ..rung };
            match rungs.last_mut() {
                Some(last) if (last.quality, last.scale) == (rung.quality, rung.scale) => last.share = rung.share,
                _ => rungs.push(rung),
            }
        }
        let sizes = vec![None; rungs.len()];
        Self {
            rungs,
            current: 0,
            sizes,
            fitting_in_a_row: 0,
            rule: Rule::Assumed,
            interval,
            adapt,
            probing: None,
            stale_in_a_row: 0,
            unseen: Duration::ZERO,
        }
    }

    /// The rungs in use, best first; [`Fit::current`] indexes them.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    /// The rung for the next frames.
    pub fn current(&self) -> usize {
        self.current
    }

    /// What the server judges, as far as the client knows.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Whether the client only probes, the link being unable to carry a frame on time.
    pub fn probing(&self) -> bool {
        self.probing.is_some()
    }

    /// When the next probe is due, while probing.
    pub fn probe_due(&self) -> Option<Instant> {
        self.probing.map(|p| p.due)
    }

    /// A new connection: what the last server said of its rule, and the probing, are forgotten
    /// (another server may answer now); the link and the frames' sizes are kept.
    pub fn connected(&mut self) {
        self.rule = Rule::Assumed;
        self.probing = None;
        self.stale_in_a_row = 0;
        self.unseen = Duration::ZERO;
    }

    /// A frame was encoded at rung `rung` into `bytes` bytes.
    pub fn encoded(&mut self, rung: usize, bytes: usize, now: Instant) {
        if let Some(slot) = self.sizes.get_mut(rung) {
            let size = match *slot {
                Some((old, _)) => 0.7 * old + 0.3 * bytes as f64,
                None => bytes as f64,
            };
            *slot = Some((size, now));
        }
    }

    /// The size a frame at `rung` would have: measured when it was seen lately, otherwise
    /// guessed by the ladder's shares from the rung seen most lately.
    fn size_of(&self, rung: usize, now: Instant) -> Option<f64> {
        let fresh = |r: &usize| self.sizes[*r].filter(|(_, at)| now.saturating_duration_since(*at) <= SIZE_MEMORY);
        if let Some((size, _)) = fresh(&rung) {
            return Some(size);
        }
        let (known, (size, _)) =
            (0..self.rungs.len()).filter_map(|r| fresh(&r).map(|seen| (r, seen))).max_by_key(|(_, (_, at))| *at)?;
        Some(size * self.rungs[rung].share / self.rungs[known].share)
    }

    /// The round trip as a whole-lag rule counts it: the link's, and what the server adds unseen.
    fn counted_rtt(&self, link: &LinkEstimate) -> Duration {
        link.rtt().unwrap_or_default() + self.unseen
    }

    /// How long a frame may take to upload, for the rule and the link as known.
    pub fn budget(&self, link: &LinkEstimate) -> Duration {
        let rtt = link.rtt().unwrap_or_default();
        let for_rate = match self.interval {
            Some(interval) if interval.saturating_sub(rtt) >= SHORTEST_USEFUL + Duration::from_millis(2) => {
                (interval.saturating_sub(rtt) - Duration::from_millis(2)).min(CEILING)
            }
            _ => FLOOR,
        };
        match self.rule.lag_limit() {
            Some(limit) => {
                for_rate.min(limit.saturating_sub(SAFETY + self.counted_rtt(link) + Duration::from_millis(2)))
            }
            None => for_rate,
        }
    }

    /// How long to wait for a new frame after a timestamp arrives before repeating the last:
    /// `usual`, less what a whole-lag rule leaves after the round trip and the upload.
    pub fn wait_budget(&self, link: &LinkEstimate, bytes: usize, usual: Duration) -> Duration {
        let Some(limit) = self.rule.lag_limit() else { return usual };
        let spent = self.counted_rtt(link) + link.upload_time(bytes).unwrap_or_default() + SAFETY;
        limit.saturating_sub(spent).min(usual)
    }

    /// How long to wait for a capture at the current rung when the frame at hand was encoded at
    /// a better one: under a wait-only rule up to one and a half camera intervals (well inside
    /// the server's limit), otherwise `budget`.
    pub fn wait_for_smaller(&self, budget: Duration) -> Duration {
        match (self.rule, self.interval) {
            (Rule::Wait(limit), Some(interval)) => interval.mul_f64(1.5).min(limit / 2).max(budget),
            _ => budget,
        }
    }

    /// Learns from an exchange and the link as now known. Returns why a late frame was late,
    /// and what changed.
    pub fn exchanged(&mut self, exchange: Exchanged<'_>, link: &LinkEstimate, now: Instant) -> (Option<Late>, Change) {
        let Exchanged { report, accepted, wait, took } = exchange;
        // A report is checked before it comes here (`LinkReport::checked`): its numbers are sane.
        if let Some(report) = report {
            let limit = Duration::from_secs_f64(report.limit_ms.clamp(0.0, 3.6e6) / 1000.0);
            self.rule = match report.judged {
                Judged::Wait => Rule::Wait(limit),
                Judged::Lag => Rule::Lag(limit),
            };
        }
        self.stale_in_a_row = if accepted { 0 } else { self.stale_in_a_row.saturating_add(1) };
        if let Some(limit) = self.rule.lag_limit() {
            if accepted {
                self.unseen = self.unseen.saturating_sub(UNSEEN_DOWN);
            } else if wait + took + SAFETY / 2 < limit && self.probing.is_none() {
                self.unseen = (self.unseen + UNSEEN_UP).min(limit);
            }
        }
        // Late with the timestamp held here less than half the limit: the link's part made it
        // late (its round trip and upload, or under a wait-only rule, its delay varying).
        let limit = self.rule.lag_limit().unwrap_or(match self.rule {
            Rule::Wait(limit) => limit,
            _ => ORIGINAL_LIMIT,
        });
        let late = (!accepted).then(|| if wait < limit / 2 { Late::Link } else { Late::Waited });
        // Only the link's own round trip makes a link hopeless: the delay learned from late
        // frames is the server's, and a link that improves must be seen to.
        let change = self.probe_or_not(link.rtt().unwrap_or_default(), now);
        if self.adapt && self.probing.is_none() {
            self.choose(link, now);
        }
        (late, change)
    }

    /// Enters probing when the round trip alone leaves no room under a whole-lag limit, and
    /// leaves it when a probe shows room again.
    fn probe_or_not(&mut self, rtt: Duration, now: Instant) -> Change {
        let Some(limit) = self.rule.lag_limit() else {
            return if self.probing.take().is_some() { Change::Recovered } else { Change::None };
        };
        let no_room = rtt + SAFETY >= limit;
        match &mut self.probing {
            None if no_room && self.stale_in_a_row >= 3 => {
                self.probing = Some(Probing { due: now + PROBE_EVERY, second: false });
                if self.adapt {
                    self.current = self.rungs.len() - 1;
                }
                self.unseen = Duration::ZERO;
                Change::Hopeless { rtt, limit }
            }
            Some(_) if !no_room => {
                self.probing = None;
                self.fitting_in_a_row = 0;
                Change::Recovered
            }
            Some(probing) => {
                *probing = if probing.second {
                    Probing { due: now + PROBE_EVERY, second: false }
                } else {
                    Probing { due: now, second: true }
                };
                Change::None
            }
            None => Change::None,
        }
    }

    /// Moves to the best rung whose frames fit the budget: down at once, up one rung at a time
    /// once the better rung has fitted a few exchanges in a row.
    fn choose(&mut self, link: &LinkEstimate, now: Instant) {
        let (Some(rate), budget) = (link.rate(), self.budget(link)) else { return };
        let target = budget.as_secs_f64() * rate * HEADROOM;
        let best = (0..self.rungs.len())
            .find(|&r| self.size_of(r, now).is_some_and(|size| size <= target))
            .unwrap_or(self.rungs.len() - 1);
        if best > self.current {
            self.current = best;
            self.fitting_in_a_row = 0;
        } else if best < self.current {
            self.fitting_in_a_row += 1;
            if self.fitting_in_a_row >= BEFORE_UP {
                self.current -= 1;
                self.fitting_in_a_row = 0;
            }
        } else {
            self.fitting_in_a_row = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Sample;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A link of `rtt` and `mbps` (`None`: unlimited) and a server with `rule`, simulated on a
    /// virtual clock: each exchange uploads a frame of the current rung's size (the synthetic
    /// scene's sizes at 640x480) and is judged as the server would.
    struct Sim {
        rtt: Duration,
        mbps: Option<f64>,
        server: Option<Judged>,
        limit: Duration,
        /// What the server's timer counts that the client cannot see (an original server's
        /// Nagle wait before each timestamp leaves).
        unseen: Duration,
    }

    /// What the last half of a simulated run settled on.
    #[derive(Debug)]
    struct Settled {
        quality: i32,
        scale: f64,
        fps: f64,
        late: usize,
        exchanges: usize,
        probing: bool,
    }

    fn run(sim: &Sim, ceiling: i32, seconds: f64) -> Settled {
        let full = 207_000.0;
        let mut fit = Fit::new(ceiling, Some(Duration::from_secs_f64(1.0 / 30.0)), true);
        let mut link = LinkEstimate::new();
        let start = Instant::now();
        let mut now = start;
        let (mut late, mut exchanges, mut counted_from) = (0, 0, None);
        // A frame waiting in the slot was encoded at the rung of one exchange before.
        let mut encoded_at = 0;
        while now < start + Duration::from_secs_f64(seconds) {
            let rung = fit.rungs()[encoded_at];
            let bytes = (full * rung.share) as usize;
            fit.encoded(encoded_at, bytes, now);
            encoded_at = fit.current();
            let upload = sim.mbps.map_or(ms(0), |m| Duration::from_secs_f64(bytes as f64 * 8.0 / (m * 1e6)));
            let total = sim.rtt + upload;
            let lag = total + ms(1) + sim.unseen;
            let accepted = match sim.server {
                Some(Judged::Wait) => true,
                _ => lag <= sim.limit,
            };
            let report = match sim.server {
                Some(judged) if accepted => Some(LinkReport {
                    judged,
                    limit_ms: sim.limit.as_secs_f64() * 1000.0,
                    rtt_ms: sim.rtt.as_secs_f64() * 1000.0,
                    upload_ms: upload.as_secs_f64() * 1000.0,
                    wait_ms: 1.0,
                }),
                _ => None,
            };
            link.add(Sample { bytes, total, report });
            now += total.max(ms(33));
            let exchange = Exchanged { report: report.as_ref(), accepted, wait: ms(1), took: total };
            fit.exchanged(exchange, &link, now);
            if now > start + Duration::from_secs_f64(seconds / 2.0) {
                let from = *counted_from.get_or_insert(now);
                let _ = from;
                exchanges += 1;
                late += usize::from(!accepted);
            }
            if let Some(due) = fit.probe_due() {
                now = now.max(due);
            }
        }
        let rung = fit.rungs()[fit.current()];
        let secs = now.saturating_duration_since(counted_from.unwrap_or(now)).as_secs_f64().max(1e-9);
        Settled {
            quality: rung.quality,
            scale: rung.scale,
            fps: exchanges as f64 / secs,
            late,
            exchanges,
            probing: fit.probing(),
        }
    }

    fn nvt(rtt: u64, mbps: Option<f64>) -> Sim {
        Sim { rtt: ms(rtt), mbps, server: Some(Judged::Wait), limit: ms(80), unseen: ms(0) }
    }

    fn original(rtt: u64, mbps: Option<f64>) -> Sim {
        Sim { rtt: ms(rtt), mbps, server: None, limit: ms(80), unseen: ms(0) }
    }

    #[test]
    fn loopback_and_a_fast_lan_keep_quality_100_at_full_size() {
        for sim in [nvt(0, None), original(0, None), nvt(1, Some(1000.0)), original(1, Some(1000.0))] {
            let s = run(&sim, 100, 10.0);
            assert_eq!((s.quality, s.scale, s.late), (100, 1.0, 0), "{s:?}");
        }
    }

    #[test]
    fn an_nvt_server_gets_the_frame_rate_each_link_allows() {
        for (sim, fps) in [
            (nvt(6, Some(50.0)), 25.0),
            (nvt(6, Some(20.0)), 15.0),
            (nvt(30, Some(10.0)), 10.0),
            (nvt(60, Some(5.0)), 5.0),
            (nvt(120, None), 6.0),
        ] {
            let s = run(&sim, 100, 20.0);
            assert!(s.fps >= fps && s.late == 0 && !s.probing, "{s:?} over {:?} {:?}", sim.rtt, sim.mbps);
        }
    }

    #[test]
    fn an_original_server_gets_frames_that_fit_its_80_ms() {
        for sim in [original(6, Some(50.0)), original(6, Some(20.0)), original(30, Some(10.0)), original(60, Some(5.0))]
        {
            let s = run(&sim, 100, 20.0);
            assert!(s.late * 20 <= s.exchanges && s.exchanges > 0, "{s:?} over {:?} {:?}", sim.rtt, sim.mbps);
        }
    }

    #[test]
    fn a_delay_the_client_cannot_see_is_learned_from_late_frames() {
        // An original server over a real 30 ms link: Nagle holds each timestamp until the ACK
        // of its last answer comes back, a round trip its timer counts.
        let sim = Sim { unseen: ms(30), ..original(30, Some(10.0)) };
        let s = run(&sim, 100, 30.0);
        assert!(s.late * 20 <= s.exchanges && s.fps >= 10.0 && !s.probing, "{s:?}");
    }

    #[test]
    fn a_round_trip_beyond_the_limit_probes_instead() {
        let s = run(&original(120, None), 100, 20.0);
        assert!(s.probing, "{s:?}");
        assert!(s.exchanges <= 8 && s.scale <= 0.25, "a pair of small probes every few seconds: {s:?}");
    }

    #[test]
    fn sizes_are_guessed_from_the_rung_seen_last_until_the_new_one_is_seen() {
        let now = Instant::now();
        let mut fit = Fit::new(100, Some(ms(33)), true);
        fit.rule = Rule::Wait(ms(80));
        let mut link = LinkEstimate::new();
        let report = LinkReport { judged: Judged::Wait, limit_ms: 80.0, rtt_ms: 60.0, upload_ms: 330.0, wait_ms: 0.0 };
        fit.encoded(0, 207_000, now);
        link.add(Sample { bytes: 207_000, total: ms(390), report: Some(report) });
        fit.exchanged(Exchanged { report: Some(&report), accepted: true, wait: ms(0), took: ms(390) }, &link, now);
        let chosen = fit.current();
        assert!((5..=7).contains(&chosen), "about 16 KB fit 30 ms at 5 Mbit/s: rung {chosen}");
        // The next exchange still carries a frame of the old rung; nothing is known of the new.
        fit.encoded(0, 207_000, now);
        link.add(Sample { bytes: 207_000, total: ms(390), report: Some(report) });
        fit.exchanged(Exchanged { report: Some(&report), accepted: true, wait: ms(0), took: ms(390) }, &link, now);
        assert_eq!(fit.current(), chosen, "a guess from rung 0, not the smallest rung");
    }

    #[test]
    fn probing_ends_when_the_link_improves_whatever_late_frames_taught() {
        let mut fit = Fit::new(100, Some(ms(33)), true);
        let mut link = LinkEstimate::new();
        let mut now = Instant::now();
        // An original server behind 120 ms: nothing is on time, whatever the frame's size.
        for i in 0..10 {
            link.add(Sample { bytes: 2_000 + i * 20_000, total: ms(121), report: None });
            fit.exchanged(Exchanged { report: None, accepted: false, wait: ms(0), took: ms(121) }, &link, now);
            now += ms(200);
        }
        assert!(fit.probing());
        // The route changes: 6 ms. The pair's second probe, answered at once, is on time.
        let mut recovered = false;
        for i in 0..40 {
            link.add(Sample { bytes: 2_000 + (i % 4) * 1_000, total: ms(7), report: None });
            let (_, change) =
                fit.exchanged(Exchanged { report: None, accepted: false, wait: ms(0), took: ms(7) }, &link, now);
            recovered |= change == Change::Recovered;
            now += ms(100);
        }
        assert!(recovered && !fit.probing(), "the client left probing once the round trip allowed");
    }

    #[test]
    fn probes_go_in_pairs_the_second_at_once() {
        let mut fit = Fit::new(100, Some(ms(33)), true);
        let mut link = LinkEstimate::new();
        let start = Instant::now();
        for i in 0..4 {
            link.add(Sample { bytes: 2_000 + i * 20_000, total: ms(121), report: None });
            fit.exchanged(Exchanged { report: None, accepted: false, wait: ms(0), took: ms(121) }, &link, start);
        }
        let first = fit.probe_due().expect("probing");
        assert_eq!(first, start + PROBE_EVERY, "the first probe waits");
        fit.exchanged(Exchanged { report: None, accepted: false, wait: PROBE_EVERY, took: ms(121) }, &link, first);
        assert_eq!(fit.probe_due(), Some(first), "the second answers the next timestamp at once");
        fit.exchanged(Exchanged { report: None, accepted: false, wait: ms(0), took: ms(121) }, &link, first);
        assert_eq!(fit.probe_due(), Some(first + PROBE_EVERY));
    }

    #[test]
    fn fixed_quality_stays_fixed_even_when_probing() {
        let mut fit = Fit::new(90, Some(ms(33)), false);
        let mut link = LinkEstimate::new();
        for i in 0..10 {
            link.add(Sample { bytes: 20_000 + i * 10_000, total: ms(121), report: None });
            fit.exchanged(
                Exchanged { report: None, accepted: false, wait: ms(0), took: ms(121) },
                &link,
                Instant::now(),
            );
        }
        assert!(fit.probing());
        assert_eq!(fit.current(), 0, "--fixed-quality: never another rung");
    }

    #[test]
    fn the_quality_flag_is_a_ceiling() {
        let s = run(&nvt(0, None), 80, 5.0);
        assert_eq!(s.quality, 80);
        let fit = Fit::new(30, None, true);
        assert!(fit.rungs().iter().all(|r| r.quality <= 30));
        assert!(
            fit.rungs().windows(2).all(|w| (w[0].quality, w[0].scale) != (w[1].quality, w[1].scale)),
            "no rung twice"
        );
        assert!(fit.rungs().windows(2).all(|w| w[0].share > w[1].share), "smaller and smaller");
    }

    #[test]
    fn without_adapting_nothing_moves() {
        let mut fit = Fit::new(100, None, false);
        let mut link = LinkEstimate::new();
        for _ in 0..10 {
            fit.encoded(0, 207_000, Instant::now());
            link.add(Sample { bytes: 207_000, total: ms(400), report: None });
            let exchange = Exchanged { report: None, accepted: false, wait: ms(0), took: ms(400) };
            fit.exchanged(exchange, &link, Instant::now());
        }
        assert_eq!(fit.current(), 0);
    }
}
