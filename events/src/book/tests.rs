//! Frigate's rules on a virtual clock: each test feeds frames with the times it chooses.

use super::*;

const SIZE: (u32, u32) = (640, 480);

fn seen(track_id: u64, label: &str, score: f32, x: f32) -> ReplyDetection {
    ReplyDetection {
        class_id: 0,
        label: label.into(),
        score,
        bbox: [x, 100.0, x + 40.0, 140.0],
        track_id: Some(track_id),
        carried: false,
        region: None,
    }
}

fn kinds(emitted: &[Emitted<u32>]) -> Vec<(EventType, u64)> {
    emitted.iter().map(|e| (e.event.kind, e.event.after.track_id)).collect()
}

/// Feeds `frames` (time, detections) to a book; returns every event.
fn run(book: &mut ObjectBook<u32>, frames: impl IntoIterator<Item = (f64, Vec<ReplyDetection>)>) -> Vec<Emitted<u32>> {
    let mut all = Vec::new();
    for (i, (t, detections)) in (0u32..).zip(frames) {
        all.extend(book.observe("door", t, SIZE, &detections, || Some(i)));
    }
    all
}

#[test]
fn an_object_is_taken_up_then_new_once_a_true_positive_and_ends_when_let_go() {
    let mut book = ObjectBook::new(EventSettings::default());
    let frames = (0..10).map(|i| (100.0 + f64::from(i) * 0.2, vec![seen(7, "person", 0.9, 50.0)]));
    let all = run(&mut book, frames);
    assert_eq!(kinds(&all), [(EventType::New, 7)], "one new, nothing while it stands still");
    let new = &all[0].event;
    assert_eq!(new.after.start_time, 100.4, "taken up at its third sighting in a row, as Frigate does");
    assert_eq!(new.after.frame_time, 100.6, "new at the next frame, its median 0.9 past 0.7");
    assert!(new.before.false_positive && !new.after.false_positive, "before is the object as taken up");
    assert_eq!((new.before.top_score, new.after.top_score), (0.0, 0.9));
    assert_eq!(new.before.id, new.after.id);
    assert_eq!(new.after.bbox, [50, 100, 90, 140]);
    assert_eq!((new.after.area, new.after.ratio, new.after.region), (1600, 1.0, [0, 0, 640, 480]));
    assert_eq!(all[0].best_frame, Some(3));
    assert_eq!(new.after.max_severity, Some(crate::object::Severity::Alert), "a person is an alert");
    assert_eq!(book.counts("door").get("person"), Some(&1));
    // Gone: still counted until it has been gone for 5 s (and missed in 2 frames), then let go.
    assert!(book.observe("door", 104.0, SIZE, &[], || None).is_empty());
    assert!(book.observe("door", 105.0, SIZE, &[], || None).is_empty());
    assert_eq!(book.counts("door").get("person"), Some(&1), "missed for a while: still counted");
    let end = book.observe("door", 106.9, SIZE, &[], || None);
    assert_eq!(kinds(&end), [(EventType::End, 7)]);
    let after = &end[0].event.after;
    assert_eq!(after.end_time, Some(101.8 + 5.0), "end_time is when it was let go: last seen + 5 s");
    assert_eq!(end[0].event.before.frame_time, 100.6, "before is the object as its last event showed it");
    assert!(book.is_empty() && book.counts("door").is_empty());
}

#[test]
fn a_stray_detection_is_never_taken_up() {
    let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    assert!(run(&mut book, [(1.0, vec![seen(1, "cat", 0.99, 0.0)]), (1.2, vec![])]).is_empty());
    assert_eq!(book.len(), 1, "one miss after the first sighting: its hit counter is down to 0");
    assert!(book.observe("door", 1.4, SIZE, &[], || None).is_empty());
    assert!(book.is_empty(), "a second miss: below 0, forgotten");
}

#[test]
fn an_object_is_taken_up_on_frigates_hit_counter_and_a_miss_while_confirming_does_not_kill_it() {
    // Seen, missed, then seen three times: the counter goes 1, 0, 1, 2, 3; past 2 it is taken up
    // (Frigate's norfair tracker with min_initialized 2), and new at the frame after.
    let person = || vec![seen(5, "person", 0.9, 50.0)];
    let frames = [person(), vec![], person(), person(), person(), person()];
    let mut book = ObjectBook::new(EventSettings::default());
    let all = run(&mut book, (0u32..).zip(frames).map(|(i, d)| (f64::from(i), d)));
    assert_eq!(kinds(&all), [(EventType::New, 5)]);
    assert_eq!(all[0].event.after.start_time, 4.0, "taken up at the fifth frame");
    assert_eq!(all[0].event.after.frame_time, 5.0);
    // Without the miss, at the third sighting.
    let mut steady = ObjectBook::new(EventSettings::default());
    let all = run(&mut steady, (0..4).map(|i| (f64::from(i), person())));
    assert_eq!((all[0].event.after.start_time, all[0].event.after.frame_time), (2.0, 3.0));
}

