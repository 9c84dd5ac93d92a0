//! The tracked objects a camera's lookout keeps, and when the detector last looked at each. An
//! object that moves is looked at on every frame, and for a while after it stops ([`SETTLE`]):
//! the motion check alone would lose one that moves out of view, since the background never
//! learnt it and so its going changes nothing. An object that stands still is carried over from
//! frame to frame by the tracker, without the detector, and looked at again every few seconds
//! (`--recheck`), so that it keeps its id while it stays and its event ends once it has gone. An
//! object the detector missed where it looked is looked for again every few frames
//! ([`LOOK_MISSED_EVERY`]), and no more often for having moved a moment before (one that walked
//! out of view), until it is found or the tracker would let it go. Motion over much of an object
//! that stands still, and within it, is its own (its trace fading into the background as it
//! learns it), and so is smaller motion within it for a moment after (a fading trace breaks up
//! into specks); its own motion waits for its recheck. Motion that reaches out of its box (it
//! walks off), or smaller motion inside it once its trace has gone (something passing in front),
//! is looked at at once.
//!
//! Times are seconds on a clock the caller picks, so that tests run on a virtual one.

use crate::regions::{share_inside, Rect};
use nvt_support::boxes::{area, iou};
use std::collections::BTreeMap;

/// A box that is at least this much inside a region the detector ran on was looked at.
pub const LOOKED_AT: f32 = 0.5;

/// A missed object is looked for again on every this many frames (and on any frame with motion
/// by it): one the detector missed for a frame (its score flickered) is found again a moment
/// later, and one that has walked out of view is not looked for on every frame until the
/// tracker lets it go.
pub const LOOK_MISSED_EVERY: u32 = 3;

/// Seconds an object is looked at on every frame after it last moved, before it is carried: its
/// box settles (a detector's boxes jitter), and one that left is missed at once.
pub const SETTLE: f64 = 0.5;

/// Seconds after motion covering much of an object was last seen that smaller motion within
/// its box is still its trace breaking up as it fades, not something passing in front of it.
pub const TRACE_GAP: f64 = 0.5;

/// A box that still overlaps where it last moved to by at least this much (intersection over
/// union) stood still: a detector's boxes jitter by a few pixels around an object that stands.
const STILL: f32 = 0.9;

/// One tracked object, as the detector last found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched<T> {
    /// The tracker's id for it.
    pub track_id: u64,
    /// Its box where the detector last found it: x1, y1, x2, y2 in frame pixels.
    pub bbox: [f32; 4],
    /// When the detector last looked at it, finding it or not.
    pub looked: f64,
    /// Looks in a row that missed it (0: found in its last look).
    pub misses: u32,
    /// Frames since its first miss in a row (0: found in its last look): it is given up, as the
    /// tracker gives up its track, after as many frames as the tracker waits.
    pub missing: u32,
    /// When it was last found to have moved (or first found).
    pub moved: f64,
    /// Its box then.
    pub anchor: [f32; 4],
    /// When its own motion (its trace fading where it stands) was last seen, if it was since it
    /// was last found.
    pub traced: Option<f64>,
    /// The detection as last found (the pipeline's reply detection).
    pub found: T,
}

/// A tracked detection of a frame the detector ran on, as the tracker returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<T> {
    /// The tracker's id.
    pub track_id: u64,
    /// Its box.
    pub bbox: [f32; 4],
    /// Carried over from an earlier frame (it was outside every region), not found now.
    pub carried: bool,
    /// The detection.
    pub found: T,
}

/// Most objects one camera's lookout keeps (the events' limit per camera, with room).
pub const MAX_WATCHED: usize = 256;

/// A camera's tracked objects.
#[derive(Debug, Clone)]
pub struct Watch<T> {
    objects: BTreeMap<u64, Watched<T>>,
}

impl<T> Default for Watch<T> {
    fn default() -> Self {
        Self { objects: BTreeMap::new() }
    }
}

