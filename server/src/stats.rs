//! Counters kept while serving, read by the periodic stats line and returned by [`crate::run`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters for one client, or summed over all of them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Distinct frames whose echo came back in time.
    pub fresh: AtomicU64,
    /// Frames the client sent again, byte for byte, to keep the handshake fresh; answered from
    /// the first copy's results, never decoded again.
    pub repeated: AtomicU64,
    /// Frames answered '0' because they were late (see `nvt_transport::freshness`).
    pub stale: AtomicU64,
    /// Of those, frames the link alone made late (the strict `--max-lag` rule only).
    pub stale_link: AtomicU64,
    /// Fresh frames refused because their header was not an acceptable image.
    pub refused: AtomicU64,
    /// Frames decoded and logged.
    pub processed: AtomicU64,
    /// Frames that failed to decode.
    pub decode_errors: AtomicU64,
    /// Frames the detector failed on.
    pub detect_errors: AtomicU64,
    /// Frames replaced in a newest-wins slot before the worker or detector took them.
    pub superseded: AtomicU64,
}

impl Counters {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> CounterValues {
        CounterValues {
            fresh: self.fresh.load(Relaxed),
            repeated: self.repeated.load(Relaxed),
            stale: self.stale.load(Relaxed),
            stale_link: self.stale_link.load(Relaxed),
            refused: self.refused.load(Relaxed),
            processed: self.processed.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            detect_errors: self.detect_errors.load(Relaxed),
            superseded: self.superseded.load(Relaxed),
        }
    }
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    /// See [`Counters::fresh`].
    pub fresh: u64,
    /// See [`Counters::repeated`].
    pub repeated: u64,
    /// See [`Counters::stale`].
    pub stale: u64,
    /// See [`Counters::stale_link`].
    pub stale_link: u64,
    /// See [`Counters::refused`].
    pub refused: u64,
    /// See [`Counters::processed`].
    pub processed: u64,
    /// See [`Counters::decode_errors`].
    pub decode_errors: u64,
    /// See [`Counters::detect_errors`].
    pub detect_errors: u64,
    /// See [`Counters::superseded`].
    pub superseded: u64,
}

/// Server-wide connection counters.
#[derive(Debug, Default)]
pub struct Connections {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections refused because `--max-clients` were already connected.
    pub refused: AtomicU64,
    /// Connections ended by a protocol violation, timeout or socket error.
    pub failed: AtomicU64,
}

/// The stats line, as it is logged every `--stats-every` and published to `<prefix>/stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatsLine {
    /// Unix seconds.
    pub time: f64,
    /// Clients connected.
    pub clients: usize,
    /// Tokio tasks alive.
    pub tasks: usize,
    /// The process's threads.
    pub threads: u64,
    /// Its resident memory in KiB.
    pub rss_kib: u64,
    /// Frames accepted per second over the interval.
    pub fps_in: f64,
    /// Frames processed per second over the interval.
    pub fps_processed: f64,
    /// Frames answered stale in the interval.
    pub stale: u64,
    /// Repeated frames in the interval.
    pub repeated: u64,
    /// Mean milliseconds from a frame's arrival to its results, over the interval (0 without
    /// frames).
    pub latency_ms: f64,
    /// Percent of the interval the inference workers spent on frames.
    pub detector_busy: f64,
}

/// This process's resident memory in KiB and thread count, from `/proc/self/status` (Linux).
pub fn process_usage() -> (u64, u64) {
    process_usage_of("self")
}

/// The same for process `pid` (`"self"` for this one); zeros where `/proc` does not tell.
pub fn process_usage_of(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}
