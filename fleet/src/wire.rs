//! What travels between an ingest server and a worker. A request is the frame's JPEG bytes as
//! they came from the camera, with the camera and frame number in headers; the reply is JSON.

use nvt_transport::ReplyDetection;
use serde::{Deserialize, Serialize};

/// Header naming the camera a frame comes from.
pub const CAMERA_HEADER: &str = "Nvt-Camera";

/// Header with the ingest server's number of the frame.
pub const SEQ_HEADER: &str = "Nvt-Seq";

/// Header with the request's budget in milliseconds: a worker that finds a request has waited
/// in its queue longer than this drops it unanswered (the ingest has given up on it).
pub const BUDGET_HEADER: &str = "Nvt-Budget-Ms";

/// Most detections an ingest takes from one reply (as many as a local detector keeps).
pub const MAX_DETECTIONS: usize = 300;

/// Longest label an ingest takes from a reply, in characters.
pub const MAX_LABEL: usize = 200;

/// A worker's answer to one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectReply {
    /// The worker's id (`host:pid/thread`).
    pub worker: String,
    /// The model's id (file name and content hash), as records carry it.
    pub model: String,
    /// Detections, most confident first, boxes in pixels of the frame.
    pub detections: Vec<ReplyDetection>,
    /// Milliseconds the worker spent.
    pub timings: WorkerTimings,
    /// Why the frame could not be processed (then there are no detections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The worker's own stages, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerTimings {
    /// JPEG decode.
    pub decode: f64,
    /// Letterbox and tensor fill.
    pub preprocess: f64,
    /// `session.run`.
    pub infer: f64,
    /// Output decoding and NMS.
    pub postprocess: f64,
}

impl WorkerTimings {
    /// The worker's whole time on the frame.
    pub fn total(&self) -> f64 {
        self.decode + self.preprocess + self.infer + self.postprocess
    }
}

/// Most bytes of a reply an ingest server reads (300 detections with long labels fit easily).
pub const MAX_REPLY: usize = 1 << 20;

impl DetectReply {
    /// Reads a worker's reply; anything but that JSON, or a reply over [`MAX_REPLY`], is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_REPLY {
            return Err(format!("a reply of {} bytes, more than {MAX_REPLY}", bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("not a detection reply: {e}"))
    }

    /// What an ingest keeps of a worker's detections for a frame of `width` x `height`: at most
    /// [`MAX_DETECTIONS`], finite scores in 0-1, boxes clamped into the frame, labels cut to
    /// [`MAX_LABEL`] characters, and no track id (the ingest's tracker gives those).
    pub fn sanitised(detections: Vec<ReplyDetection>, width: u32, height: u32) -> Vec<ReplyDetection> {
        let (w, h) = (width as f32, height as f32);
        detections
            .into_iter()
            .filter(|d| d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite()))
            .take(MAX_DETECTIONS)
            .map(|d| {
                let [x1, y1, x2, y2] = d.bbox;
                ReplyDetection {
                    class_id: d.class_id,
                    label: d.label.chars().take(MAX_LABEL).collect(),
                    score: d.score.clamp(0.0, 1.0),
                    bbox: [x1.clamp(0.0, w), y1.clamp(0.0, h), x2.clamp(0.0, w), y2.clamp(0.0, h)],
                    track_id: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip_and_junk_is_refused() {
        let reply = DetectReply {
            worker: "host:1/0".into(),
            model: "shapes.onnx@cf72ecb8".into(),
            detections: vec![ReplyDetection {
                class_id: 0,
                label: "red square".into(),
                score: 0.9,
                bbox: [1.0, 2.0, 3.0, 4.0],
                track_id: None,
            }],
            timings: WorkerTimings { decode: 1.0, preprocess: 2.0, infer: 3.0, postprocess: 0.5 },
            error: None,
        };
        let bytes = serde_json::to_vec(&reply).expect("json");
        assert_eq!(DetectReply::parse(&bytes).expect("parse"), reply);
        assert_eq!(reply.timings.total(), 6.5);
        assert!(DetectReply::parse(b"{}").is_err());
        let hostile = (0..1000)
            .map(|i| ReplyDetection {
                class_id: i,
                label: "x".repeat(5000),
                score: if i == 0 { f32::NAN } else { 7.0 },
                bbox: [-1e30, f32::MAX, 1e9, 5.0],
                track_id: Some(9),
            })
            .collect();
        let kept = DetectReply::sanitised(hostile, 640, 480);
        assert_eq!(kept.len(), MAX_DETECTIONS, "NaN dropped, then capped");
        assert!(kept.iter().all(|d| d.label.len() == MAX_LABEL && d.score == 1.0 && d.track_id.is_none()));
        assert_eq!(kept[0].bbox, [0.0, 480.0, 640.0, 5.0]);
        assert!(DetectReply::parse(&vec![b' '; MAX_REPLY + 1]).is_err());
    }
}
