//! The objects each camera has in view, and the events their lives make, on Frigate 0.16's
//! rules (`frigate/track/tracked_object.py`, `frigate/camera/state.py`,
//! `frigate/track/object_processing.py`, norfair's hit counter in `frigate/track/norfair_tracker.py`):
//!
//! - **taken up** on Frigate's hit counter (norfair's, with `detect.min_initialized`, 2 at its
//!   default 5 fps): 1 at the first sighting, each later frame takes 1 and a sighting gives 2,
//!   taken up once it passes [`EventSettings::min_initialized`] (at the third sighting in a row),
//!   forgotten once it falls below 0 (a miss right after the first sighting, or two in a row);
//!   nothing is published yet;
//! - **scores**: each later frame adds its score to the object's last 10 (0 for a frame it was
//!   missed in); their median is its computed score, `top_score` the highest computed score so
//!   far; it stays a **false positive** until the computed score reaches its label's
//!   `threshold` (0.7), and a false positive publishes nothing, ever;
//! - **`new`** at the first frame it is a true positive, `before` the object as it was taken up;
//! - **`update`** when its best frame improved (a score 0.05 higher or a box 10% larger, not
//!   newly cut by the frame's edge) and the last event is over 5 s old, or at once on a
//!   significant change: it started or stopped moving, moved to a new position, or its last
//!   event is over 60 s old (the heartbeat);
//! - **`end`** once it has been gone for [`EventSettings::timeout`] (Frigate's
//!   `max_disappeared`, fps × 5 frames: 5 s) *and* missed in [`EventSettings::end_after_frames`]
//!   of its camera's frames in a row (so a camera sending a frame every 10 s does not end and
//!   restart its objects at every frame), when its camera left, or the server stopped;
//!   `end_time` is when it was let go.
//!
//! A camera holds at most [`MAX_OBJECTS_PER_CAMERA`] objects; a new track past that takes the
//! place of the least promising false positive (they publish nothing), or is refused and
//! counted. Times are seconds on one clock the caller picks (Unix time for the server, the
//! video's own time for `nvt-detect`), so that the book itself never reads a clock and tests
//! run on a virtual one.

mod live;

use crate::filters::ObjectFilters;
use crate::object::EventType;
pub use live::Emitted;
use live::{Live, Startup};
use nvt_transport::ReplyDetection;
use std::collections::BTreeMap;
use std::sync::Arc;

/// When events are made.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSettings {
    /// Seconds an object must be gone before it is let go and ends (`--event-timeout`).
    pub timeout: f64,
    /// Frames of its camera in a row an object must also be missed in before it is let go.
    pub end_after_frames: u32,
    /// An object is taken up once its hit counter passes this (Frigate's
    /// `detect.min_initialized`: fps / 2, 2 at its default 5 fps).
    pub min_initialized: u32,
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
            end_after_frames: 2,
            min_initialized: 2,
            update_every: 5.0,
            heartbeat: 60.0,
            stationary_after: 10.0,
            snapshot_files: false,
            objects: Arc::default(),
        }
    }
}

/// Most objects a camera has in the book at once (each may hold a frame for its snapshot).
pub const MAX_OBJECTS_PER_CAMERA: usize = 64;

/// Every camera's objects. `F` is a frame (the server keeps a picture, tests keep a number).
pub struct ObjectBook<F> {
    settings: EventSettings,
    objects: BTreeMap<(String, u64), Live<F>>,
    /// New tracks that found their camera's book full of objects that may publish.
    refused: u64,
}

impl<F: Clone> ObjectBook<F> {
    /// A book with no objects.
    pub fn new(settings: EventSettings) -> Self {
        Self { settings, objects: BTreeMap::new(), refused: 0 }
    }

    /// Takes one of `camera`'s processed frames (`size` its width and height), its detections
    /// tracked, and returns the events it makes. `frame` is called at most once, when an
    /// object's best frame would be this one; `None` (no room for another picture) leaves every
    /// object's best frame as it was.
    pub fn observe(
        &mut self,
        camera: &str,
        frame_time: f64,
        size: (u32, u32),
        detections: &[ReplyDetection],
        mut frame: impl FnMut() -> Option<F>,
    ) -> Vec<Emitted<F>> {
        let mut seen: BTreeMap<u64, &ReplyDetection> = BTreeMap::new();
        for d in detections {
            if let Some(track_id) = d.track_id {
                seen.entry(track_id).or_insert(d);
            }
        }
        let mut first_seen = Vec::new();
        for (&track_id, d) in &seen {
            let key = (camera.to_owned(), track_id);
            if !self.objects.contains_key(&key) && self.make_room(camera, d.score) {
                self.objects.insert(key, Live::start(camera, track_id, d, frame_time, size));
                first_seen.push(track_id);
            }
        }
        let settings = self.settings.clone();
        let mut this_frame: Option<Option<F>> = None;
        let mut lost = Vec::new();
        let mut out = Vec::new();
        for ((_, track_id), live) in self.camera_mut(camera) {
            let detection = seen.get(track_id).copied();
            if !live.registered {
                let first = first_seen.contains(track_id);
                if live.confirm(detection, frame_time, size, settings.min_initialized, first) == Startup::Lost {
                    lost.push(*track_id);
                }
                continue;
            }
            let threshold = settings.objects.filter(camera, &live.object.label).threshold;
            if let Some(mut snapshot) = live.update(detection, frame_time, size, threshold, &settings) {
                if let Some(picture) = this_frame.get_or_insert_with(&mut frame).clone() {
                    snapshot.file = settings.snapshot_files.then(|| snapshot_file(camera, &live.object.id));
                    live.take_best(snapshot, picture, frame_time);
                }
            }
            if !live.object.false_positive && live.is_due(frame_time, &settings) {
                let kind = if live.unpublished() { EventType::New } else { EventType::Update };
                out.push(live.publish(kind, frame_time, settings.snapshot_files));
            }
        }
        for track_id in lost {
            // Missed while it was being confirmed: a stray detection, forgotten.
            self.objects.remove(&(camera.to_owned(), track_id));
        }
        let (timeout, frames) = (settings.timeout, settings.end_after_frames);
        out.extend(
            self.end_where(|key, live| let_go_at(live, timeout, frames, frame_time).filter(|_| key.0 == camera)),
        );
        out
    }