impl<T: Clone> Watch<T> {
    /// Takes what the tracker made of a frame at `now` (every frame, the detector's or not), on
    /// the `looked` rectangles: objects found are (re)placed; objects it looked at and did not
    /// find count a miss, and are dropped `give_up_after` frames after their first miss in a row;
    /// objects found in their last look that lie outside every rectangle (carried) stay as they
    /// were.
    pub fn update(&mut self, now: f64, looked: &[Rect], seen: Vec<Seen<T>>, give_up_after: u32) {
        let mut present = std::collections::BTreeSet::new();
        for s in seen {
            present.insert(s.track_id);
            if s.carried {
                continue;
            }
            if self.objects.len() >= MAX_WATCHED && !self.objects.contains_key(&s.track_id) {
                continue;
            }
            let (moved, anchor, traced) = match self.objects.get(&s.track_id) {
                Some(before) if iou(before.anchor, s.bbox) >= STILL => (before.moved, before.anchor, before.traced),
                _ => (now, s.bbox, None),
            };
            let watched = Watched {
                track_id: s.track_id,
                bbox: s.bbox,
                looked: now,
                misses: 0,
                missing: 0,
                moved,
                anchor,
                traced,
                found: s.found,
            };
            self.objects.insert(s.track_id, watched);
        }
        self.objects.retain(|id, object| {
            let looked_now = looked_at(object.bbox, looked);
            if present.contains(id) || (object.misses == 0 && !looked_now) {
                return true;
            }
            if looked_now {
                object.misses += 1;
                object.looked = now;
            }
            object.missing += 1;
            object.missing <= give_up_after
        });
    }

    /// The objects a frame carries over: those found in their last look that lie outside every
    /// `looked` rectangle (none: the detector did not run).
    pub fn carried<'a>(&'a self, looked: &'a [Rect]) -> impl Iterator<Item = &'a Watched<T>> + 'a {
        self.objects.values().filter(move |o| o.misses == 0 && !looked_at(o.bbox, looked))
    }

    /// The boxes due a look at `now`: objects missed in their last look (every
    /// [`LOOK_MISSED_EVERY`] frames), objects found in their last look that moved less than
    /// [`SETTLE`] seconds ago, objects not looked at for `recheck` seconds, and objects that
    /// `motion` boxes touch (something about them moved).
    pub fn due(&self, now: f64, recheck: f64, motion: &[[f32; 4]]) -> Vec<[f32; 4]> {
        self.objects
            .values()
            .filter(|o| {
                let looking_for =
                    if o.misses > 0 { o.missing % LOOK_MISSED_EVERY == 0 } else { now - o.moved < SETTLE };
                looking_for || now - o.looked >= recheck || motion.iter().any(|m| touches(o.bbox, *m))
            })
            .map(|o| o.bbox)
            .collect()
    }

    /// The `motion` boxes at `now` that are not the own motion of an object that stands still
    /// (found in its last look, still for [`SETTLE`] seconds or more): within its box and
    /// covering much of it, or anywhere within it up to [`TRACE_GAP`] after such motion was
    /// last seen (its trace breaking up as it fades). The objects whose trace this frame shows
    /// are marked so.
    pub fn not_own(&mut self, now: f64, motion: &[[f32; 4]]) -> Vec<[f32; 4]> {
        motion
            .iter()
            .copied()
            .filter(|&m| {
                let standing = |o: &Watched<T>| o.misses == 0 && now - o.moved >= SETTLE;
                if let Some(object) = self.objects.values_mut().find(|o| standing(o) && holds(o.bbox, m)) {
                    object.traced = Some(now);
                    return false;
                }
                // The specks a fading trace breaks into: within the box, soon after motion that
                // covered it (steady small motion inside it is something else).
                let fading = |o: &Watched<T>| o.traced.is_some_and(|t| now - t <= TRACE_GAP);
                !self.objects.values().any(|o| standing(o) && fading(o) && within(o.bbox, m))
            })
            .collect()
    }

    /// Every object kept.
    pub fn objects(&self) -> impl Iterator<Item = &Watched<T>> {
        self.objects.values()
    }

    /// Whether it keeps as many objects as it may ([`MAX_WATCHED`]).
    pub fn is_full(&self) -> bool {
        self.objects.len() >= MAX_WATCHED
    }

    /// Forgets every object (the camera's tracker started again, or the frame size changed).
    pub fn clear(&mut self) {
        self.objects.clear();
    }
}

