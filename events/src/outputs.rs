//! Where a hub's events go, and what it keeps for the web view and `/metrics`.

use crate::mqtt::Publisher;
use crate::object::Event;
use crate::snapshots::SnapshotStore;
use nvt_capture::Mat;
use nvt_support::JsonLines;
use serde::Serialize;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Events the web view keeps, newest last.
pub const RECENT_EVENTS: usize = 50;

/// Another place events go (the fleet's JetStream stream). It is called on the hub's thread, in
/// the order events are made, and must not block.
pub trait EventOutput: Send {
    /// Takes one event.
    fn event(&self, event: &Event);

    /// Takes one event with its object's best frame when that changed with it (for an output
    /// that makes pictures); by default only the event.
    fn event_with_frame(&self, event: &Event, _best_frame: Option<&Arc<Mat>>) {
        self.event(event);
    }
}

/// Where events go.
#[derive(Default)]
pub struct Outputs {
    /// `--events PATH`: one JSON line per event.
    pub log: Option<Arc<JsonLines>>,
    /// `--snapshots DIR`.
    pub snapshots: Option<SnapshotStore>,
    /// `--mqtt URL`.
    pub mqtt: Option<Publisher>,
    /// Any other outputs.
    pub others: Vec<Box<dyn EventOutput>>,
}

/// An event as the web view lists it, with its snapshot when it has one.
#[derive(Clone, Serialize)]
pub struct Recent {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// The snapshot JPEG (served at `/api/events/{id}/snapshot.jpg`, not in the JSON).
    #[serde(skip)]
    pub jpeg: Option<Arc<Vec<u8>>>,
}

/// Counts of what the hub did, for `/metrics`.
#[derive(Debug, Default)]
pub struct EventCounts {
    /// `new` events.
    pub new: AtomicU64,
    /// `update` events.
    pub update: AtomicU64,
    /// `end` events.
    pub end: AtomicU64,
    /// Snapshots that could not be saved.
    pub snapshot_errors: AtomicU64,
    /// Frames left out of events because the hub's queue was full.
    pub frames_skipped: AtomicU64,
    /// New tracks left out of events because their camera's book was full of objects that may
    /// publish (counted each frame).
    pub objects_refused: AtomicU64,
}
