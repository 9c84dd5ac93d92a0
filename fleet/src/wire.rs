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

/// Longest worker id an ingest takes from a reply (`host:pid/thread`), in characters.
pub const MAX_WORKER: usize = 100;

/// Longest model id an ingest takes from a reply, in characters.
pub const MAX_MODEL: usize = 200;

/// Longest error an ingest takes from a reply, in characters.
pub const MAX_ERROR: usize = 300;

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

    /// What an ingest keeps of the times a worker states, given the request's measured round
    /// trip: a worker cannot have spent longer on a frame than the ingest waited for it, so each
    /// time is made finite, at least 0, and all of them together at most `round_trip_ms`.
    pub fn bounded(self, round_trip_ms: f64) -> Self {
        let limit = if round_trip_ms.is_finite() { round_trip_ms.max(0.0) } else { 0.0 };
        let each = |v: f64| if v.is_finite() { v.clamp(0.0, limit) } else { 0.0 };
        let kept = Self {
            decode: each(self.decode),
            preprocess: each(self.preprocess),
            infer: each(self.infer),
            postprocess: each(self.postprocess),
        };
        let total = kept.total();
        if total <= limit {
            return kept;
        }
        let scale = limit / total;
        Self {
            decode: kept.decode * scale,
            preprocess: kept.preprocess * scale,
            infer: kept.infer * scale,
            postprocess: kept.postprocess * scale,
        }
    }
}

/// `text` as it may go into a log line or a record: at most `max_chars` characters, with control
/// characters (newlines, escape sequences) and the invisible ones that reorder or hide text
/// written as escapes (`\n`, `\u{1b}`, `\u{202e}`), so that a peer's string can neither forge a
/// line nor colour a terminal.
pub fn escaped(text: &str, max_chars: usize) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
    };
    let mut out = String::with_capacity(text.len().min(max_chars));
    for c in text.chars().take(max_chars) {
        match c {
            '\n' | '\r' | '\t' | '\0' => out.extend(c.escape_debug()),
            c if hidden(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Most bytes of a reply an ingest server reads (300 detections with long labels fit easily).
pub const MAX_REPLY: usize = 1 << 20;

impl DetectReply {
    /// Reads a worker's reply; anything but that JSON, or a reply over [`MAX_REPLY`], is an error.
    /// Its strings come back cut and escaped (see [`escaped`]): the worker id to [`MAX_WORKER`]
    /// characters, the model id to [`MAX_MODEL`], the error to [`MAX_ERROR`]. The error says
    /// what was wrong, escaped, without repeating the reply.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_REPLY {
            return Err(format!("a reply of {} bytes, more than {MAX_REPLY}", bytes.len()));
        }
        let mut reply: Self = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a detection reply: {}", escaped(&e.to_string(), MAX_ERROR)))?;
        reply.worker = escaped(&reply.worker, MAX_WORKER);
        reply.model = escaped(&reply.model, MAX_MODEL);
        reply.error = reply.error.map(|e| escaped(&e, MAX_ERROR));
        Ok(reply)
    }

    /// What an ingest keeps of a worker's detections for a frame of `width` x `height`: at most
    /// [`MAX_DETECTIONS`], finite scores in 0-1, boxes clamped into the frame, labels cut to
    /// [`MAX_LABEL`] characters and escaped, and no track id (the ingest's tracker gives those).
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
                    label: escaped(&d.label, MAX_LABEL),
                    score: d.score.clamp(0.0, 1.0),
                    bbox: [x1.clamp(0.0, w), y1.clamp(0.0, h), x2.clamp(0.0, w), y2.clamp(0.0, h)],
                    track_id: None,
                    carried: false,
                    region: None,
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
                carried: false,
                region: None,
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
                carried: false,
                region: None,
            })
            .collect();
        let kept = DetectReply::sanitised(hostile, 640, 480);
        assert_eq!(kept.len(), MAX_DETECTIONS, "NaN dropped, then capped");
        assert!(kept.iter().all(|d| d.label.len() == MAX_LABEL && d.score == 1.0 && d.track_id.is_none()));
        assert_eq!(kept[0].bbox, [0.0, 480.0, 640.0, 5.0]);
        assert!(DetectReply::parse(&vec![b' '; MAX_REPLY + 1]).is_err());
    }

    #[test]
    fn a_workers_strings_are_cut_and_escaped_and_its_times_bounded() {
        let forged = format!("w\n2026-01-01T00:00:00Z  INFO forged line \u{1b}[31mred\u{202e}{}", "x".repeat(300_000));
        let reply = serde_json::json!({
            "worker": forged, "model": forged, "error": forged, "detections": [],
            "timings": {"decode": 1e308, "preprocess": -5.0, "infer": 3.0, "postprocess": 1.0}
        });
        let reply = DetectReply::parse(reply.to_string().as_bytes()).expect("parse");
        for (text, max) in [(&reply.worker, MAX_WORKER), (&reply.model, MAX_MODEL)] {
            assert!(text.chars().count() < max + 30, "{}", text.len());
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.starts_with("w\\n2026"), "{text}");
            assert!(text.contains("\\u{1b}[31mred\\u{202e}"), "{text}");
        }
        assert!(reply.error.as_deref().is_some_and(|e| !e.contains('\n')));
        let t = reply.timings.bounded(12.0);
        assert!([t.decode, t.preprocess, t.infer, t.postprocess].iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!((t.total() - 12.0).abs() < 1e-9, "{t:?}");
        let honest = WorkerTimings { decode: 1.0, preprocess: 2.0, infer: 3.0, postprocess: 0.5 };
        assert_eq!(honest.bounded(10.0), honest, "times within the round trip are kept as they are");
        assert_eq!(honest.bounded(f64::NAN).total(), 0.0);
    }
}
