//! A camera's plans on a virtual clock: the first frame whole, still frames carried, motion in
//! regions, a standing object re-checked every few seconds, a missed one looked for at once.

use super::*;
use crate::watch::Seen;

/// Frames are 640x480; their motion pictures 160x120.
const FRAME: (u32, u32) = (640, 480);

fn scene() -> Grey {
    let mut grey = Grey::filled(160, 120, 0).expect("grey");
    for (i, v) in grey.pixels_mut().iter_mut().enumerate() {
        let (x, y) = (i % 160, i / 160);
        *v = 70 + ((x / 8 + y / 8) % 2) as u8 * 40;
    }
    grey
}

fn settings() -> LookSettings {
    LookSettings { recheck: 5.0, give_up_after: 3, ..LookSettings::default() }
}

/// The detector "found" a person at `x` (frame pixels) on the looked rectangles.
fn found(lookout: &mut Lookout<&'static str>, now: f64, look: &Look, person: Option<f32>) {
    let looked = look.plan.looked(FRAME);
    let mut seen = Vec::new();
    if let Some(x) = person {
        let bbox = [x, 200.0, x + 40.0, 300.0];
        let carried = !crate::watch::looked_at(bbox, &looked);
        seen.push(Seen { track_id: 7, bbox, carried, found: "person" });
    }
    lookout.watch.update(now, &looked, seen, 3);
}

#[test]
fn the_first_frame_is_looked_at_whole_then_still_frames_are_carried() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    assert_eq!(first.plan, Plan::Frame);
    found(&mut lookout, 0.0, &first, None);
    for i in 1..50 {
        let look = lookout.plan(&scene(), FRAME, 0, f64::from(i) * 0.1, &s, 320);
        assert_eq!(look.plan, Plan::Carry, "frame {i}: nothing moved, nothing tracked");
    }
}

#[test]
fn motion_is_looked_at_in_a_region_around_it_at_full_resolution() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    let mut moved = scene();
    moved.fill_rect([20, 60, 30, 85], 250); // frame pixels 80-120 x 240-340
    let look = lookout.plan(&moved, FRAME, 0, 0.1, &s, 320);
    let Plan::Regions(rects) = &look.plan else { panic!("{:?}", look.plan) };
    assert_eq!(rects.len(), 1);
    let [x1, y1, x2, y2] = rects[0];
    assert_eq!((x2 - x1, y2 - y1), (320, 320), "the model's side: no scaling");
    assert!(x1 <= 80 && x2 >= 120 && y1 <= 240 && y2 >= 340, "{rects:?} covers the motion {:?}", look.motion);
}

#[test]
fn a_standing_object_is_carried_and_rechecked_every_few_seconds() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    found(&mut lookout, 0.0, &first, Some(300.0));
    let mut rechecks = Vec::new();
    for i in 1..=150 {
        let now = f64::from(i) * 0.1;
        let look = lookout.plan(&scene(), FRAME, 0, now, &s, 320);
        match &look.plan {
            Plan::Carry => {
                let carried: Vec<u64> = lookout.watch.carried(&[]).map(|o| o.track_id).collect();
                assert_eq!(carried, [7], "at {now:.1} s the person is carried over");
            }
            Plan::Regions(rects) => {
                assert!(crate::watch::looked_at([300.0, 200.0, 340.0, 300.0], rects), "{rects:?}");
                rechecks.push((now * 10.0).round() / 10.0);
                found(&mut lookout, now, &look, Some(300.0));
            }
            Plan::Frame => panic!("at {now:.1} s: the whole frame"),
        }
    }
    // Newly found, it is looked at on every frame for half a second (it may be moving), then
    // every 5 s after its last look.
    assert_eq!(rechecks, [0.1, 0.2, 0.3, 0.4, 5.4, 10.4], "looked at again every 5 s");
}

/// A person stops in front of a background that never saw them: while the background learns
/// them, their trace changes inside their box, and waits for their recheck; when they walk off,
/// the motion reaches out of the box and they are looked at at once.
#[test]
fn motion_within_a_standing_object_waits_for_its_recheck_and_walking_off_does_not() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    found(&mut lookout, 0.0, &first, None);
    // The person (frame pixels 300-340 x 200-300, motion pixels 75-85 x 50-75) comes and stands.
    let standing = |fade: u8| {
        let mut grey = scene();
        grey.fill_rect([76, 51, 84, 74], 250 - fade);
        grey
    };
    let mut looks = Vec::new();
    for i in 1..=40 {
        let now = f64::from(i) * 0.1;
        // The trace changes as the background learns the person: brightness wavers inside them.
        let look = lookout.plan(&standing((i % 4) as u8 * 30), FRAME, 0, now, &s, 320);
        if look.plan != Plan::Carry {
            looks.push(i);
            found(&mut lookout, now, &look, Some(300.0));
        }
    }
    assert!(looks.len() <= 11, "looked at for its first second only, not for its trace: {looks:?}");
    assert!(looks.iter().all(|&i| i <= 11), "{looks:?}");
    // They step off to the right: motion beyond their box.
    let mut off = scene();
    off.fill_rect([80, 51, 92, 74], 250);
    let look = lookout.plan(&off, FRAME, 0, 4.1, &s, 320);
    let Plan::Regions(rects) = &look.plan else { panic!("{:?}", look.plan) };
    assert!(crate::watch::looked_at([300.0, 200.0, 340.0, 300.0], rects), "{rects:?}");
}