#[test]
fn a_camera_sending_a_frame_every_10_s_does_not_end_and_restart_its_objects() {
    // Below 0.2 fps every frame is more than the 5 s timeout after the last: time alone would
    // let each object go between two frames. An object is let go only once it has also been
    // missed in 2 frames in a row.
    let mut book = ObjectBook::new(EventSettings::default());
    let car = || vec![seen(9, "car", 0.9, 200.0)];
    let mut all = Vec::new();
    for i in 0..8u32 {
        let t = f64::from(i) * 10.0;
        all.extend(book.observe("door", t, SIZE, &car(), || Some(i)));
        all.extend(book.expire(t + 9.0));
    }
    let lives: Vec<_> = kinds(&all).into_iter().filter(|(kind, _)| *kind != EventType::Update).collect();
    assert_eq!(lives, [(EventType::New, 9)], "one life, not one per frame");
    // Gone: missed at 80 s and 90 s; let go at the second miss, 20 s after it was last seen.
    all.clear();
    all.extend(book.observe("door", 80.0, SIZE, &[], || None));
    all.extend(book.expire(89.0));
    assert!(all.is_empty(), "missed in one frame only");
    all.extend(book.observe("door", 90.0, SIZE, &[], || None));
    assert_eq!(kinds(&all), [(EventType::End, 9)]);
    assert_eq!(all[0].event.after.end_time, Some(90.0), "when it was let go: the second miss");
}

#[test]
fn a_false_positive_publishes_nothing_and_is_not_counted() {
    let mut book = ObjectBook::new(EventSettings::default());
    // 0.65 every frame: the median never reaches 0.7.
    let mut all = run(&mut book, (0..50).map(|i| (f64::from(i) * 0.1, vec![seen(1, "triangle", 0.65, 10.0)])));
    assert!(book.counts("door").is_empty());
    // Taken up at 0.69, then seen at 0.8 every third frame only: the misses count 0, so the
    // median never reaches 0.7...
    let blinking = |i: u32| match i {
        50 | 51 => vec![seen(2, "ghost", 0.69, 300.0)],
        i if i % 3 == 1 => vec![seen(2, "ghost", 0.8, 300.0)],
        _ => vec![],
    };
    all.extend(run(&mut book, (50..100).map(|i| (f64::from(i) * 0.1, blinking(i)))));
    // ...where seen in every frame, it does.
    let mut steady = ObjectBook::new(EventSettings::default());
    let steadily = |i: u32| vec![seen(3, "ghost", if i < 2 { 0.69 } else { 0.8 }, 300.0)];
    assert_eq!(kinds(&run(&mut steady, (0..10).map(|i| (f64::from(i) * 0.1, steadily(i))))), [(EventType::New, 3)]);
    all.extend(book.expire(100.0));
    assert!(all.is_empty(), "{:?}", kinds(&all));
    assert!(book.is_empty(), "let go quietly");
}

#[test]
fn top_score_is_the_highest_median_not_the_highest_score() {
    let mut book = ObjectBook::new(EventSettings::default());
    let scores = [0.75, 0.75, 0.75, 0.99, 0.75, 0.75, 0.75, 0.75];
    let all = run(&mut book, (0u32..).zip(scores).map(|(i, s)| (f64::from(i) * 0.1, vec![seen(3, "dog", s, 0.0)])));
    let ended = book.camera_left("door", 10.0);
    let last = &ended[0].event.after;
    assert_eq!(last.top_score, 0.75, "one 0.99 among 0.75s moves the median not at all");
    assert_eq!(all[0].event.after.top_score, 0.75);
    assert_eq!(last.end_time, Some(10.0), "a camera leaving ends its objects then");
}

#[test]
fn a_threshold_per_label_decides_true_positives() {
    let mut filters = ObjectFilters::default();
    filters.add_filter("door:triangle:threshold=0.6").expect("filter");
    let mut book = ObjectBook::new(EventSettings { objects: Arc::new(filters), ..EventSettings::default() });
    let all = run(&mut book, (0..5).map(|i| (f64::from(i), vec![seen(1, "triangle", 0.65, 10.0)])));
    assert_eq!(kinds(&all), [(EventType::New, 1)]);
}

