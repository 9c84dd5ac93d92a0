//! Events as nvt publishes them, in Frigate's shape so that its consumers can read them:
//! `{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`, each side every key of
//! Frigate 0.16's tracked-object dictionary (`TrackedObject.to_dict`), with Frigate's types.
//! nvt adds `track_id`, and `file` in `snapshot`. docs/events.md goes through them field by
//! field.

pub use nvt_support::boxes::{area, iou};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happened to a tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The object became a true positive: the first event of its life.
    New,
    /// A better snapshot, a change of state, or the heartbeat.
    Update,
    /// The tracker let it go, or its camera disconnected.
    End,
}

/// One event: the object as its previous event showed it, and as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `new`, `update` or `end`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The object as its previous event showed it; for `new`, as it was when the tracker took
    /// it up (still a false positive), as Frigate sends it.
    pub before: EventObject,
    /// The object now.
    pub after: EventObject,
}

/// A box in pixels of the frame: x1, y1, x2, y2.
pub type PixelBox = [i32; 4];

/// A point of an object's path: its bottom centre as fractions of the frame, and when.
pub type PathPoint = ((f32, f32), f64);

/// A tracked object, as events show it: Frigate's keys, in Frigate's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventObject {
    /// Unique across cameras and restarts: the start time and six random letters and digits.
    pub id: String,
    /// nvt's own: the tracker's id for it on its camera (see the replies' `track_id`).
    pub track_id: u64,
    /// The camera's name.
    pub camera: String,
    /// Unix seconds of the latest frame it was seen in.
    pub frame_time: f64,
    /// Its best frame so far, once it is a true positive.
    pub snapshot: Option<Snapshot>,
    /// The class name.
    pub label: String,
    /// A recognised sub-label and its score; nvt recognises none, so always `null`.
    pub sub_label: Option<(String, f32)>,
    /// The highest median of its recent scores so far.
    pub top_score: f32,
    /// True until the median of its recent scores reaches its label's threshold.
    pub false_positive: bool,
    /// Unix seconds of the frame it was taken up in.
    pub start_time: f64,
    /// Unix seconds of when it was let go; `null` until then.
    pub end_time: Option<f64>,
    /// Its score in the latest frame it was seen in.
    pub score: f32,
    /// Its box in the latest frame it was seen in.
    #[serde(rename = "box")]
    pub bbox: PixelBox,
    /// The box's area in pixels.
    pub area: i64,
    /// The box's width over its height.
    pub ratio: f32,
    /// The region the detector ran on: the whole frame (nvt runs the model on whole frames).
    pub region: PixelBox,
    /// Not stationary.
    pub active: bool,
    /// It has not moved for a while.
    pub stationary: bool,
    /// Frames it has been seen in without moving.
    pub motionless_count: u32,
    /// Times it moved to a new position after standing still (its first move included).
    pub position_changes: u32,
    /// Zones it is in; nvt has no zones, so always empty.
    pub current_zones: Vec<String>,
    /// Zones it has entered; always empty.
    pub entered_zones: Vec<String>,
    /// Whether a clip is stored for it; nvt stores none, so always false.
    pub has_clip: bool,
    /// Whether its snapshot is saved (`--snapshots`).
    pub has_snapshot: bool,
    /// Attribute label to best score (a face on a person); nvt detects none, so empty.
    pub attributes: BTreeMap<String, f32>,
    /// Attributes in the current frame; always empty.
    pub current_attributes: Vec<serde_json::Value>,
    /// Loitering in a zone not yet long enough; always false (no zones).
    pub pending_loitering: bool,
    /// The review severity Frigate's default review settings give the label: `alert` for a
    /// person or a car, `detection` for any other.
    pub max_severity: Option<Severity>,
    /// Speed estimated in a speed zone; always 0 (no zones).
    pub current_estimated_speed: f32,
    /// Average speed in a speed zone; always 0.
    pub average_estimated_speed: f32,
    /// Direction of travel in a speed zone; always 0.
    pub velocity_angle: f32,
    /// Where it has been: its bottom centre, as fractions of the frame, each time it moved
    /// 5% of the frame (at most [`MAX_PATH`] points, the latest kept).
    pub path_data: Vec<PathPoint>,
    /// A recognised licence plate; nvt recognises none, so always `null`.
    pub recognized_license_plate: Option<String>,
}