#[test]
fn an_object_missed_at_its_recheck_is_looked_for_until_found_or_given_up() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    found(&mut lookout, 0.0, &first, Some(300.0));
    // At 5 s it is due, and the detector does not find it any more. Every frame is tracked
    // (the tracker counts the frames it misses), the detector running where the plan says.
    let mut looks = Vec::new();
    for i in 50..70 {
        let now = f64::from(i) * 0.1;
        let look = lookout.plan(&scene(), FRAME, 0, now, &s, 320);
        if look.plan != Plan::Carry {
            looks.push(i);
        }
        found(&mut lookout, now, &look, None);
    }
    assert_eq!(looks, [50, 53], "the recheck, then once more 3 frames on; given up 3 frames after the miss");
    assert_eq!(lookout.watch.objects().count(), 0);
    assert_eq!(lookout.watch.carried(&[]).count(), 0, "and it is not carried meanwhile");
}

#[test]
fn a_lighting_change_is_looked_at_whole_once() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    let mut negative = scene();
    for (i, v) in negative.pixels_mut().iter_mut().enumerate() {
        *v = if i / 160 < 60 { 255 } else { 0 };
    }
    let look = lookout.plan(&negative, FRAME, 0, 0.1, &s, 320);
    assert!(look.seen.lighting);
    assert_eq!(look.plan, Plan::Frame);
    assert_eq!(lookout.plan(&negative, FRAME, 0, 0.2, &s, 320).plan, Plan::Carry);
}

#[test]
fn the_stamp_rows_and_masks_are_ignored() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let masks = std::sync::Arc::new(vec!["door:0,0.5,1,0.5,1,1,0,1".parse().expect("mask")]);
    let s = LookSettings { masks, ..settings() };
    lookout.plan(&scene(), FRAME, 4, 0.0, &s, 320);
    for i in 1..20u8 {
        let mut frame = scene();
        frame.fill_rect([0, 0, 160, 4], i.wrapping_mul(97)); // the stamp changes every frame
        frame.fill_rect([50, 80, 70, 100], 255 - i * 10); // something in the masked bottom half
        let look = lookout.plan(&frame, FRAME, 4, f64::from(i) * 0.1, &s, 320);
        assert_eq!(look.plan, Plan::Carry, "frame {i}: {:?}", look.motion);
    }
}

#[test]
fn a_change_of_frame_size_forgets_the_objects_and_looks_at_the_whole_frame() {
    // A client that scales its frames down on a slow link: the motion picture keeps its size,
    // the boxes would be in the old pixels and carried for ever.
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    found(&mut lookout, 0.0, &first, Some(500.0));
    let smaller = lookout.plan(&scene(), (320, 240), 0, 0.1, &s, 320);
    assert_eq!(smaller.plan, Plan::Frame);
    assert_eq!(lookout.watch.objects().count(), 0, "the old boxes are forgotten");
    let next = lookout.plan(&scene(), (320, 240), 0, 0.2, &s, 320);
    assert_eq!(next.plan, Plan::Carry, "then as before");
}

#[test]
fn a_region_that_would_cut_a_watched_object_covers_it() {
    let mut lookout: Lookout<&str> = Lookout::new("door");
    let s = settings();
    let first = lookout.plan(&scene(), FRAME, 0, 0.0, &s, 320);
    // A person standing at 300-340 (frame pixels), long since looked at.
    found(&mut lookout, 0.0, &first, Some(300.0));
    for i in 1..30 {
        let look = lookout.plan(&scene(), FRAME, 0, 1.0 + f64::from(i) * 0.1, &s, 320);
        assert_eq!(look.plan, Plan::Carry);
    }
    // Something moves at 100-140: its 320-wide region would be 0-320, through the person; a
    // region reaching into the person's box must hold all of it.
    let mut moved = scene();
    moved.fill_rect([25, 60, 35, 85], 250); // frame pixels 100-140 x 240-340
    let look = lookout.plan(&moved, FRAME, 0, 4.1, &s, 320);
    let Plan::Regions(rects) = &look.plan else { panic!("{:?}", look.plan) };
    let person = [300.0, 200.0, 340.0, 300.0];
    for r in rects {
        assert!(!cuts(*r, person), "{r:?} cuts the person {person:?}");
    }
}
