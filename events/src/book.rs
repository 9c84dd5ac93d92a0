//! The objects each camera has in view, and the events their lives make: `new` once a track is
//! confirmed, `update` when its best score or box changes notably (at most once per
//! `update_every`), `end` once it has been gone for the timeout or its camera left.
//!
//! Times are seconds on one clock the caller picks (Unix time for the server, the video's own
//! time for `nvt-detect`), so that the book itself never reads a clock.

use crate::object::{area, iou, new_id, Event, EventObject, EventType, Snapshot};
use nvt_transport::ReplyDetection;
use std::collections::BTreeMap;

/// When events are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventSettings {
    /// Seconds an object must be gone before its `end` (`--event-timeout`).
    pub timeout: f64,
    /// Frames a track must be seen in before its `new`: one stray detection is no event.
    pub confirm_frames: u32,
    /// The least time between two events of one object, in seconds (`end` excepted).
    pub update_every: f64,
    /// How much the best score must rise for an `update`.
    pub score_step: f32,
    /// An `update` when the box overlaps the last published one by less than this.
    pub moved_iou: f32,
    /// Whether snapshots are saved, so that events name their files.
    pub snapshot_files: bool,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            timeout: 2.0,
            confirm_frames: 3,
            update_every: 1.0,
            score_step: 0.05,
            moved_iou: 0.5,
            snapshot_files: false,
        }
    }
}

/// An event, with the object's best frame when it changed since the object's last event (so
/// that its snapshot can be saved).
pub struct Emitted<F> {
    /// The event.
    pub event: Event,
    /// The best frame, when new.
    pub best_frame: Option<F>,
}

/// Most objects a camera has in the book at once: a frame with more new tracks than this makes
/// no events for the extra ones (each object may hold a frame for its snapshot).
pub const MAX_OBJECTS_PER_CAMERA: usize = 64;

/// One object's life.
struct Live<F> {
    object: EventObject,
    /// The object as its last event showed it; `None` until confirmed.
    published: Option<EventObject>,
    last_published: f64,
    hits: u32,
    best_frame: Option<F>,
    best_changed: bool,
}

/// Every camera's objects. `F` is a frame (the server keeps a picture, tests keep a number).
pub struct ObjectBook<F> {
    settings: EventSettings,
    objects: BTreeMap<(String, u64), Live<F>>,
}

impl<F> ObjectBook<F> {
    /// A book with no objects.
    pub fn new(settings: EventSettings) -> Self {
        Self { settings, objects: BTreeMap::new() }
    }

    /// Takes one of `camera`'s processed frames, its detections tracked, and returns the events
    /// it makes. `frame` is called at most once, when an object's best frame is this one.
    pub fn observe(
        &mut self,
        camera: &str,
        frame_time: f64,
        detections: &[ReplyDetection],
        mut frame: impl FnMut() -> Option<F>,
    ) -> Vec<Emitted<F>>
    where
        F: Clone,
    {
        let mut this_frame: Option<Option<F>> = None;
        let mut room = MAX_OBJECTS_PER_CAMERA.saturating_sub(self.camera(camera).count());
        for d in detections {
            let Some(track_id) = d.track_id else { continue };
            let key = (camera.to_owned(), track_id);
            if !self.objects.contains_key(&key) {
                if room == 0 {
                    continue;
                }
                room -= 1;
            }
            let live = self.objects.entry(key).or_insert_with(|| Live {
                object: EventObject {
                    id: new_id(frame_time),
                    track_id,
                    camera: camera.to_owned(),
                    label: d.label.clone(),
                    score: d.score,
                    top_score: 0.0,
                    bbox: d.bbox,
                    area: area(d.bbox),
                    frame_time,
                    start_time: frame_time,
                    end_time: None,
                    false_positive: false,
                    current_zones: Vec::new(),
                    entered_zones: Vec::new(),
                    snapshot: None,
                },
                published: None,
                last_published: frame_time,
                hits: 0,
                best_frame: None,
                best_changed: false,
            });
            let object = &mut live.object;
            live.hits = live.hits.saturating_add(1);
            object.score = d.score;
            object.bbox = d.bbox;
            object.area = area(d.bbox);
            object.frame_time = frame_time;
            if d.score > object.top_score {
                object.top_score = d.score;
                let file = self.settings.snapshot_files.then(|| snapshot_file(camera, &object.id));
                object.snapshot = Some(Snapshot { frame_time, bbox: d.bbox, score: d.score, file });
                live.best_frame = this_frame.get_or_insert_with(&mut frame).clone();
                live.best_changed = true;
            }
        }
        let settings = self.settings;
        let mut out = Vec::new();
        for live in self.camera_mut(camera) {
            let kind = match &live.published {
                None if live.hits >= settings.confirm_frames => EventType::New,
                Some(last)
                    if frame_time - live.last_published >= settings.update_every
                        && (live.object.top_score >= last.top_score + settings.score_step
                            || iou(live.object.bbox, last.bbox) < settings.moved_iou) =>
                {
                    EventType::Update
                }
                _ => continue,
            };
            out.push(publish(live, kind, frame_time));
        }
        out.extend(
            self.end_where(|key, live| key.0 == camera && frame_time - live.object.frame_time > settings.timeout),
        );
        out
    }