/// How a review item of the object would rank (Frigate's `SeverityEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// One of the review's alert labels.
    Alert,
    /// Any other label the review takes.
    Detection,
}

impl Severity {
    /// The severity of `label` under Frigate's default review settings (`review.alerts.labels`
    /// is `person` and `car`; `review.detections.labels` is every label; no required zones).
    pub fn of(label: &str) -> Self {
        if matches!(label, "person" | "car") {
            Self::Alert
        } else {
            Self::Detection
        }
    }
}

/// The best frame of an object (Frigate's `snapshot`): the one a better score or a larger box
/// picked, as Frigate picks its thumbnail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unix seconds of that frame.
    pub frame_time: f64,
    /// The object's box in it.
    #[serde(rename = "box")]
    pub bbox: PixelBox,
    /// The box's area.
    pub area: i64,
    /// The region the detector ran on.
    pub region: PixelBox,
    /// The object's score in it.
    pub score: f32,
    /// Attributes in that frame; always empty.
    pub attributes: Vec<serde_json::Value>,
    /// Always 0 (no speed zones).
    pub current_estimated_speed: f32,
    /// Always 0.
    pub velocity_angle: f32,
    /// The object's path until then.
    pub path_data: Vec<PathPoint>,
    /// Always `null`.
    pub recognized_license_plate: Option<String>,
    /// Always `null`.
    pub recognized_license_plate_score: Option<f32>,
    /// nvt's own: the JPEG's file name in the `--snapshots` folder (`null` without one).
    pub file: Option<String>,
}

/// Most points kept in an object's `path_data`.
pub const MAX_PATH: usize = 100;

/// A detector's box as Frigate gives it: whole pixels, within a `width` x `height` frame.
pub fn pixel_box(bbox: [f32; 4], (width, height): (u32, u32)) -> PixelBox {
    let clamp = |v: f32, max: u32| {
        let max = i32::try_from(max.saturating_sub(1)).unwrap_or(i32::MAX);
        if v.is_finite() {
            (v as i32).clamp(0, max)
        } else {
            0
        }
    };
    [clamp(bbox[0], width), clamp(bbox[1], height), clamp(bbox[2], width), clamp(bbox[3], height)]
}

/// A pixel box's area, as Frigate computes it.
pub fn pixel_area(bbox: PixelBox) -> i64 {
    i64::from((bbox[2] - bbox[0]).max(0)) * i64::from((bbox[3] - bbox[1]).max(0))
}

/// A pixel box's width over its height (height at least 1).
pub fn pixel_ratio(bbox: PixelBox) -> f32 {
    (bbox[2] - bbox[0]).max(0) as f32 / (bbox[3] - bbox[1]).max(1) as f32
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
    fn overlap_ids_and_pixel_boxes() {
        assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]), 1.0);
        assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]), 0.0);
        let (a, b) = (new_id(1700000000.25), new_id(1700000000.25));
        assert!(a.starts_with("1700000000.250000-") && a.len() == 24, "{a}");
        assert_ne!(a, b);
        let bbox = pixel_box([-3.0, 10.7, 700.0, f32::NAN], (640, 480));
        assert_eq!(bbox, [0, 10, 639, 0]);
        assert_eq!(pixel_area([10, 20, 30, 60]), 800);
        assert_eq!(pixel_ratio([10, 20, 30, 60]), 0.5);
        assert_eq!(pixel_ratio([10, 20, 30, 20]), 20.0, "a flat box divides by 1");
    }
}
