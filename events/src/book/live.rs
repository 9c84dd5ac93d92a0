//! One object's life in the book: how it is taken up (Frigate's hit counter), its scores and
//! whether it is a false positive, its position and whether it moved, its best frame, and the
//! events it makes.

use super::EventSettings;
use crate::object::{
    pixel_area, pixel_box, pixel_ratio, Event, EventObject, EventType, PathPoint, PixelBox, Severity, Snapshot,
    MAX_PATH,
};
use nvt_transport::ReplyDetection;
use std::collections::{BTreeMap, VecDeque};

/// Scores an object's computed score is the median of (Frigate keeps 10).
const SCORE_HISTORY: usize = 10;

/// An event, with the object's best frame when it changed since the object's last event (so
/// that its snapshot can be saved and published).
pub struct Emitted<F> {
    /// The event.
    pub event: Event,
    /// The best frame, when new.
    pub best_frame: Option<F>,
}

/// Where an object stands, to tell a move from jitter (Frigate's position box: the object has
/// moved when its box overlaps the average of its recent boxes by less than 0.6).
#[derive(Debug, Clone)]
struct Position {
    boxes: Vec<PixelBox>,
    average: PixelBox,
}

impl Position {
    fn new(bbox: PixelBox) -> Self {
        Self { boxes: vec![bbox], average: bbox }
    }

    /// Takes the latest box; returns whether the object moved to a new position.
    fn moved(&mut self, bbox: PixelBox) -> bool {
        let f = |b: PixelBox| b.map(|v| v as f32);
        if crate::object::iou(f(bbox), f(self.average)) < 0.6 {
            *self = Self::new(bbox);
            return true;
        }
        if self.boxes.len() < 10 {
            self.boxes.push(bbox);
            let n = self.boxes.len() as i64;
            for i in 0..4 {
                self.average[i] = (self.boxes.iter().map(|b| i64::from(b[i])).sum::<i64>() / n) as i32;
            }
        }
        false
    }
}

/// What one frame did to an object not yet taken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Startup {
    /// Still being confirmed.
    Waiting,
    /// Taken up in this frame.
    TakenUp,
    /// Its hit counter ran out: forgotten.
    Lost,
}

/// One object's life.
pub(super) struct Live<F> {
    pub(super) object: EventObject,
    /// The object as its last event showed it; as it was taken up before its first.
    previous: EventObject,
    scores: VecDeque<f32>,
    /// Frigate's (norfair's) hit counter while the object is confirmed: 1 at its first sighting,
    /// then each frame of its camera takes 1 and a sighting gives 2; it is taken up once the
    /// counter passes `min_initialized`, and forgotten when it falls below 0.
    hit_counter: i32,
    /// Taken up.
    pub(super) registered: bool,
    pub(super) last_seen: f64,
    /// Frames of its camera in a row it was missed in, since it was last seen; and the time of
    /// the frame that made them enough to let it go.
    pub(super) missed: u32,
    pub(super) missed_enough_at: f64,
    /// When its best frame last improved, and when its last event went out.
    last_updated: f64,
    last_published: f64,
    /// When it last moved to a new position.
    last_moved: f64,
    position: Position,
    best_frame: Option<F>,
    best_changed: bool,
}

impl<F: Clone> Live<F> {
    /// A track seen for the first time: its first sighting.
    pub(super) fn start(camera: &str, track_id: u64, d: &ReplyDetection, time: f64, size: (u32, u32)) -> Self {
        let bbox = pixel_box(d.bbox, size);
        let object = EventObject {
            id: String::new(),
            track_id,
            camera: camera.to_owned(),
            frame_time: time,
            snapshot: None,
            label: d.label.clone(),
            sub_label: None,
            top_score: 0.0,
            false_positive: true,
            start_time: time,
            end_time: None,
            score: d.score,
            bbox,
            area: pixel_area(bbox),
            ratio: pixel_ratio(bbox),
            region: region(d, size),
            active: true,
            stationary: false,
            motionless_count: 0,
            position_changes: 0,
            current_zones: Vec::new(),
            entered_zones: Vec::new(),
            has_clip: false,
            has_snapshot: false,
            attributes: BTreeMap::new(),
            current_attributes: Vec::new(),
            pending_loitering: false,
            max_severity: Some(Severity::of(&d.label)),
            current_estimated_speed: 0.0,
            average_estimated_speed: 0.0,
            velocity_angle: 0.0,
            path_data: Vec::new(),
            recognized_license_plate: None,
        };
        Self {
            previous: object.clone(),
            object,
            scores: VecDeque::from([d.score]),
            hit_counter: 1,
            registered: false,
            last_seen: time,
            missed: 0,
            missed_enough_at: time,
            last_updated: f64::NEG_INFINITY,
            last_published: f64::NEG_INFINITY,
            last_moved: time,
            position: Position::new(bbox),
            best_frame: None,
            best_changed: false,
        }
    }

