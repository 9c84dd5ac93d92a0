//! The objects each camera has in view, and the events their lives make, on Frigate 0.16's
//! rules (`frigate/track/tracked_object.py`, `frigate/camera/state.py`,
//! `frigate/track/object_processing.py`):
//!
//! - **taken up** once the tracker has seen it in [`EventSettings::min_hits`] frames (Frigate's
//!   `detect.min_initialized`, fps / 2: 2 at its default 5 fps); nothing is published yet;
//! - **scores**: each later frame adds its score to the object's last 10 (0 for a frame it was
//!   missed in); their median is its computed score, `top_score` the highest computed score so
//!   far; it stays a **false positive** until the computed score reaches its label's
//!   `threshold` (0.7), and a false positive publishes nothing, ever;
//! - **`new`** at the first frame it is a true positive, `before` the object as it was taken up;
//! - **`update`** when its best frame improved (a score 0.05 higher or a box 10% larger, not
//!   newly cut by the frame's edge) and the last event is over 5 s old, or at once on a
//!   significant change: it started or stopped moving, moved to a new position, or its last
//!   event is over 60 s old (the heartbeat);
//! - **`end`** when it has been gone for [`EventSettings::timeout`] (Frigate's
//!   `max_disappeared`, fps × 5 frames: 5 s), its camera left, or the server stopped;
//!   `end_time` is when it was let go.
//!
//! Times are seconds on one clock the caller picks (Unix time for the server, the video's own
//! time for `nvt-detect`), so that the book itself never reads a clock and tests run on a
//! virtual one.

use crate::filters::ObjectFilters;
use crate::object::{
    new_id, pixel_area, pixel_box, pixel_ratio, Event, EventObject, EventType, PathPoint, PixelBox, Snapshot, MAX_PATH,
};
use nvt_transport::ReplyDetection;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// When events are made.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSettings {
    /// Seconds an object must be gone before it is let go and ends (`--event-timeout`).
    pub timeout: f64,
    /// Frames the tracker must see an object in before it is taken up.
    pub min_hits: u32,
    /// An improved best frame makes an `update` only when the last event is older than this
    /// (Frigate's `max_update_frequency`, 5 s).
    pub update_every: f64,
    /// An `update` at least this often while the object is seen (Frigate's 60 s).
    pub heartbeat: f64,
    /// Seconds without moving for an object to become stationary (Frigate: 50 frames at 5 fps).
    pub stationary_after: f64,
    /// Whether snapshots are saved, so that events name their files and say `has_snapshot`.
    pub snapshot_files: bool,
    /// Each camera's and label's filter; the book reads the `threshold`s.
    pub objects: Arc<ObjectFilters>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            timeout: 5.0,
            min_hits: 2,
            update_every: 5.0,
            heartbeat: 60.0,
            stationary_after: 10.0,
            snapshot_files: false,
            objects: Arc::default(),
        }
    }
}

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

/// Most objects a camera has in the book at once: a frame with more new tracks than this makes
/// no events for the extra ones (each object may hold a frame for its snapshot).
pub const MAX_OBJECTS_PER_CAMERA: usize = 64;

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

/// One object's life.
struct Live<F> {
    object: EventObject,
    /// The object as its last event showed it; as it was taken up before its first.
    previous: EventObject,
    scores: VecDeque<f32>,
    hits: u32,
    /// Taken up (past `min_hits`).
    registered: bool,
    last_seen: f64,
    /// When its best frame last improved, and when its last event went out.
    last_updated: f64,
    last_published: f64,
    /// When it last moved to a new position.
    last_moved: f64,
    position: Position,
    best_frame: Option<F>,
    best_changed: bool,
}

/// Every camera's objects. `F` is a frame (the server keeps a picture, tests keep a number).
pub struct ObjectBook<F> {
    settings: EventSettings,
    objects: BTreeMap<(String, u64), Live<F>>,
}

impl<F: Clone> ObjectBook<F> {
    /// A book with no objects.
    pub fn new(settings: EventSettings) -> Self {
        Self { settings, objects: BTreeMap::new() }
    }

