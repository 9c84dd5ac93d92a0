//! The detector stage: one thread owns the ONNX Runtime session and serves the clients in turn,
//! always taking each client's newest decoded frame, so a busy client cannot starve the others
//! and no client's frames queue up behind the model.

use crate::pipeline::{self, Client, Decoded, Output, Results};
use nvt_detect::{draw, Detection, Detector};
use nvt_transport::ReplyDetection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The detector thread and the clients it serves.
pub struct DetectorStage {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The loaded model's id, e.g. `shapes.onnx@3fa9c2e1`.
    pub model: String,
}

struct Shared {
    clients: Mutex<Vec<Arc<Client>>>,
    /// A new model, loaded and warmed up elsewhere, waiting to be swapped in between frames.
    pending: Mutex<Option<Detector>>,
    /// Bumped on every submitted frame; the thread sleeps on it when there is nothing to do.
    work: Mutex<u64>,
    wake: Condvar,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DetectorStage {
    /// Starts the thread that runs `detector`, sending finished frames to `output`.
    pub fn start(detector: Detector, output: Arc<Output>) -> std::io::Result<Self> {
        let model = detector.info().id.clone();
        let shared = Arc::new(Shared {
            clients: Mutex::default(),
            pending: Mutex::default(),
            work: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("detector".into()).spawn(move || run(detector, &shared, &output))?
        };
        Ok(Self { shared, thread: Mutex::new(Some(thread)), model })
    }

    /// Serves a new client.
    pub fn register(&self, client: &Arc<Client>) {
        lock(&self.shared.clients).push(Arc::clone(client));
    }

    /// Stops serving a client; a frame of it still waiting is dropped.
    pub fn unregister(&self, client: &Arc<Client>) {
        lock(&self.shared.clients).retain(|c| !Arc::ptr_eq(c, client));
    }

    /// Offers a client's newest decoded frame; it replaces one the detector has not taken yet.
    pub fn submit(&self, client: &Client, frame: Decoded) {
        if client.decoded.put(frame) {
            client.bump(|c| &c.superseded);
        }
        *lock(&self.shared.work) += 1;
        self.shared.wake.notify_one();
    }

    /// Hands over a new model; the detector thread swaps it in before its next frame.
    pub fn offer(&self, detector: Detector) {
        *lock(&self.shared.pending) = Some(detector);
        *lock(&self.shared.work) += 1;
        self.shared.wake.notify_one();
    }

    /// Finishes the frame in hand and stops the thread.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

fn run(mut detector: Detector, shared: &Shared, output: &Output) {
    let mut next = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let seen = *lock(&shared.work);
        if let Some(new) = lock(&shared.pending).take() {
            let old = std::mem::replace(&mut detector, new);
            let info = detector.info();
            tracing::info!(
                from = %old.info().id,
                to = %info.id,
                layout = ?info.layout,
                classes = info.names.len(),
                load_ms = format!("{:.1}", detector.load_time().as_secs_f64() * 1000.0),
                warm_up_ms = format!("{:.1}", detector.warm_up_time().as_secs_f64() * 1000.0),
                "model swapped"
            );
            let metrics = &output.metrics;
            metrics.model_info.reset();
            metrics.model_info.with_label_values(&[&info.id]).set(1.0);
            metrics.model_load_seconds.set(detector.load_time().as_secs_f64());
            // The old session is released here, on this thread, between frames.
            drop(old);
        }
        match take_next(shared, &mut next) {
            Some((client, frame)) => process(&mut detector, &client, frame, output),
            None => {
                let work = lock(&shared.work);
                let _ = shared.wake.wait_timeout_while(work, Duration::from_millis(200), |w| {
                    *w == seen && !shared.stop.load(Ordering::Relaxed)
                });
            }
        }
    }
}

/// Round robin: the first client after the last one served that has a frame waiting.
fn take_next(shared: &Shared, next: &mut usize) -> Option<(Arc<Client>, Decoded)> {
    let clients = lock(&shared.clients);
    let n = clients.len();
    (0..n).find_map(|i| {
        let at = (*next + i) % n;
        let frame = clients[at].decoded.try_take()?;
        *next = at + 1;
        Some((Arc::clone(&clients[at]), frame))
    })
}

fn process(detector: &mut Detector, client: &Client, mut frame: Decoded, output: &Output) {
    let (detections, timings) = match detector.detect(&frame.image) {
        Ok(found) => found,
        Err(error) => {
            client.bump(|c| &c.detect_errors);
            tracing::warn!(peer = %client.peer, seq = frame.seq, %error, "detection failed");
            return;
        }
    };
    if client.watched() {
        for d in &detections {
            if let Err(error) = draw::draw_box(&mut frame.image, d.bbox, d.class_id, &d.label, d.score) {
                tracing::warn!(%error, "cannot draw a box");
            }
        }
    }
    let results =
        Results { model: detector.info().id.clone(), detections: detections.iter().map(to_record).collect(), timings };
    pipeline::finish(client, output, frame, Some(results));
}

/// A detection as records and replies carry it (box to 0.01 px, score to 1e-4).
pub fn to_record(d: &Detection) -> ReplyDetection {
    ReplyDetection {
        class_id: d.class_id as u32,
        label: d.label.clone(),
        score: (d.score * 10_000.0).round() / 10_000.0,
        bbox: d.bbox.map(|v| (v * 100.0).round() / 100.0),
    }
}
