//! What happens to a client's frames after the network, behind one interface: a server without
//! a model only decodes them ([`DecodeOnly`]), one with a model detects in them
//! ([`crate::detection::DetectorStage`]). The session hands frames over through the client's
//! newest-wins slot and tells the stage; it never asks which stage it has.

use crate::client::{Client, Incoming};
use crate::pipeline::{self, Output};
use nvt_capture::slot::Taken;
use nvt_support::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A stage that takes each client's newest frame from its slot and finishes it.
pub trait FrameStage: Send + Sync {
    /// Starts serving `client`, whose frames will arrive in `client.frames`.
    fn register(&self, client: &Arc<Client>) -> std::io::Result<()>;
    /// Tells the stage that `client` has a new frame in its slot.
    fn frame_arrived(&self, client: &Client);
    /// Stops serving `client`, whose slot has been closed; blocks until the frame in hand, if any,
    /// is finished, so that its record is written before the client is reported gone.
    fn unregister(&self, client: &Arc<Client>);
    /// Finishes the frames in hand and stops.
    fn stop(&self);
}

/// Starts a thread named `name` that hands each of `client`'s newest frames to `each`, until the
/// client's slot is closed.
pub fn per_client_thread(
    client: &Arc<Client>,
    name: String,
    mut each: impl FnMut(&Client, Incoming) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let client = Arc::clone(client);
    std::thread::Builder::new().name(name).spawn(move || loop {
        match client.frames.take_timeout(Duration::from_secs(1)) {
            Taken::Value(frame) => each(&client, frame),
            Taken::Timeout => continue,
            Taken::Closed => break,
        }
    })
}

/// No model: each client gets a worker thread that decodes its newest frame and finishes it.
pub struct DecodeOnly {
    output: Arc<Output>,
    max_pixels: u64,
    workers: Mutex<HashMap<u64, JoinHandle<()>>>,
}

impl DecodeOnly {
    /// Decodes frames of at most `max_pixels` and sends them to `output`.
    pub fn new(output: Arc<Output>, max_pixels: u64) -> Self {
        Self { output, max_pixels, workers: Mutex::default() }
    }
}

impl FrameStage for DecodeOnly {
    fn register(&self, client: &Arc<Client>) -> std::io::Result<()> {
        let (output, max_pixels) = (Arc::clone(&self.output), self.max_pixels);
        let worker = per_client_thread(client, format!("frames {}", client.peer), move |client, frame| {
            if let Some(decoded) = pipeline::decode(client, frame, max_pixels) {
                pipeline::finish(client, &output, decoded, None);
            }
        })?;
        lock(&self.workers).insert(client.id, worker);
        Ok(())
    }

    fn frame_arrived(&self, _client: &Client) {}

    fn unregister(&self, client: &Arc<Client>) {
        let worker = lock(&self.workers).remove(&client.id);
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }

    fn stop(&self) {}
}
