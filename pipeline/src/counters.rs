//! What happened to a camera's frames, counted: by the network side (fresh, repeated, stale,
//! refused) and by the frame path (processed, failed, superseded); per camera, and summed over
//! all of them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters for one feed, or summed over all of them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Distinct frames whose echo came back in time.
    pub fresh: AtomicU64,
    /// Frames the feed sent again, byte for byte, to keep the handshake fresh; answered from
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
    /// Frames the detector failed on, or the fleet's workers did not answer.
    pub detect_errors: AtomicU64,
    /// Frames replaced in a newest-wins slot before the worker or detector took them.
    pub superseded: AtomicU64,
    /// Detector runs: one per frame looked at whole, one per region (`--detect motion`).
    pub detector_runs: AtomicU64,
    /// Processed frames the detector did not run on: nothing moved and no tracked object was
    /// due a look, so the tracker carried the objects over (`--detect motion`).
    pub carried: AtomicU64,
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
            detector_runs: self.detector_runs.load(Relaxed),
            carried: self.carried.load(Relaxed),
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
    /// See [`Counters::detector_runs`].
    pub detector_runs: u64,
    /// See [`Counters::carried`].
    pub carried: u64,
}

impl CounterValues {
    /// Frames the frame path has finished with: processed, or failed.
    pub fn finished(&self) -> u64 {
        self.processed + self.decode_errors + self.detect_errors
    }

    /// Fresh frames the frame path has not finished with yet: neither finished nor superseded.
    pub fn in_flight(&self) -> u64 {
        self.fresh.saturating_sub(self.finished() + self.superseded)
    }
}