/// Whether a box was looked at by a detector run on `looked`.
pub fn looked_at(bbox: [f32; 4], looked: &[Rect]) -> bool {
    looked.iter().any(|r| share_inside(bbox, *r) >= LOOKED_AT)
}

/// A box's own motion may reach this share of its width and height beyond it: the motion
/// picture is coarse (a pixel of it is several of the frame's), its blobs are grown, and the
/// frame is blurred before it is compared.
const OWN_MOTION_REACH: f32 = 0.15;

/// A box's own motion covers at least this share of it: a trace fading where it stands, or the
/// object shifting as a whole. Smaller motion inside a large box is something else (a person
/// walking along a parked car).
const OWN_MOTION_SHARE: f32 = 0.5;

/// Whether `motion` is `bbox`'s own: [`within`] it, and covering [`OWN_MOTION_SHARE`] of it.
fn holds(bbox: [f32; 4], motion: [f32; 4]) -> bool {
    within(bbox, motion) && area(motion) >= OWN_MOTION_SHARE * area(bbox)
}

/// Whether `motion` lies within `bbox`, give or take [`OWN_MOTION_REACH`].
fn within(bbox: [f32; 4], motion: [f32; 4]) -> bool {
    let (dx, dy) = ((bbox[2] - bbox[0]) * OWN_MOTION_REACH, (bbox[3] - bbox[1]) * OWN_MOTION_REACH);
    motion[0] >= bbox[0] - dx && motion[1] >= bbox[1] - dy && motion[2] <= bbox[2] + dx && motion[3] <= bbox[3] + dy
}

