//! What happens to a feed's frames after the network, behind one interface: a server without
//! a model only decodes them ([`DecodeOnly`]), one with a model detects in them
//! ([`crate::local::DetectorStage`]). The session hands frames over through the feed's
//! newest-wins slot and tells the stage; it never asks which stage it has.

use crate::detection::Detection;
use crate::feed::{Feed, Incoming};
use crate::frame::{self, Output};
use nvt_capture::slot::Taken;
use nvt_support::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A stage that takes each feed's newest frame from its slot and finishes it.
pub trait FrameStage: Send + Sync {
    /// Starts serving `feed`, whose frames will arrive in `feed.frames`.
    fn register(&self, feed: &Arc<Feed>) -> std::io::Result<()>;
    /// Tells the stage that `feed` has a new frame in its slot.
    fn frame_arrived(&self, feed: &Feed);
    /// Stops serving `feed`, whose slot has been closed; blocks until the frame in hand, if any,
    /// is finished, so that its record is written before the feed is reported gone.
    fn unregister(&self, feed: &Arc<Feed>);
    /// Finishes the frames in hand and stops.
    fn stop(&self);
    /// Whether `feed`'s frames get detections at `now`, and if not why; for the stage as a whole
    /// without a feed.
    fn detection(&self, feed: Option<&Feed>, now: Instant) -> Detection;
}

/// Starts a thread named `name` that hands each of `feed`'s newest frames to `each`, until the
/// feed's slot is closed.
pub fn per_client_thread(
    feed: &Arc<Feed>,
    name: String,
    mut each: impl FnMut(&Feed, Incoming) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let feed = Arc::clone(feed);
    std::thread::Builder::new().name(name).spawn(move || loop {
        match feed.frames.take_timeout(Duration::from_secs(1)) {
            Taken::Value(frame) => each(&feed, frame),
            Taken::Timeout => continue,
            Taken::Closed => break,
        }
    })
}

/// No model: each feed gets a worker thread that decodes its newest frame and finishes it.
pub struct DecodeOnly {
    output: Arc<Output>,
    max_pixels: u64,
    workers: Mutex<HashMap<u64, JoinHandle<()>>>,
    why: Detection,
}

impl DecodeOnly {
    /// Decodes frames of at most `max_pixels` and sends them to `output`; `why` says why there is
    /// no detection (the web view shows it).
    pub fn new(output: Arc<Output>, max_pixels: u64, why: Detection) -> Self {
        Self { output, max_pixels, workers: Mutex::default(), why }
    }
}

impl FrameStage for DecodeOnly {
    fn register(&self, feed: &Arc<Feed>) -> std::io::Result<()> {
        let (output, max_pixels) = (Arc::clone(&self.output), self.max_pixels);
        let worker = per_client_thread(feed, format!("frames {}", feed.peer), move |feed, frame| {
            if let Some(decoded) = frame::decode(feed, frame, max_pixels) {
                frame::finish(feed, &output, decoded, None);
            }
        })?;
        lock(&self.workers).insert(feed.id, worker);
        Ok(())
    }

    fn frame_arrived(&self, _client: &Feed) {}

    fn unregister(&self, feed: &Arc<Feed>) {
        let worker = lock(&self.workers).remove(&feed.id);
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }

    fn stop(&self) {}

    fn detection(&self, _feed: Option<&Feed>, _now: Instant) -> Detection {
        self.why.clone()
    }
}