    /// Takes one of `camera`'s processed frames (`size` its width and height), its detections
    /// tracked, and returns the events it makes. `frame` is called at most once, when an
    /// object's best frame is this one.
    pub fn observe(
        &mut self,
        camera: &str,
        frame_time: f64,
        size: (u32, u32),
        detections: &[ReplyDetection],
        mut frame: impl FnMut() -> Option<F>,
    ) -> Vec<Emitted<F>> {
        let mut this_frame: Option<Option<F>> = None;
        let mut room = MAX_OBJECTS_PER_CAMERA.saturating_sub(self.camera(camera).count());
        let mut seen: BTreeMap<u64, &ReplyDetection> = BTreeMap::new();
        for d in detections {
            if let Some(track_id) = d.track_id {
                seen.entry(track_id).or_insert(d);
            }
        }
        let mut out = Vec::new();
        for (&track_id, d) in &seen {
            let key = (camera.to_owned(), track_id);
            if !self.objects.contains_key(&key) {
                if room == 0 {
                    continue;
                }
                room -= 1;
                self.objects.insert(key.clone(), Live::start(camera, track_id, d, frame_time, size));
            }
        }
        let settings = self.settings.clone();
        for ((_, track_id), live) in self.camera_mut(camera) {
            let detection = seen.get(track_id).copied();
            if !live.registered {
                match detection {
                    Some(d) => live.initialise(d, frame_time, size, settings.min_hits),
                    // Missed before it was taken up: a stray detection, forgotten.
                    None => live.hits = 0,
                }
                continue;
            }
            let threshold = settings.objects.filter(camera, &live.object.label).threshold;
            let better = live.update(detection, frame_time, size, threshold, &settings);
            if better {
                let file = settings.snapshot_files.then(|| snapshot_file(camera, &live.object.id));
                if let Some(snapshot) = live.object.snapshot.as_mut() {
                    snapshot.file = file;
                }
                live.best_frame = this_frame.get_or_insert_with(&mut frame).clone();
                live.best_changed = true;
                live.last_updated = frame_time;
            }
            if live.object.false_positive {
                continue;
            }
            let significant = live.object.position_changes != live.previous.position_changes
                || live.object.active != live.previous.active
                || live.object.frame_time - live.previous.frame_time > settings.heartbeat;
            let improved =
                frame_time - live.last_published > settings.update_every && live.last_updated > live.last_published;
            if significant || improved {
                let kind = if live.previous.false_positive { EventType::New } else { EventType::Update };
                out.push(live.publish(kind, frame_time, settings.snapshot_files));
            }
        }
        let timeout = settings.timeout;
        self.objects.retain(|key, live| key.0 != camera || live.registered || live.hits > 0);
        out.extend(self.end_where(
            |key, live| key.0 == camera && frame_time - live.last_seen > timeout,
            |live| live.last_seen + timeout,
        ));
        out
    }

    /// Lets go of every object gone for longer than the timeout at `now`, on every camera.
    pub fn expire(&mut self, now: f64) -> Vec<Emitted<F>> {
        let timeout = self.settings.timeout;
        self.end_where(|_, live| now - live.last_seen > timeout, |live| live.last_seen + timeout)
    }

    /// Ends every object of a camera that has disconnected, at `now`.
    pub fn camera_left(&mut self, camera: &str, now: f64) -> Vec<Emitted<F>> {
        self.end_where(|key, _| key.0 == camera, |live| now.max(live.last_seen))
    }

    /// How many objects of each label `camera` has: taken up, true positives, not ended. An
    /// object missed for a frame or two still counts, so counts do not flap.
    pub fn counts(&self, camera: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for live in self.camera(camera).filter(|live| live.registered && !live.object.false_positive) {
            *counts.entry(live.object.label.clone()).or_default() += 1;
        }
        counts
    }

