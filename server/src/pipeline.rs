//! A client's worker thread: takes the newest fresh frame from the client's slot, decodes it,
//! reads its pixel stamp, writes its record, hands the picture to the window and makes the
//! result the reply for the client's next exchanges.

use crate::record::{FrameRecord, StampRecord, Timings};
use crate::stats::Counters;
use bytes::Bytes;
use nvt_capture::slot::{Slot, Taken};
use nvt_capture::{jpeg, Mat, Stamp};
use nvt_transport::{JsonLines, ReplyDoc};
use opencv::prelude::*;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A fresh frame waiting for the worker.
pub struct Incoming {
    /// The server's number of the frame on its connection.
    pub seq: u64,
    /// The JPEG bytes.
    pub payload: Bytes,
    /// When its last byte arrived.
    pub arrived: Instant,
    /// The handshake lag it passed with.
    pub lag: Duration,
}

/// What a client's network task and worker share.
pub struct Client {
    /// The client's address, as logs and window titles show it.
    pub peer: String,
    /// Newest-wins hand-over from the network task to the worker.
    pub frames: Slot<Incoming>,
    /// The reply for the next exchanges: the latest processed frame's results.
    pub latest: Mutex<ReplyDoc>,
    /// This client's counters.
    pub counters: Counters,
    /// Every client's counters summed.
    pub totals: Arc<Counters>,
}

impl Client {
    /// A client with nothing processed yet.
    pub fn new(peer: String, totals: Arc<Counters>) -> Self {
        Self { peer, frames: Slot::new(), latest: Mutex::default(), counters: Counters::default(), totals }
    }

    /// Adds one to a counter of this client and of the totals.
    pub fn bump(&self, pick: impl Fn(&Counters) -> &AtomicU64) {
        Counters::bump(pick(&self.counters));
        Counters::bump(pick(&self.totals));
    }

    /// The reply to send now.
    pub fn reply(&self) -> [u8; nvt_transport::field::REPLY_LEN] {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).encode()
    }
}

/// What the worker needs besides its client.
pub struct Stage {
    /// Where records go.
    pub log: Option<Arc<JsonLines>>,
    /// Largest image decoded.
    pub max_pixels: u64,
    /// The client's window, with `--show`.
    pub window: Option<Arc<Slot<Mat>>>,
}

/// Starts the worker; it ends when the client's slot is closed and empty.
pub fn spawn(client: Arc<Client>, stage: Stage) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("frames {}", client.peer)).spawn(move || loop {
        match client.frames.take_timeout(Duration::from_secs(1)) {
            Taken::Value(frame) => process(&client, &stage, frame),
            Taken::Timeout => continue,
            Taken::Closed => break,
        }
    })
}

fn process(client: &Client, stage: &Stage, frame: Incoming) {
    let started = Instant::now();
    let image = match jpeg::decode(&frame.payload, stage.max_pixels) {
        Ok(image) => image,
        Err(error) => {
            client.bump(|c| &c.decode_errors);
            tracing::warn!(peer = %client.peer, seq = frame.seq, %error, "frame refused: cannot decode");
            return;
        }
    };
    let decode_ms = ms(started.elapsed());
    let now = SystemTime::now();
    let stamp = Stamp::read(&image)
        .map(|s| StampRecord { frame: s.index, age_ms: now.duration_since(s.captured()).map(ms).unwrap_or(0.0) });
    let record = FrameRecord {
        time: now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        source: client.peer.clone(),
        seq: frame.seq,
        width: image.cols() as u32,
        height: image.rows() as u32,
        model: None,
        timings_ms: Timings { decode: round2(decode_ms) },
        latency_ms: round2(ms(frame.arrived.elapsed())),
        lag_ms: round2(ms(frame.lag)),
        stamp,
        detections: Vec::new(),
    };
    *client.latest.lock().unwrap_or_else(|p| p.into_inner()) = ReplyDoc { seq: frame.seq, ..ReplyDoc::default() };
    if let Some(log) = &stage.log {
        if let Err(error) = log.write(&record) {
            tracing::error!(%error, "cannot write the log");
        }
    }
    if let Some(window) = &stage.window {
        window.put(image);
    }
    client.bump(|c| &c.processed);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
