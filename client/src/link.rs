//! What the client knows of its link to the server: the round trip and the upload rate, learned
//! from its own exchanges.
//!
//! Each exchange takes, from the frame's first byte written to the server's verdict, one round
//! trip plus the frame's upload: `T = rtt + bytes / rate`. An nvt-server says in its reply how
//! long the frame took to arrive (first byte to last), which splits the two at once. An
//! original server says nothing, so the two are fitted as a straight line through the recent
//! exchanges' (bytes, T), whose sizes differ as the client changes quality; while they do not
//! differ enough, the rate stays as it was and the round trip follows.

use nvt_transport::LinkReport;
use std::collections::VecDeque;
use std::time::Duration;

/// How many recent exchanges the estimate is made from.
const WINDOW: usize = 16;

/// An upload shorter than this cannot be timed well: rates are worked out as if it took this.
const SHORTEST_UPLOAD: Duration = Duration::from_millis(1);

/// Sizes that differ by less than this factor cannot separate the rate from the round trip.
const SPREAD: f64 = 1.25;

/// One exchange as the client timed it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Bytes sent: the JPEG and the protocol's fields.
    pub bytes: usize,
    /// From the frame's first byte written to the verdict read.
    pub total: Duration,
    /// How the server judged it, when it said (nvt-server's reply).
    pub report: Option<LinkReport>,
}

/// The link's round trip and upload rate, as recent exchanges show them.
#[derive(Debug, Default)]
pub struct LinkEstimate {
    samples: VecDeque<Sample>,
    rtt: Option<Duration>,
    /// Bytes per second.
    rate: Option<f64>,
}

impl LinkEstimate {
    /// Knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The round trip: what an exchange takes besides the upload.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The upload rate in bytes per second.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// How long `bytes` would take to upload, when the rate is known.
    pub fn upload_time(&self, bytes: usize) -> Option<Duration> {
        self.rate.map(|rate| Duration::from_secs_f64(bytes as f64 / rate))
    }

