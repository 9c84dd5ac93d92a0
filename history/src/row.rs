//! One tracked object as the store keeps it and the API shows it: Frigate 0.16's event
//! (`EventResponse`: `id, label, sub_label, camera, start_time, end_time, false_positive, zones,
//! thumbnail, has_clip, has_snapshot, retain_indefinitely, plus_id, model_hash, detector_type,
//! model_type, data`), made from the object's latest event. Its `data` holds what Frigate's does
//! (the best frame's box and region as fractions of the frame, its score, the top score, the
//! path, `type: "object"`) and nvt's own: `track_id`, `frame_time` (the latest frame it was seen
//! in) and `snapshot_file`.

use nvt_events::object::{EventObject, PixelBox};
use nvt_events::Event;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// An event as `/api/events` lists it: Frigate's event JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// The object's id: its start time and six random letters and digits.
    pub id: String,
    /// Its class name.
    pub label: String,
    /// A recognised sub-label; nvt recognises none.
    pub sub_label: Option<String>,
    /// The camera's name.
    pub camera: String,
    /// Unix seconds of the frame it was taken up in.
    pub start_time: f64,
    /// Unix seconds of when it was let go; `null` while it is in progress.
    pub end_time: Option<f64>,
    /// Always false: a false positive makes no event.
    pub false_positive: bool,
    /// Zones it entered; nvt has no zones, so always empty.
    pub zones: Vec<String>,
    /// Frigate 0.16 keeps thumbnails in files, not here: always empty. The thumbnail is served
    /// at `/api/events/{id}/thumbnail.jpg`.
    pub thumbnail: String,
    /// Whether its clip is written (`/api/events/{id}/clip.avi`).
    pub has_clip: bool,
    /// Whether its snapshot is saved (`--snapshots`).
    pub has_snapshot: bool,
    /// Kept past the retention rules; nvt keeps none so.
    pub retain_indefinitely: bool,
    /// Frigate+ id; always `null`.
    pub plus_id: Option<String>,
    /// Always `null`.
    pub model_hash: Option<String>,
    /// Always `null`.
    pub detector_type: Option<String>,
    /// Always `null`.
    pub model_type: Option<String>,
    /// The rest, as Frigate's `data` column holds it, with nvt's own keys.
    pub data: Value,
}

impl EventRow {
    /// The row an event leaves: the object as the event's `after` shows it.
    pub fn from_event(event: &Event) -> Self {
        let after = &event.after;
        Self {
            id: after.id.clone(),
            label: after.label.clone(),
            sub_label: after.sub_label.as_ref().map(|(name, _)| name.clone()),
            camera: after.camera.clone(),
            start_time: after.start_time,
            end_time: after.end_time,
            false_positive: after.false_positive,
            zones: after.entered_zones.clone(),
            thumbnail: String::new(),
            has_clip: false,
            has_snapshot: after.has_snapshot,
            retain_indefinitely: false,
            plus_id: None,
            model_hash: None,
            detector_type: None,
            model_type: None,
            data: data(after),
        }
    }

    /// The latest frame the object was seen in (`data.frame_time`), or its start.
    pub fn last_seen(&self) -> f64 {
        self.data.get("frame_time").and_then(Value::as_f64).unwrap_or(self.start_time)
    }

    /// Its snapshot's file name in the `--snapshots` folder, when it has one.
    pub fn snapshot_file(&self) -> Option<&str> {
        self.data.get("snapshot_file").and_then(Value::as_str)
    }

    /// Its top score (`data.top_score`).
    pub fn top_score(&self) -> f64 {
        self.data.get("top_score").and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// Its best frame's score (`data.score`), when it has a best frame.
    pub fn score(&self) -> Option<f64> {
        self.data.get("score").and_then(Value::as_f64)
    }
}

/// Frigate's `data` for an object, with nvt's `track_id`, `frame_time` and `snapshot_file`.
fn data(object: &EventObject) -> Value {
    // The region is the whole frame, so it gives the frame's size.
    let size = ((object.region[2] + 1).max(1), (object.region[3] + 1).max(1));
    let snapshot = object.snapshot.as_ref();
    json!({
        "type": "object",
        "box": snapshot.map(|s| relative(s.bbox, size)),
        "region": snapshot.map(|s| relative(s.region, size)),
        "score": snapshot.map(|s| s.score),
        "top_score": object.top_score,
        "attributes": [],
        "max_severity": object.max_severity,
        "average_estimated_speed": object.average_estimated_speed,
        "velocity_angle": object.velocity_angle,
        "path_data": object.path_data,
        "recognized_license_plate": object.recognized_license_plate,
        "track_id": object.track_id,
        "frame_time": object.frame_time,
        "snapshot_file": snapshot.and_then(|s| s.file.clone()).filter(|_| object.has_snapshot),
    })
}

/// A pixel box as Frigate's `data` gives it: x, y, width and height as fractions of the frame,
/// rounded to four places.
fn relative(bbox: PixelBox, (width, height): (i32, i32)) -> [f64; 4] {
    let fraction = |v: i32, of: i32| (f64::from(v) / f64::from(of) * 10_000.0).round() / 10_000.0;
    [
        fraction(bbox[0], width),
        fraction(bbox[1], height),
        fraction(bbox[2] - bbox[0], width),
        fraction(bbox[3] - bbox[1], height),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_boxes_are_fractions_of_the_frame() {
        assert_eq!(relative([64, 48, 320, 240], (640, 480)), [0.1, 0.1, 0.4, 0.4]);
        assert_eq!(relative([0, 0, 0, 0], (1, 1)), [0.0, 0.0, 0.0, 0.0]);
    }
}
