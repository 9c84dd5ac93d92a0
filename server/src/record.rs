//! The JSON Lines record of a processed frame (`--log`), as the README's "What the logs contain"
//! section documents.

use serde::Serialize;

/// One processed frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// Unix seconds when the record was made.
    pub time: f64,
    /// The client's address.
    pub source: String,
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
}

/// The frame number and capture time read back from the pixels.
#[derive(Debug, Clone, Serialize)]
pub struct StampRecord {
    /// The client's frame number.
    pub frame: u32,
    /// Capture to results ready, by the two hosts' wall clocks (exact on one host).
    pub age_ms: f64,
}