    /// Its computed score so far: the median of its recent scores.
    pub(super) fn computed_score(&self) -> f32 {
        median(&self.scores)
    }

    /// Whether it has published nothing and never will unless it does better: not taken up, or
    /// a false positive.
    pub(super) fn is_false_positive(&self) -> bool {
        !self.registered || self.object.false_positive
    }

    /// One frame of its camera while it is being confirmed, with its detection or without
    /// (`first` for the frame it was first seen in). At `min_initialized` hits it is taken up,
    /// as it is now.
    pub(super) fn confirm(
        &mut self,
        detection: Option<&ReplyDetection>,
        time: f64,
        size: (u32, u32),
        min_initialized: u32,
        first: bool,
    ) -> Startup {
        if !first {
            self.hit_counter -= 1;
            match detection {
                Some(d) => {
                    self.hit_counter += 2;
                    self.scores.push_back(d.score);
                    while self.scores.len() > SCORE_HISTORY {
                        self.scores.pop_front();
                    }
                    self.last_seen = time;
                    let bbox = pixel_box(d.bbox, size);
                    let object = &mut self.object;
                    (object.score, object.bbox, object.frame_time) = (d.score, bbox, time);
                    (object.area, object.ratio, object.region) = (pixel_area(bbox), pixel_ratio(bbox), region(d, size));
                }
                None if self.hit_counter < 0 => return Startup::Lost,
                None => {}
            }
        }
        if self.hit_counter <= i32::try_from(min_initialized).unwrap_or(i32::MAX) {
            return Startup::Waiting;
        }
        self.registered = true;
        let object = &mut self.object;
        object.id = crate::object::new_id(time);
        object.start_time = time;
        self.position = Position::new(object.bbox);
        self.last_moved = time;
        self.previous = object.clone();
        Startup::TakenUp
    }

    /// A frame of its camera once it is taken up, with its detection or without; returns the
    /// better snapshot this frame would make, if it makes one.
    pub(super) fn update(
        &mut self,
        detection: Option<&ReplyDetection>,
        time: f64,
        size: (u32, u32),
        threshold: f32,
        settings: &EventSettings,
    ) -> Option<Snapshot> {
        self.scores.push_back(detection.map_or(0.0, |d| d.score));
        while self.scores.len() > SCORE_HISTORY {
            self.scores.pop_front();
        }
        let computed = median(&self.scores);
        let object = &mut self.object;
        if computed > object.top_score {
            object.top_score = computed;
        }
        // Once a true positive, always a true positive.
        if object.false_positive && computed >= threshold {
            object.false_positive = false;
        }
        let Some(d) = detection else {
            self.missed = self.missed.saturating_add(1);
            if self.missed == settings.end_after_frames {
                self.missed_enough_at = time;
            }
            return None;
        };
        self.last_seen = time;
        self.missed = 0;
        let bbox = pixel_box(d.bbox, size);
        (object.score, object.bbox, object.frame_time) = (d.score, bbox, time);
        (object.area, object.ratio, object.region) = (pixel_area(bbox), pixel_ratio(bbox), region(d, size));
        if self.position.moved(bbox) {
            if object.position_changes == 0 || object.stationary {
                object.position_changes += 1;
            }
            object.motionless_count = 0;
            self.last_moved = time;
        } else {
            object.motionless_count = object.motionless_count.saturating_add(1);
        }
        object.stationary = time - self.last_moved > settings.stationary_after;
        object.active = !object.stationary;
        if !object.false_positive {
            add_path_point(&mut object.path_data, bbox, size, time);
        }
        let better =
            !object.false_positive && object.snapshot.as_ref().is_none_or(|best| better_than(best, object, size));
        better.then(|| Snapshot {
            frame_time: time,
            bbox,
            area: object.area,
            region: object.region,
            score: object.score,
            attributes: Vec::new(),
            current_estimated_speed: 0.0,
            velocity_angle: 0.0,
            path_data: object.path_data.clone(),
            recognized_license_plate: None,
            recognized_license_plate_score: None,
            file: None,
        })
    }