    /// Ends every object gone for longer than the timeout at `now`, on every camera.
    pub fn expire(&mut self, now: f64) -> Vec<Emitted<F>> {
        let timeout = self.settings.timeout;
        self.end_where(|_, live| now - live.object.frame_time > timeout)
    }

    /// Ends every object of a camera that has disconnected.
    pub fn camera_left(&mut self, camera: &str) -> Vec<Emitted<F>> {
        self.end_where(|key, _| key.0 == camera)
    }

    /// How many objects of each label `camera` has: confirmed, and not ended. An object missed
    /// for a frame or two still counts, so counts do not flap; it stops counting when it ends.
    pub fn counts(&self, camera: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for live in self.camera(camera).filter(|live| live.published.is_some()) {
            *counts.entry(live.object.label.clone()).or_default() += 1;
        }
        counts
    }

    /// Objects in the book (confirmed or not).
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

    fn camera_mut<'a>(&'a mut self, camera: &str) -> impl Iterator<Item = &'a mut Live<F>> + 'a {
        self.objects.range_mut((camera.to_owned(), 0)..=(camera.to_owned(), u64::MAX)).map(|(_, live)| live)
    }

    /// Removes the objects `gone` picks; the confirmed ones end with an event, the others
    /// (never confirmed) go quietly.
    fn end_where(&mut self, mut gone: impl FnMut(&(String, u64), &Live<F>) -> bool) -> Vec<Emitted<F>> {
        let keys: Vec<_> =
            self.objects.iter().filter(|(key, live)| gone(key, live)).map(|(key, _)| key.clone()).collect();
        let mut out = Vec::new();
        for key in keys {
            let Some(mut live) = self.objects.remove(&key) else { continue };
            if live.published.is_some() {
                live.object.end_time = Some(live.object.frame_time);
                let at = live.object.frame_time;
                out.push(publish(&mut live, EventType::End, at));
            }
        }
        out
    }
}

/// The snapshot file of an event: `<camera>-<id>.jpg`.
pub fn snapshot_file(camera: &str, id: &str) -> String {
    format!("{camera}-{id}.jpg")
}