    /// Learns from one exchange.
    pub fn add(&mut self, sample: Sample) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        let reported: Vec<(usize, Duration, Duration)> = self
            .samples
            .iter()
            .filter_map(|s| {
                s.report.map(|r| (s.bytes, s.total, Duration::from_secs_f64(r.upload_ms.max(0.0) / 1000.0)))
            })
            .collect();
        if reported.len() * 2 >= self.samples.len() {
            self.learn_from_reports(&reported);
        } else {
            self.learn_from_timings();
        }
    }

    /// The server timed each upload: the rate is the bytes over the time, the round trip what
    /// is left of each exchange.
    fn learn_from_reports(&mut self, reported: &[(usize, Duration, Duration)]) {
        let bytes: f64 = reported.iter().map(|(b, _, _)| *b as f64).sum();
        let time: f64 = reported.iter().map(|(_, _, up)| up.max(&SHORTEST_UPLOAD).as_secs_f64()).sum();
        self.rate = Some(bytes / time);
        let mut rest: Vec<Duration> = reported.iter().map(|(_, total, up)| total.saturating_sub(*up)).collect();
        self.rtt = Some(median(&mut rest));
    }

    /// Only the client's own timings: a line through (bytes, T) when the sizes differ enough.
    fn learn_from_timings(&mut self) {
        let points: Vec<(f64, f64)> = self.samples.iter().map(|s| (s.bytes as f64, s.total.as_secs_f64())).collect();
        let n = points.len() as f64;
        let (min, max) = points.iter().fold((f64::MAX, 0.0f64), |(lo, hi), (b, _)| (lo.min(*b), hi.max(*b)));
        if points.len() >= 4 && max >= SPREAD * min {
            let (mb, mt) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
            let cov: f64 = points.iter().map(|(b, t)| (b - mb) * (t - mt)).sum();
            let var: f64 = points.iter().map(|(b, _)| (b - mb) * (b - mb)).sum();
            let slope = cov / var;
            // A slope of about nothing: the uploads are too quick to see next to the round trip.
            let shortest = SHORTEST_UPLOAD.as_secs_f64() / max;
            self.rate = Some(1.0 / slope.max(shortest));
        }
        let Some(rate) = self.rate else {
            // Nothing to go on yet: as if there were no round trip, the slowest the rate can be.
            let mut rates: Vec<f64> = points.iter().map(|(b, t)| b / t.max(SHORTEST_UPLOAD.as_secs_f64())).collect();
            rates.sort_by(f64::total_cmp);
            self.rate = Some(rates[rates.len() / 2]);
            self.rtt = Some(Duration::ZERO);
            return;
        };
        let mut rest: Vec<Duration> =
            points.iter().map(|(b, t)| Duration::from_secs_f64((t - b / rate).max(0.0))).collect();
        self.rtt = Some(median(&mut rest));
    }
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvt_transport::Judged;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    /// An exchange of `bytes` over a link of `rtt_ms` and `mbps`.
    fn over(rtt_ms: f64, mbps: f64, bytes: usize, reported: bool) -> Sample {
        let upload_ms = bytes as f64 * 8.0 / (mbps * 1e6) * 1000.0;
        let report =
            reported.then_some(LinkReport { judged: Judged::Wait, limit_ms: 80.0, rtt_ms, upload_ms, wait_ms: 0.0 });
        Sample { bytes, total: ms(rtt_ms + upload_ms), report }
    }

    fn close(a: f64, b: f64, share: f64) -> bool {
        (a - b).abs() <= share * b.abs()
    }

    #[test]
    fn an_nvt_servers_reports_split_the_exchange_at_once() {
        let mut link = LinkEstimate::new();
        link.add(over(60.0, 5.0, 200_000, true));
        let rate = link.rate().expect("rate");
        assert!(close(rate, 625_000.0, 0.01), "{rate}");
        assert!(close(link.rtt().expect("rtt").as_secs_f64(), 0.060, 0.01));
        assert!(close(link.upload_time(25_000).expect("time").as_secs_f64(), 0.040, 0.01));
    }

    #[test]
    fn without_reports_a_line_through_the_timings_finds_both() {
        let mut link = LinkEstimate::new();
        link.add(over(30.0, 10.0, 200_000, false));
        assert_eq!(link.rtt(), Some(Duration::ZERO), "one exchange: as if all of it were upload");
        assert!(link.rate().expect("rate") < 1_250_000.0, "a rate on the slow side");
        for bytes in [120_000, 80_000, 60_000, 45_000, 45_000, 45_000] {
            link.add(over(30.0, 10.0, bytes, false));
        }
        assert!(close(link.rate().expect("rate"), 1_250_000.0, 0.02), "{:?}", link.rate());
        assert!(close(link.rtt().expect("rtt").as_secs_f64(), 0.030, 0.05), "{:?}", link.rtt());
    }

    #[test]
    fn a_long_round_trip_with_quick_uploads_is_all_round_trip() {
        let mut link = LinkEstimate::new();
        for bytes in [200_000, 100_000, 60_000, 30_000, 10_000] {
            link.add(Sample { bytes, total: ms(121.0), report: None });
        }
        assert!(close(link.rtt().expect("rtt").as_secs_f64(), 0.121, 0.02), "{:?}", link.rtt());
        assert!(link.upload_time(200_000).expect("time") <= ms(1.0));
    }

    #[test]
    fn loopback_uploads_too_quick_to_time_give_a_huge_rate() {
        let mut link = LinkEstimate::new();
        for _ in 0..5 {
            link.add(Sample { bytes: 207_000, total: ms(0.6), report: None });
        }
        assert!(link.rate().expect("rate") > 100e6, "{:?}", link.rate());
        let mut link = LinkEstimate::new();
        let mut sample = over(0.2, 10_000.0, 207_000, true);
        if let Some(report) = &mut sample.report {
            report.upload_ms = 0.1;
        }
        link.add(sample);
        assert!(link.rate().expect("rate") > 100e6, "{:?}", link.rate());
    }
}