    /// Takes `snapshot` as its best, with `frame` the picture it was seen in.
    pub(super) fn take_best(&mut self, snapshot: Snapshot, frame: F, time: f64) {
        self.object.snapshot = Some(snapshot);
        self.best_frame = Some(frame);
        self.best_changed = true;
        self.last_updated = time;
    }

    /// Whether this frame's changes make an event: a significant change at once (a move to a
    /// new position, stationary or active again, the heartbeat), a better snapshot once the
    /// last event is `update_every` old.
    pub(super) fn is_due(&self, time: f64, settings: &EventSettings) -> bool {
        let (object, previous) = (&self.object, &self.previous);
        let significant = object.position_changes != previous.position_changes
            || object.active != previous.active
            || object.frame_time - previous.frame_time > settings.heartbeat;
        let improved = time - self.last_published > settings.update_every && self.last_updated > self.last_published;
        significant || improved
    }

    /// Whether its last event came from it while it was a false positive (so the next is `new`).
    pub(super) fn unpublished(&self) -> bool {
        self.previous.false_positive
    }

    /// The event it makes now: `kind`, `before` as its last event showed it, with its best frame
    /// when it changed since.
    pub(super) fn publish(&mut self, kind: EventType, now: f64, snapshot_files: bool) -> Emitted<F> {
        self.object.has_snapshot = snapshot_files && self.object.snapshot.is_some();
        let after = self.object.clone();
        let before = std::mem::replace(&mut self.previous, after.clone());
        self.last_published = now;
        let best_frame = if std::mem::take(&mut self.best_changed) { self.best_frame.take() } else { None };
        Emitted { event: Event { kind, before, after }, best_frame }
    }
}

/// Whether the object as it is now makes a better snapshot than `best` (Frigate's
/// `is_better_thumbnail`, without its face and plate rules): not newly cut by the frame's edge,
/// and a score 0.05 higher or a box 10% larger.
fn better_than(best: &Snapshot, now: &EventObject, size: (u32, u32)) -> bool {
    if on_edge(now.bbox, size) && !on_edge(best.bbox, size) {
        return false;
    }
    now.score > best.score + 0.05 || now.area as f64 > best.area as f64 * 1.1
}

fn on_edge(bbox: PixelBox, (width, height): (u32, u32)) -> bool {
    let (w, h) = (i64::from(width) - 1, i64::from(height) - 1);
    bbox[0] == 0 || bbox[1] == 0 || i64::from(bbox[2]) == w || i64::from(bbox[3]) == h
}

/// The region of the frame the detector ran on when it found `d`: the whole frame unless it ran
/// on a region (`--detect motion`), cut to the frame.
fn region(d: &ReplyDetection, (width, height): (u32, u32)) -> PixelBox {
    let (w, h) = (i32::try_from(width).unwrap_or(i32::MAX), i32::try_from(height).unwrap_or(i32::MAX));
    match d.region {
        Some([x1, y1, x2, y2]) => [x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)],
        None => [0, 0, w, h],
    }
}

/// Adds the box's bottom centre to a path when it is 5% of the frame from the last point (or
/// is the first or second point), as Frigate does; the latest [`MAX_PATH`] are kept.
fn add_path_point(path: &mut Vec<PathPoint>, bbox: PixelBox, (width, height): (u32, u32), time: f64) {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let round = |v: f32| (v * 10_000.0).round() / 10_000.0;
    let point = (round((bbox[0] + bbox[2]) as f32 / 2.0 / w), round(bbox[3] as f32 / h));
    let threshold = 0.05 * (w * w + h * h).sqrt() / w.max(h);
    let far = |last: &PathPoint| ((last.0 .0 - point.0).powi(2) + (last.0 .1 - point.1).powi(2)).sqrt() >= threshold;
    if path.len() < 2 || path.last().is_some_and(far) {
        path.push((point, time));
        if path.len() > MAX_PATH {
            path.remove(0);
        }
    }
}

/// The median of the scores (the mean of the middle two for an even count, as Python's).
fn median(scores: &VecDeque<f32>) -> f32 {
    let mut sorted: Vec<f32> = scores.iter().copied().collect();
    sorted.sort_by(f32::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