    /// Lets go of every object gone for longer than the timeout at `now` (and missed in enough
    /// frames), on every camera.
    pub fn expire(&mut self, now: f64) -> Vec<Emitted<F>> {
        let (timeout, frames) = (self.settings.timeout, self.settings.end_after_frames);
        self.end_where(|_, live| let_go_at(live, timeout, frames, now))
    }

    /// Ends every object of a camera that has disconnected, at `now`.
    pub fn camera_left(&mut self, camera: &str, now: f64) -> Vec<Emitted<F>> {
        self.end_where(|key, live| (key.0 == camera).then(|| now.max(live.last_seen)))
    }

    /// How many objects of each label `camera` has: taken up, true positives, not ended. An
    /// object missed for a frame or two still counts, so counts do not flap.
    pub fn counts(&self, camera: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for live in self.camera(camera).filter(|live| !live.is_false_positive()) {
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

    /// New tracks refused so far because their camera's book was full of objects that may
    /// publish (each frame a track is refused in counts).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Makes room in `camera`'s book for a new track scoring `score`, when it is full: the false
    /// positive least likely to become an event (the lowest computed score, then the longest
    /// unseen) leaves quietly, unless it scores above the newcomer. False when there is no room.
    fn make_room(&mut self, camera: &str, score: f32) -> bool {
        if self.camera(camera).count() < MAX_OBJECTS_PER_CAMERA {
            return true;
        }
        let victim = self
            .camera_mut(camera)
            .filter(|(_, live)| live.is_false_positive())
            .map(|(key, live)| (live.computed_score(), live.last_seen, key.1))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        match victim {
            Some((worst, _, track_id)) if worst <= score => {
                self.objects.remove(&(camera.to_owned(), track_id));
                true
            }
            _ => {
                self.refused += 1;
                false
            }
        }
    }

    fn camera<'a>(&'a self, camera: &'a str) -> impl Iterator<Item = &'a Live<F>> + 'a {
        self.objects.range((camera.to_owned(), 0)..=(camera.to_owned(), u64::MAX)).map(|(_, live)| live)
    }

    fn camera_mut<'a>(&'a mut self, camera: &str) -> impl Iterator<Item = (&'a (String, u64), &'a mut Live<F>)> + 'a {
        self.objects.range_mut((camera.to_owned(), 0)..=(camera.to_owned(), u64::MAX))
    }

    /// Removes the objects `gone` gives an end time; the true positives end with an event then,
    /// the others go quietly.
    fn end_where(&mut self, mut gone: impl FnMut(&(String, u64), &Live<F>) -> Option<f64>) -> Vec<Emitted<F>> {
        let ending: Vec<_> =
            self.objects.iter().filter_map(|(key, live)| gone(key, live).map(|at| (key.clone(), at))).collect();
        let mut out = Vec::new();
        for (key, at) in ending {
            let Some(mut live) = self.objects.remove(&key) else { continue };
            if !live.is_false_positive() {
                live.object.end_time = Some(at);
                out.push(live.publish(EventType::End, at, self.settings.snapshot_files));
            }
        }
        out
    }
}

/// When an object taken up is let go, if it is by `now`: once it has been gone for `timeout`
/// and missed in `frames` of its camera's frames in a row, whichever came last.
fn let_go_at<F: Clone>(live: &Live<F>, timeout: f64, frames: u32, now: f64) -> Option<f64> {
    let gone = live.registered && live.missed >= frames && now - live.last_seen > timeout;
    let missed_enough = if frames == 0 { f64::NEG_INFINITY } else { live.missed_enough_at };
    gone.then(|| (live.last_seen + timeout).max(missed_enough))
}

/// The snapshot file of an event: `<camera>-<id>.jpg`.
pub fn snapshot_file(camera: &str, id: &str) -> String {
    format!("{camera}-{id}.jpg")
}

#[cfg(test)]
mod tests;