#[test]
fn a_better_snapshot_updates_after_5_s_a_move_at_once_and_a_heartbeat_every_60_s() {
    let mut book = ObjectBook::new(EventSettings::default());
    let mut frames = vec![(0.0, 0.8, 100.0), (0.5, 0.8, 100.0), (0.9, 0.8, 100.0), (1.0, 0.8, 100.0)];
    // A better score at 2 s: held back until the last event is 5 s old.
    frames.extend([(2.0, 0.95, 100.0), (4.0, 0.95, 100.0), (6.1, 0.95, 100.0)]);
    // A move to a new position at 7 s: at once.
    frames.push((7.0, 0.95, 300.0));
    // Standing still, seen every 10 s until past a minute after the last event.
    frames.extend((1..=9).map(|i| (7.0 + f64::from(i) * 10.0, 0.95, 300.0)));
    let all = run(&mut book, frames.into_iter().map(|(t, s, x)| (t, vec![seen(1, "car", s, x)])));
    let got: Vec<(EventType, f64)> = all.iter().map(|e| (e.event.kind, e.event.after.frame_time)).collect();
    assert_eq!(got[..3], [(EventType::New, 1.0), (EventType::Update, 6.1), (EventType::Update, 7.0)], "{got:?}");
    assert_eq!(all[1].event.after.snapshot.as_ref().map(|s| s.frame_time), Some(2.0), "the better frame's time");
    assert_eq!(all[1].best_frame, Some(4), "with the better frame, for the snapshot");
    assert_eq!(all[2].event.after.position_changes, 1);
    assert!(all[2].best_frame.is_none(), "a move without a better frame carries none");
    // Standing still for 10 s makes it stationary (a significant change), then the heartbeat.
    let rest: Vec<(EventType, f64, bool)> =
        all[3..].iter().map(|e| (e.event.kind, e.event.after.frame_time, e.event.after.stationary)).collect();
    assert_eq!(rest, [(EventType::Update, 27.0, true), (EventType::Update, 97.0, true)], "{rest:?}");
}

#[test]
fn a_camera_leaving_ends_its_objects_only() {
    let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    for i in 0..4 {
        let t = f64::from(i);
        book.observe("a", t, SIZE, &[seen(1, "car", 0.9, 0.0), seen(2, "car", 0.9, 100.0)], || None);
        book.observe("b", t, SIZE, &[seen(1, "car", 0.9, 0.0)], || None);
    }
    assert_eq!(book.counts("a").get("car"), Some(&2));
    let ended = book.camera_left("a", 4.0);
    assert_eq!(kinds(&ended), [(EventType::End, 1), (EventType::End, 2)]);
    assert!(ended.iter().all(|e| e.event.after.camera == "a"));
    assert_eq!(book.counts("b").get("car"), Some(&1));
}

#[test]
fn a_camera_holds_a_bounded_number_of_objects() {
    let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    let crowd: Vec<ReplyDetection> = (0..500).map(|i| seen(i, "ant", 0.9, i as f32)).collect();
    book.observe("nest", 1.0, SIZE, &crowd, || None);
    assert_eq!(book.len(), MAX_OBJECTS_PER_CAMERA);
    assert_eq!(book.refused(), 0, "newcomers took the places of ones as promising: none refused");
    book.observe("other", 1.0, SIZE, &crowd[..3], || None);
    assert_eq!(book.len(), MAX_OBJECTS_PER_CAMERA + 3, "the bound is per camera");
}

#[test]
fn false_positives_give_way_to_a_newcomer_and_true_positives_never() {
    // 64 parked cars at 0.6 (false positives: the median never reaches 0.7) fill the book; a
    // person at 0.95 arrives. The car that gives way comes back in the next frame, and gives way
    // again: the person is never the one to leave, and becomes an event.
    let mut book: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    let cars: Vec<ReplyDetection> = (1..=64).map(|i| seen(i, "car", 0.6, (i * 9) as f32)).collect();
    let mut all = run(&mut book, (0..5).map(|i| (f64::from(i), cars.clone())));
    assert_eq!(book.len(), MAX_OBJECTS_PER_CAMERA);
    let mut crowd = cars.clone();
    crowd.push(seen(100, "person", 0.95, 300.0));
    all.extend(run(&mut book, (5..12).map(|i| (f64::from(i), crowd.clone()))));
    assert_eq!(kinds(&all), [(EventType::New, 100)], "the person is an event");
    assert_eq!(all[0].event.after.max_severity, Some(crate::object::Severity::Alert));
    assert_eq!(book.refused(), 0);
    // A book full of true positives refuses a newcomer, and counts it.
    let mut full: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    let dogs: Vec<ReplyDetection> = (1..=64).map(|i| seen(i, "dog", 0.9, (i * 9) as f32)).collect();
    let made = run(&mut full, (0..5).map(|i| (f64::from(i), dogs.clone())));
    assert_eq!(made.len(), 64);
    assert_eq!(made[0].event.after.max_severity, Some(crate::object::Severity::Detection), "a dog is a detection");
    let mut more = dogs.clone();
    more.push(seen(200, "person", 0.99, 300.0));
    assert!(run(&mut full, (5..8).map(|i| (f64::from(i), more.clone()))).is_empty());
    assert_eq!(full.refused(), 3, "refused in each of its 3 frames");
    // A newcomer scoring below every false positive does not push one out.
    let mut weak: ObjectBook<u32> = ObjectBook::new(EventSettings::default());
    run(&mut weak, (0..3).map(|i| (f64::from(i), cars.clone())));
    let mut faint = cars.clone();
    faint.push(seen(300, "cat", 0.5, 10.0));
    run(&mut weak, [(3.0, faint)]);
    assert_eq!(weak.refused(), 1);
}