fn touches(a: [f32; 4], b: [f32; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: u64, x: f32, carried: bool) -> Seen<&'static str> {
        Seen { track_id: id, bbox: [x, 100.0, x + 50.0, 150.0], carried, found: "person" }
    }

    const WHOLE: Rect = [0, 0, 1280, 720];

    #[test]
    fn found_objects_are_carried_until_they_are_due_again() {
        let mut watch = Watch::default();
        watch.update(0.0, &[WHOLE], vec![seen(1, 100.0, false), seen(2, 900.0, false)], 30);
        assert_eq!(watch.carried(&[]).count(), 2);
        assert!(watch.due(4.9, 5.0, &[]).is_empty(), "looked at 4.9 s ago: not due");
        assert_eq!(watch.due(5.0, 5.0, &[]).len(), 2, "due after the recheck interval");
        // At 2 s something moves by object 1: the detector runs on a region around it only, and
        // object 2 is carried.
        let region = [0, 0, 400, 400];
        assert_eq!(watch.carried(&[region]).map(|o| o.track_id).collect::<Vec<_>>(), [2]);
        watch.update(2.0, &[region], vec![seen(1, 102.0, false), seen(2, 900.0, true)], 30);
        assert!(watch.due(4.0, 5.0, &[]).is_empty());
        assert_eq!(watch.due(5.0, 5.0, &[]), [[900.0, 100.0, 950.0, 150.0]], "2 is due 5 s after its last look");
        assert_eq!(watch.due(7.0, 5.0, &[]).len(), 2, "and 1 is due 5 s after its own");
        assert_eq!(watch.objects().find(|o| o.track_id == 2).map(|o| o.looked), Some(0.0), "carried is not looked at");
    }

    #[test]
    fn a_moving_object_is_due_on_every_frame_until_it_has_stood_still_a_while() {
        let mut watch = Watch::default();
        // It walks 10 px a frame: due on every frame, so that it is seen to leave (its going
        // changes nothing against a background that never learnt it).
        for frame in 0..20 {
            let now = f64::from(frame) * 0.1;
            watch.update(now, &[WHOLE], vec![seen(1, 100.0 + 10.0 * f64::from(frame) as f32, false)], 30);
            assert_eq!(watch.due(now + 0.1, 5.0, &[]).len(), 1, "moving at {now:.1} s");
        }
        // It stops at 1.9 s: still due for half a second, then carried until the recheck.
        for frame in 20..40 {
            watch.update(f64::from(frame) * 0.1, &[WHOLE], vec![seen(1, 290.0, false)], 30);
        }
        assert_eq!(watch.due(3.0, 5.0, &[]).len(), 0, "stood still since 2.0 s");
        // A box that jitters by a few pixels, as a detector's do, is standing still too; one that
        // creeps away is moving once it is a tenth off where it stopped.
        for (t, x) in [(4.0, 292.0), (4.1, 288.0), (4.2, 291.0)] {
            watch.update(t, &[WHOLE], vec![seen(1, x, false)], 30);
            assert_eq!(watch.due(t + 0.1, 5.0, &[]).len(), 0, "{x}");
        }
        watch.update(4.3, &[WHOLE], vec![seen(1, 296.0, false)], 30);
        assert_eq!(watch.due(4.4, 5.0, &[]).len(), 1, "6 px of 50 off: moving");
    }

    #[test]
    fn motion_that_touches_an_object_makes_it_due() {
        let mut watch = Watch::default();
        watch.update(0.0, &[WHOLE], vec![seen(1, 100.0, false)], 30);
        assert!(watch.due(1.0, 5.0, &[[300.0, 300.0, 320.0, 320.0]]).is_empty());
        assert_eq!(watch.due(1.0, 5.0, &[[140.0, 140.0, 170.0, 170.0]]).len(), 1);
    }

    #[test]
    fn motion_within_an_object_that_stands_still_is_its_own() {
        let mut watch = Watch::default();
        watch.update(0.0, &[WHOLE], vec![seen(1, 100.0, false)], 30);
        let inside = [105.0, 104.0, 150.0, 152.0];
        let small = [110.0, 110.0, 125.0, 125.0];
        assert_eq!(watch.not_own(0.4, &[inside]), [inside], "it came a moment ago: not known to stand");
        assert_eq!(watch.not_own(0.4, &[small]), [small], "nor is a small thing in front of it");
        let mut other = watch.clone();
        assert!(other.not_own(1.0, &[inside]).is_empty(), "still for half a second: its own");
        let out = [105.0, 104.0, 170.0, 152.0];
        let elsewhere = [300.0, 300.0, 320.0, 320.0];
        assert_eq!(watch.not_own(1.0, &[out, elsewhere]), [out, elsewhere], "reaching out of its box, elsewhere");
        assert_eq!(watch.not_own(1.0, &[small]), [small], "a small thing passing in front of it");
        // Its trace fades and breaks up into specks: they are its own while it lasts, and a
        // small thing inside it is something passing once it has gone.
        assert!(watch.not_own(1.1, &[inside]).is_empty(), "its trace");
        assert!(watch.not_own(1.2, &[small, [130.0, 130.0, 140.0, 140.0]]).is_empty(), "the trace breaking up");
        assert!(watch.not_own(1.5, &[small]).is_empty(), "within half a second of the last of it");
        assert_eq!(watch.not_own(1.7, &[small]), [small], "the trace has gone: something passing");
        // Small motion inside it that goes on (someone walking along a parked car) does not
        // keep the trace alive.
        assert!(watch.not_own(2.0, &[inside]).is_empty(), "its trace again");
        let along: Vec<bool> = (1..=8).map(|i| watch.not_own(2.0 + f64::from(i) * 0.1, &[small]).is_empty()).collect();
        assert_eq!(along, [true, true, true, true, true, false, false, false], "own for half a second only");
        assert_eq!(watch.not_own(2.3, &[out]), [out], "it walks off");
        watch.update(2.5, &[WHOLE], Vec::new(), 30);
        assert_eq!(watch.not_own(3.0, &[inside]), [inside], "missed in its last look: not known to be there");
    }

    #[test]
    fn an_object_that_walked_out_of_view_is_looked_for_every_few_frames_not_every_frame() {
        let mut watch = Watch::default();
        for frame in 0..10 {
            watch.update(f64::from(frame) * 0.1, &[WHOLE], vec![seen(1, 100.0 + 10.0 * frame as f32, false)], 30);
        }
        // It has gone at 1.0 s: the first frame without it is due (it moved a moment ago), and
        // once missed it is looked for as any missed object is.
        assert_eq!(watch.due(1.0, 5.0, &[]).len(), 1);
        watch.update(1.0, &[WHOLE], Vec::new(), 30);
        let due: Vec<bool> = (1..=6)
            .map(|i| {
                let now = 1.0 + f64::from(i) * 0.1;
                let due = !watch.due(now, 5.0, &[]).is_empty();
                watch.update(now, if due { &[WHOLE][..] } else { &[] }, Vec::new(), 30);
                due
            })
            .collect();
        assert_eq!(due, [false, false, true, false, false, true], "every {LOOK_MISSED_EVERY} frames");
    }

    #[test]
    fn a_missed_object_is_looked_for_every_few_frames_then_given_up_with_its_track() {
        let mut watch = Watch::default();
        watch.update(0.0, &[WHOLE], vec![seen(1, 100.0, false)], 10);
        // Missed at its recheck at 5.1 s; then the frames go by, the detector looking only where
        // it is due.
        let mut looks = Vec::new();
        for frame in 1..=10 {
            let now = 5.0 + f64::from(frame) * 0.1;
            let looked = if frame == 1 || !watch.due(now, 5.0, &[]).is_empty() { vec![WHOLE] } else { Vec::new() };
            if !looked.is_empty() {
                looks.push(frame);
            }
            watch.update(now, &looked, Vec::new(), 10);
            assert_eq!(watch.carried(&[]).count(), 0, "a missed object is not carried");
        }
        assert_eq!(looks, [1, 4, 7, 10], "looked for every {LOOK_MISSED_EVERY} frames");
        assert_eq!(watch.objects().count(), 1, "kept for as many frames as the tracker waits");
        watch.update(6.1, &[], Vec::new(), 10);
        assert_eq!(watch.objects().count(), 0, "then given up, as the tracker gives up its track");

        // Found again before that: it is as good as new.
        watch.update(10.0, &[WHOLE], vec![seen(5, 100.0, false)], 3);
        watch.update(10.1, &[WHOLE], Vec::new(), 3);
        watch.update(10.2, &[], Vec::new(), 3);
        watch.update(10.3, &[WHOLE], vec![seen(5, 104.0, false)], 3);
        let object = watch.objects().next().expect("kept");
        assert_eq!((object.misses, object.missing, object.looked, object.bbox[0]), (0, 0, 10.3, 104.0));
    }

    #[test]
    fn an_object_outside_the_regions_is_not_missed() {
        let mut watch = Watch::default();
        watch.update(0.0, &[WHOLE], vec![seen(1, 100.0, false)], 3);
        for t in 1..10 {
            watch.update(f64::from(t), &[[600, 0, 920, 320]], Vec::new(), 3);
        }
        assert_eq!(watch.carried(&[]).count(), 1, "looked elsewhere: still carried");
    }
}
