//! Events as nvt publishes them, in Frigate's shape so that its consumers can read them:
//! `{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`.

use serde::{Deserialize, Serialize};

/// What happened to a tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The track was confirmed: an object is in view.
    New,
    /// Its best score or its box changed notably.
    Update,
    /// It has been gone for the event timeout, or its camera disconnected.
    End,
}

/// One event: the object as last published, and as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `new`, `update` or `end`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The object as the previous event for it showed it (for `new`, the same as `after`).
    pub before: EventObject,
    /// The object now.
    pub after: EventObject,
}

/// A tracked object, as events show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventObject {
    /// Unique across cameras and restarts: the start time and six random letters.
    pub id: String,
    /// The tracker's id for it on its camera (see the replies' `track_id`).
    pub track_id: u64,
    /// The camera's name.
    pub camera: String,
    /// The class name.
    pub label: String,
    /// Its score in the latest frame it was seen in.
    pub score: f32,
    /// Its best score so far.
    pub top_score: f32,
    /// Its box in the latest frame it was seen in: x1, y1, x2, y2 in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The box's area in pixels.
    pub area: f32,
    /// Unix seconds of the latest frame it was seen in.
    pub frame_time: f64,
    /// Unix seconds of the first frame it was seen in.
    pub start_time: f64,
    /// Unix seconds of the last frame it was seen in, once it has ended.
    pub end_time: Option<f64>,
    /// Always false: nvt has no false-positive filter yet.
    pub false_positive: bool,
    /// Always empty: nvt has no zones yet.
    pub current_zones: Vec<String>,
    /// Always empty: nvt has no zones yet.
    pub entered_zones: Vec<String>,
    /// Its best frame so far, once it has one.
    pub snapshot: Option<Snapshot>,
}

/// The best frame of an object: the one where it scored highest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unix seconds of that frame.
    pub frame_time: f64,
    /// The object's box in it.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The object's score in it.
    pub score: f32,
    /// The JPEG's file name in the `--snapshots` folder (`null` without one).
    pub file: Option<String>,
}

/// The area of a box.
pub fn area(bbox: [f32; 4]) -> f32 {
    (bbox[2] - bbox[0]).max(0.0) * (bbox[3] - bbox[1]).max(0.0)
}

/// How much two boxes overlap: intersection over union, 0 to 1.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = area([a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// A new event id: Frigate's form, the start time with six random letters and digits.
pub fn new_id(start_time: f64) -> String {
    let suffix: String = (0..6).map(|_| fastrand::alphanumeric().to_ascii_lowercase()).collect();
    format!("{start_time:.6}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_ids() {
        assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]), 1.0);
        assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]), 0.0);
        let (a, b) = (new_id(1700000000.25), new_id(1700000000.25));
        assert!(a.starts_with("1700000000.250000-") && a.len() == 24, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn events_serialise_in_frigates_shape() {
        let object = EventObject {
            id: "1.000000-abcdef".into(),
            track_id: 3,
            camera: "door".into(),
            label: "person".into(),
            score: 0.8,
            top_score: 0.9,
            bbox: [1.0, 2.0, 3.0, 4.0],
            area: 4.0,
            frame_time: 2.0,
            start_time: 1.0,
            end_time: None,
            false_positive: false,
            current_zones: vec![],
            entered_zones: vec![],
            snapshot: None,
        };
        let event = Event { kind: EventType::New, before: object.clone(), after: object };
        let json: serde_json::Value = serde_json::to_value(&event).expect("json");
        assert_eq!(json["type"], "new");
        for key in
            ["id", "track_id", "camera", "label", "score", "top_score", "box", "area", "frame_time", "start_time"]
        {
            assert!(!json["after"][key].is_null(), "{key}");
        }
        for key in ["end_time", "snapshot"] {
            assert!(json["after"][key].is_null(), "{key}");
        }
        assert_eq!(json["after"]["current_zones"], serde_json::json!([]));
        assert_eq!(json["after"]["false_positive"], false);
    }
}
