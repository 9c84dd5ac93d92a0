//! The history's series in `/metrics`, read at scrape time: what was written, dropped and
//! removed, what the store and its files hold, and what the clip recorder did.

use crate::clips::ClipCounts;
use crate::jobs::HistoryCounts;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Counters: name, help, and what they read.
const COUNTERS: [(&str, &str); 10] = [
    ("nvt_history_written_total", "Event changes written to the event store"),
    ("nvt_history_dropped_total", "Events the event store's full queue dropped"),
    ("nvt_history_write_errors_total", "Writes to the event store that failed (their events are tried again)"),
    ("nvt_history_thumbnail_errors_total", "Thumbnails that could not be made or saved"),
    (
        "nvt_history_orphans_removed_total",
        "Events whose leftover clip or thumbnail was removed after the event was gone",
    ),
    ("nvt_clips_written_total", "Clips written"),
    ("nvt_clips_written_bytes_total", "Bytes of the clips written"),
    ("nvt_clips_failed_total", "Clips lost to a failed write (a full disk among them)"),
    ("nvt_clips_skipped_total", "Events that got no clip: too many at once, or the disk was full"),
    ("nvt_clips_frames_lost_total", "Frames a clip wanted that its camera's buffer had let go"),
];

const REMOVED: (&str, &str) =
    ("nvt_history_removed_total", "Events removed by the retention rules, by reason (age, size)");

const GAUGES: [(&str, &str); 3] = [
    ("nvt_history_events", "Events in the event store, at the last retention pass"),
    ("nvt_history_bytes", "Bytes of the event store, clips, thumbnails and snapshots, at the last retention pass"),
    ("nvt_clips_buffered_bytes", "Bytes of frames the cameras' clip buffers hold"),
];

/// The history's series.
pub struct HistoryCollector {
    history: Arc<HistoryCounts>,
    clips: Arc<ClipCounts>,
    descs: Vec<Desc>,
}

impl HistoryCollector {
    /// Reads `history` and `clips` (the recorder's, or zeros without clips).
    pub fn new(history: Arc<HistoryCounts>, clips: Option<Arc<ClipCounts>>) -> Self {
        let descs = COUNTERS
            .iter()
            .chain(GAUGES.iter())
            .chain(std::iter::once(&REMOVED))
            .filter_map(|(name, help)| Desc::new((*name).into(), (*help).into(), vec![], Default::default()).ok())
            .collect();
        Self { history, clips: clips.unwrap_or_default(), descs }
    }
}

impl Collector for HistoryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (h, c) = (&self.history, &self.clips);
        let counters: [&AtomicU64; 10] = [
            &h.written,
            &h.dropped,
            &h.write_errors,
            &h.thumbnail_errors,
            &h.orphans_removed,
            &c.written,
            &c.bytes,
            &c.failed,
            &c.skipped,
            &c.frames_lost,
        ];
        let mut families = Vec::new();
        for ((name, help), value) in COUNTERS.iter().zip(counters) {
            if let Ok(counter) = IntCounter::new(*name, *help) {
                counter.inc_by(value.load(Relaxed));
                families.extend(counter.collect());
            }
        }
        if let Ok(removed) = IntCounterVec::new(Opts::new(REMOVED.0, REMOVED.1), &["reason"]) {
            removed.with_label_values(&["age"]).inc_by(h.removed_age.load(Relaxed));
            removed.with_label_values(&["size"]).inc_by(h.removed_size.load(Relaxed));
            families.extend(removed.collect());
        }
        for ((name, help), value) in GAUGES.iter().zip([&h.events, &h.bytes, &c.ring_bytes]) {
            if let Ok(gauge) = IntGauge::new(*name, *help) {
                gauge.set(i64::try_from(value.load(Relaxed)).unwrap_or(i64::MAX));
                families.extend(gauge.collect());
            }
        }
        families
    }
}