fn publish<F>(live: &mut Live<F>, kind: EventType, now: f64) -> Emitted<F> {
    let after = live.object.clone();
    let before = live.published.replace(after.clone()).unwrap_or_else(|| after.clone());
    live.last_published = now;
    let best_frame = if std::mem::take(&mut live.best_changed) { live.best_frame.take() } else { None };
    Emitted { event: Event { kind, before, after }, best_frame }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(track_id: u64, label: &str, score: f32, x: f32) -> ReplyDetection {
        ReplyDetection {
            class_id: 0,
            label: label.into(),
            score,
            bbox: [x, 10.0, x + 40.0, 50.0],
            track_id: Some(track_id),
        }
    }

    fn kinds(emitted: &[Emitted<u32>]) -> Vec<(EventType, u64)> {
        emitted.iter().map(|e| (e.event.kind, e.event.after.track_id)).collect()
    }

    #[test]
    fn an_object_is_new_once_confirmed_and_ends_after_the_timeout() {
        let mut book = ObjectBook::new(EventSettings::default());
        let mut all = Vec::new();
        for i in 0..10u32 {
            let t = 100.0 + f64::from(i) * 0.1;
            all.extend(book.observe("door", t, &[seen(7, "person", 0.8, 10.0)], || Some(i)));
        }
        assert_eq!(kinds(&all), [(EventType::New, 7)], "new on the third frame, nothing after while it stands still");
        let new = &all[0];
        assert_eq!(new.event.before, new.event.after);
        assert_eq!(new.best_frame, Some(0), "its best frame is the first, where it scored 0.8");
        assert_eq!(book.counts("door").get("person"), Some(&1));
        // Gone: the frames go on without it; the end comes once 2 s have passed since it was seen.
        assert!(book.observe("door", 102.0, &[], || None).is_empty());
        assert_eq!(book.counts("door").get("person"), Some(&1), "missed for a while: still counted until it ends");
        let end = book.observe("door", 103.0, &[], || None);
        assert_eq!(kinds(&end), [(EventType::End, 7)]);
        let after = &end[0].event.after;
        assert_eq!(after.end_time, Some(100.9));
        assert_eq!(after.id, new.event.after.id, "one id for the object's whole life");
        assert!(book.is_empty());
        assert!(book.counts("door").is_empty());
    }

    #[test]
    fn a_camera_holds_a_bounded_number_of_objects() {
        let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
        let crowd: Vec<ReplyDetection> = (0..500).map(|i| seen(i, "ant", 0.9, i as f32)).collect();
        book.observe("nest", 1.0, &crowd, || None);
        assert_eq!(book.len(), MAX_OBJECTS_PER_CAMERA);
        book.observe("other", 1.0, &crowd[..3], || None);
        assert_eq!(book.len(), MAX_OBJECTS_PER_CAMERA + 3, "the bound is per camera");
    }

    #[test]
    fn a_stray_detection_makes_no_event() {
        let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
        assert!(book.observe("door", 1.0, &[seen(1, "cat", 0.9, 0.0)], || None).is_empty());
        assert!(book.expire(10.0).is_empty(), "it was never confirmed, so it ends quietly");
        assert!(book.is_empty());
    }

    #[test]
    fn updates_come_for_a_better_score_or_a_move_at_most_once_a_second() {
        let mut book = ObjectBook::new(EventSettings::default());
        let mut all = Vec::new();
        let steps = [(0.6, 0.0), (0.6, 0.0), (0.6, 0.0), (0.9, 0.0), (0.9, 0.0), (0.9, 200.0)];
        for (i, (score, x)) in (1u32..).zip(steps) {
            all.extend(book.observe("yard", f64::from(i) * 0.4, &[seen(1, "dog", score, x)], || Some(i)));
        }
        // New at 1.2 s; the better score at 1.6 s is held back until 2.4 s, a second after the
        // new event, when the box has also moved: one update.
        assert_eq!(kinds(&all), [(EventType::New, 1), (EventType::Update, 1)]);
        let update = &all[1].event;
        assert_eq!(update.before.top_score, 0.6);
        assert_eq!(update.after.top_score, 0.9);
        assert_eq!(update.after.bbox[0], 200.0);
        assert_eq!(all[1].best_frame, Some(4), "the best frame changed since the new event");
        assert_eq!(update.after.snapshot.as_ref().map(|s| s.frame_time), Some(4.0 * 0.4));
    }

    #[test]
    fn a_camera_leaving_ends_its_objects_only() {
        let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
        for i in 0..3 {
            let t = f64::from(i);
            book.observe("a", t, &[seen(1, "car", 0.9, 0.0), seen(2, "car", 0.9, 100.0)], || None);
            book.observe("b", t, &[seen(1, "car", 0.9, 0.0)], || None);
        }
        assert_eq!(book.counts("a").get("car"), Some(&2));
        let ended = book.camera_left("a");
        assert_eq!(kinds(&ended), [(EventType::End, 1), (EventType::End, 2)]);
        assert!(ended.iter().all(|e| e.event.after.camera == "a"));
        assert_eq!(book.counts("b").get("car"), Some(&1));
    }

    #[test]
    fn snapshot_files_are_named_after_camera_and_event() {
        let settings = EventSettings { snapshot_files: true, ..EventSettings::default() };
        let mut book = ObjectBook::new(settings);
        let mut all = Vec::new();
        for i in 0..3 {
            all.extend(book.observe("door", f64::from(i), &[seen(4, "person", 0.7, 0.0)], || Some(1u32)));
        }
        let after = &all[0].event.after;
        let file = after.snapshot.as_ref().and_then(|s| s.file.clone());
        assert_eq!(file, Some(format!("door-{}.jpg", after.id)));
    }
}