    /// Objects in the book (taken up or not).
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn camera<'a>(&'a self, camera: &'a str) -> impl Iterator<Item = &'a Live<F>> + 'a {
        self.objects.range((camera.to_owned(), 0)..=(camera.to_owned(), u64::MAX)).map(|(_, live)| live)
    }

    fn camera_mut<'a>(&'a mut self, camera: &str) -> impl Iterator<Item = (&'a (String, u64), &'a mut Live<F>)> + 'a {
        self.objects.range_mut((camera.to_owned(), 0)..=(camera.to_owned(), u64::MAX))
    }

    /// Removes the objects `gone` picks, `end_time` as `when` says; the true positives end with
    /// an event, the others go quietly.
    fn end_where(
        &mut self,
        mut gone: impl FnMut(&(String, u64), &Live<F>) -> bool,
        when: impl Fn(&Live<F>) -> f64,
    ) -> Vec<Emitted<F>> {
        let keys: Vec<_> =
            self.objects.iter().filter(|(key, live)| gone(key, live)).map(|(key, _)| key.clone()).collect();
        let mut out = Vec::new();
        for key in keys {
            let Some(mut live) = self.objects.remove(&key) else { continue };
            if live.registered && !live.object.false_positive {
                let at = when(&live);
                live.object.end_time = Some(at);
                out.push(live.publish(EventType::End, at, self.settings.snapshot_files));
            }
        }
        out
    }
}

impl<F: Clone> Live<F> {
    /// A track seen for the first time.
    fn start(camera: &str, track_id: u64, d: &ReplyDetection, time: f64, size: (u32, u32)) -> Self {
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
            region: region(size),
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
            max_severity: None,
            current_estimated_speed: 0.0,
            average_estimated_speed: 0.0,
            velocity_angle: 0.0,
            path_data: Vec::new(),
            recognized_license_plate: None,
        };
        Self {
            previous: object.clone(),
            object,
            scores: VecDeque::new(),
            hits: 0,
            registered: false,
            last_seen: time,
            last_updated: f64::NEG_INFINITY,
            last_published: f64::NEG_INFINITY,
            last_moved: time,
            position: Position::new(bbox),
            best_frame: None,
            best_changed: false,
        }
    }

    /// One more sighting before it is taken up; at `min_hits` it is, as it is now.
    fn initialise(&mut self, d: &ReplyDetection, time: f64, size: (u32, u32), min_hits: u32) {
        self.hits = self.hits.saturating_add(1);
        self.scores.push_back(d.score);
        while self.scores.len() > SCORE_HISTORY {
            self.scores.pop_front();
        }
        self.last_seen = time;
        let bbox = pixel_box(d.bbox, size);
        let object = &mut self.object;
        (object.score, object.bbox, object.frame_time) = (d.score, bbox, time);
        (object.area, object.ratio, object.region) = (pixel_area(bbox), pixel_ratio(bbox), region(size));
        if self.hits >= min_hits.max(1) {
            self.registered = true;
            object.id = new_id(time);
            object.start_time = time;
            self.position = Position::new(bbox);
            self.last_moved = time;
            self.previous = object.clone();
        }
    }

    /// A frame of its camera, with its detection or without; returns whether its best frame
    /// improved.
    fn update(
        &mut self,
        detection: Option<&ReplyDetection>,
        time: f64,
        size: (u32, u32),
        threshold: f32,
        settings: &EventSettings,
    ) -> bool {
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
            return false;
        };
        self.last_seen = time;
        let bbox = pixel_box(d.bbox, size);
        (object.score, object.bbox, object.frame_time) = (d.score, bbox, time);
        (object.area, object.ratio, object.region) = (pixel_area(bbox), pixel_ratio(bbox), region(size));
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
        if better {
            object.snapshot = Some(Snapshot {
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
            });
        }
        better
    }

    fn publish(&mut self, kind: EventType, now: f64, snapshot_files: bool) -> Emitted<F> {
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

/// The region of a frame: nvt runs the detector on the whole frame.
fn region((width, height): (u32, u32)) -> PixelBox {
    [0, 0, i32::try_from(width).unwrap_or(i32::MAX), i32::try_from(height).unwrap_or(i32::MAX)]
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

/// The snapshot file of an event: `<camera>-<id>.jpg`.
pub fn snapshot_file(camera: &str, id: &str) -> String {
    format!("{camera}-{id}.jpg")
}

#[cfg(test)]
mod tests;
