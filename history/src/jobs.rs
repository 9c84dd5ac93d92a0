//! What the history's writer task is handed ([`Job`]: from the events hub's output, from the
//! history itself) and what it counts ([`HistoryCounts`], for `/metrics`).

use crate::store::Change;
use nvt_capture::Mat;
use nvt_events::EventObject;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What the history did, for `/metrics`.
#[derive(Debug, Default)]
pub struct HistoryCounts {
    /// Changes written.
    pub written: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Writes that failed (their changes are tried again).
    pub write_errors: AtomicU64,
    /// Events removed for their age.
    pub removed_age: AtomicU64,
    /// Events removed to stay within the size.
    pub removed_size: AtomicU64,
    /// Events in the store, at the last count.
    pub events: AtomicU64,
    /// Bytes of the store, clips, thumbnails and snapshots, at the last count.
    pub bytes: AtomicU64,
    /// Thumbnails that could not be made or saved.
    pub thumbnail_errors: AtomicU64,
    /// Events whose leftover clip or thumbnail was removed after the event was gone (see
    /// [`crate::retention::orphans`]).
    pub orphans_removed: AtomicU64,
}

/// One job for the writer.
pub(crate) enum Job {
    Change(Change),
    Thumbnail { object: Box<EventObject>, image: Arc<Mat> },
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}
