//! The JSON Lines record of a processed frame (`--log`), as docs/server.md's "The log"
//! section documents.

use nvt_capture::{Mat, Stamp};
use nvt_transport::ReplyDetection;
use opencv::prelude::*;
use serde::Serialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One processed frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// Unix seconds when the record was made.
    pub time: f64,
    /// The feed's address (nvt-detect: the input file).
    pub source: String,
    /// The camera's name (server only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// The server's number of this frame on its connection, from 0.
    pub seq: u64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// The model that processed the frame (`null` when the server runs without one).
    pub model: Option<String>,
    /// Milliseconds spent in each stage.
    pub timings_ms: Timings,
    /// From the frame's last byte arriving (nvt-detect: its read starting) to its results being ready.
    pub latency_ms: f64,
    /// The classic handshake lag: timestamp sent to echo received (server only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<f64>,
    /// What the frame's pixel stamp says, when it carries one (nvt's synthetic source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamp: Option<StampRecord>,
    /// Detections, most confident first (none without a model).
    pub detections: Vec<nvt_transport::ReplyDetection>,
    /// Where the frame was detected, with `--nats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteRecord>,
    /// Where the detector looked, with `--detect motion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub looked: Option<crate::looking::LookRecord>,
}

/// A frame detected by a fleet worker (`--nats`).
#[derive(Debug, Clone, Serialize)]
pub struct RemoteRecord {
    /// The worker's id (`host:pid/session`).
    pub worker: String,
    /// Milliseconds from the request going out to its reply arriving.
    pub round_trip_ms: f64,
    /// Milliseconds the worker reports it spent (decode, fit, infer, post-process): the NATS
    /// hop cost the rest of the round trip.
    pub worker_ms: f64,
    /// The request's deadline, in milliseconds.
    pub deadline_ms: f64,
}

/// What was measured while a frame was processed.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Milliseconds to decode (nvt-detect: to read) the frame.
    pub decode_ms: f64,
    /// The detector's own stages.
    pub detect: nvt_detect::Timings,
    /// When the frame's last byte arrived (nvt-detect: when its read started).
    pub since: Instant,
    /// The classic handshake lag (server only).
    pub lag: Option<Duration>,
}

impl FrameRecord {
    /// The record of `image`, processed now: its size and pixel stamp are read from it, every
    /// time is rounded to 0.01 ms. The server and nvt-detect both make their records here.
    pub fn new(
        image: &Mat,
        source: String,
        seq: u64,
        model: Option<String>,
        measured: Measured,
        detections: Vec<ReplyDetection>,
    ) -> Self {
        let now = SystemTime::now();
        let stamp = Stamp::read(image).map(|s| StampRecord {
            frame: s.index,
            age_ms: round2(now.duration_since(s.captured()).map(ms).unwrap_or(0.0)),
        });
        let t = measured.detect;
        Self {
            time: now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            source,
            camera: None,
            seq,
            width: image.cols().max(0) as u32,
            height: image.rows().max(0) as u32,
            model,
            timings_ms: Timings {
                decode: round2(measured.decode_ms),
                preprocess: round2(t.preprocess),
                infer: round2(t.infer),
                postprocess: round2(t.postprocess),
                track: 0.0,
            },
            latency_ms: round2(ms(measured.since.elapsed())),
            lag_ms: measured.lag.map(|lag| round2(ms(lag))),
            stamp,
            detections,
            remote: None,
            looked: None,
        }
    }
}

/// A detection as records and replies carry it (box to 0.01 px, score to 1e-4).
pub fn to_record(d: &nvt_detect::Detection) -> ReplyDetection {
    ReplyDetection {
        class_id: d.class_id as u32,
        label: d.label.clone(),
        score: (d.score * 10_000.0).round() / 10_000.0,
        bbox: d.bbox.map(|v| (v * 100.0).round() / 100.0),
        track_id: None,
        carried: false,
        region: None,
    }
}

/// Per-stage timings in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// JPEG decode.
    pub decode: f64,
    /// Letterbox and tensor fill.
    pub preprocess: f64,
    /// ONNX Runtime's `session.run`.
    pub infer: f64,
    /// Output decoding and NMS.
    pub postprocess: f64,
    /// The tracker.
    pub track: f64,
}

/// The frame number and capture time read back from the pixels.
#[derive(Debug, Clone, Serialize)]
pub struct StampRecord {
    /// The feed's frame number.
    pub frame: u32,
    /// Capture to results ready, by the two hosts' wall clocks (exact on one host).
    pub age_ms: f64,
}

/// Unix seconds now.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounded to 0.01, as records carry milliseconds.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
