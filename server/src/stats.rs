//! The server's own counts, read by the periodic stats line and returned by [`crate::run`]: its
//! connections, and the stats line itself. Each camera's frame counts are
//! [`nvt_pipeline::Counters`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

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

/// The connection counters in `/metrics`.
const CONNECTION_COUNTERS: [(&str, &str); 3] = [
    ("nvt_connections_total", "Connections accepted"),
    ("nvt_connections_refused_total", "Connections refused at --max-clients or --max-clients-per-ip"),
    ("nvt_connections_failed_total", "Connections dropped for a protocol violation, timeout or socket error"),
];

/// `connections` as Prometheus counters, read at each scrape.
pub fn connection_metrics(connections: Arc<Connections>) -> nvt_pipeline::metrics::ScrapedCounters {
    nvt_pipeline::metrics::ScrapedCounters::new(&CONNECTION_COUNTERS, move || {
        vec![connections.accepted.load(Relaxed), connections.refused.load(Relaxed), connections.failed.load(Relaxed)]
    })
}