#[test]
fn a_frame_that_cannot_be_kept_leaves_the_best_frame_as_it_was() {
    // The hub answers None when a camera already pins as many pictures as it may: the object's
    // snapshot stays the one whose picture is kept, so the two never disagree.
    let mut book = ObjectBook::new(EventSettings { snapshot_files: true, ..EventSettings::default() });
    let person = |score: f32| vec![seen(1, "person", score, 50.0)];
    let mut all = Vec::new();
    for (i, (t, score)) in [(0.0, 0.8), (1.0, 0.8), (2.0, 0.8), (3.0, 0.8)].into_iter().enumerate() {
        all.extend(book.observe("door", t, SIZE, &person(score), || Some(i as u32)));
    }
    assert_eq!(all[0].best_frame, Some(3));
    // A better score while no picture can be kept: not taken.
    all.extend(book.observe("door", 4.0, SIZE, &person(0.95), || None));
    all.extend(book.observe("door", 10.0, SIZE, &person(0.8), || Some(99)));
    all.extend(book.camera_left("door", 11.0));
    assert_eq!(kinds(&all), [(EventType::New, 1), (EventType::End, 1)]);
    assert!(all[1].best_frame.is_none(), "no event carries a frame it does not have");
    let ended = &all[1..];
    let snapshot = ended[0].event.after.snapshot.as_ref().expect("snapshot");
    assert_eq!((snapshot.frame_time, snapshot.score), (3.0, 0.8), "the kept picture's snapshot");
}

#[test]
fn snapshots_are_named_after_camera_and_event_and_said_saved() {
    let settings = EventSettings { snapshot_files: true, ..EventSettings::default() };
    let mut book = ObjectBook::new(settings);
    let all = run(&mut book, (0..4).map(|i| (f64::from(i), vec![seen(4, "person", 0.8, 10.0)])));
    let after = &all[0].event.after;
    let file = after.snapshot.as_ref().and_then(|s| s.file.clone());
    assert_eq!(file, Some(format!("door-{}.jpg", after.id)));
    assert!(after.has_snapshot && !after.has_clip);
    let mut without = ObjectBook::new(EventSettings::default());
    let all = run(&mut without, (0..4).map(|i| (f64::from(i), vec![seen(4, "person", 0.8, 10.0)])));
    assert!(!all[0].event.after.has_snapshot, "no --snapshots, no saved snapshot");
}

#[test]
fn events_carry_every_key_of_frigates_dictionary() {
    let mut book = ObjectBook::new(EventSettings::default());
    let all = run(&mut book, (0..4).map(|i| (f64::from(i), vec![seen(4, "person", 0.8, 10.0)])));
    let json = serde_json::to_value(&all[0].event).expect("json");
    for side in ["before", "after"] {
        let object = json[side].as_object().expect("object");
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        for key in [
            "id",
            "camera",
            "frame_time",
            "snapshot",
            "label",
            "sub_label",
            "top_score",
            "false_positive",
            "start_time",
            "end_time",
            "score",
            "box",
            "area",
            "ratio",
            "region",
            "active",
            "stationary",
            "motionless_count",
            "position_changes",
            "current_zones",
            "entered_zones",
            "has_clip",
            "has_snapshot",
            "attributes",
            "current_attributes",
            "pending_loitering",
            "max_severity",
            "current_estimated_speed",
            "average_estimated_speed",
            "velocity_angle",
            "path_data",
            "recognized_license_plate",
        ] {
            assert!(keys.contains(&key), "{side}: {key} missing");
        }
        assert!(json[side]["box"][0].is_i64() && json[side]["area"].is_i64(), "ints where Frigate has ints");
    }
    assert!(json["before"]["snapshot"].is_null() && json["after"]["snapshot"]["box"][0].is_i64());
    assert_eq!(json["after"]["max_severity"], "alert", "Frigate's default review: a person is an alert");
}
