//! Detecting where something moves (`--detect motion`, nvt-server's default). On a mostly empty
//! hall that objects visit in turn (the synthetic `visits` scene: each shape comes in, stands
//! still for 8 s, leaves, then half a minute of empty hall), over grey noise and over a real
//! photo with sensor noise, the events with motion equal those of the detector on every frame,
//! while the detector runs on a fraction of the frames; and nvt-server at its defaults looks
//! only where something moves on a live stream, keeping each object's id while it stands still.

use nvt_capture::synthetic::{Scene, Synthetic, VISITS};
use nvt_pipeline::looking::PICTURES_AFTER_MOVING;
use nvt_tests::fake_camera::write_video;
use nvt_tests::harness::{binary, free_port, model, read_jsonl, temp_dir, wait_exit, wait_for_port, ChildGuard};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Frames of the visits scene that hold all three visits and the start of the empty hall.
const FRAMES: u64 = 960;
const FPS: f64 = 30.0;

/// One object's life in an events file: its label, when it was taken up and when it ended.
#[derive(Debug, Clone, PartialEq)]
struct Life {
    label: String,
    start: f64,
    end: Option<f64>,
    track_ids: usize,
}

fn lives(events: &[Value]) -> Vec<Life> {
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in events {
        by_id.entry(event["after"]["id"].as_str().expect("id").to_owned()).or_default().push(event);
    }
    let mut lives: Vec<Life> = by_id
        .values()
        .map(|life| {
            let first = &life[0]["after"];
            let end = life.iter().find(|e| e["type"] == "end").and_then(|e| e["after"]["end_time"].as_f64());
            let ids: std::collections::BTreeSet<_> = life.iter().map(|e| e["after"]["track_id"].as_u64()).collect();
            Life {
                label: first["label"].as_str().expect("label").to_owned(),
                start: first["start_time"].as_f64().expect("start"),
                end,
                track_ids: ids.len(),
            }
        })
        .collect();
    lives.sort_by(|a, b| a.start.total_cmp(&b.start));
    lives
}

/// Runs nvt-detect over `video` with `--detect MODE`; returns its records and events.
fn detect(video: &Path, mode: &str, dir: &Path) -> (Vec<Value>, Vec<Value>) {
    let (log, events) = (dir.join(format!("{mode}.jsonl")), dir.join(format!("{mode}-events.jsonl")));
    let out = Command::new(binary("nvt-detect"))
        .args(["--model", model("shapes.onnx").to_str().expect("utf8"), "--detect", mode])
        .args(["--log", log.to_str().expect("utf8"), "--events", events.to_str().expect("utf8")])
        .arg(video)
        .env("RUST_LOG", "warn")
        .output()
        .expect("nvt-detect");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (read_jsonl(&log), read_jsonl(&events))
}

fn looked(record: &Value) -> &str {
    record["looked"]["detector"].as_str().unwrap_or("absent")
}

/// The visits scene at 960x540 (the model's 640 input is smaller than the frame, so regions are
/// cut at full resolution) over `photo` or grey noise, with sensor noise of `noise`.
fn visits_video(dir: &Path, photo: Option<&Path>, noise: f64) -> PathBuf {
    let mut scene = Synthetic::new(960, 540).expect("scene").with_scene(Scene::Visits);
    if let Some(photo) = photo {
        let picture =
            opencv::imgcodecs::imread(photo.to_str().expect("utf8"), opencv::imgcodecs::IMREAD_COLOR).expect("photo");
        scene = scene.with_background(&picture).expect("background");
    }
    let video = dir.join("hall.avi");
    write_video(&video, &scene, FRAMES, FPS, noise);
    video
}

#[test]
fn with_motion_the_events_are_those_of_detecting_every_frame() {
    let photo = Path::new("/usr/share/darknet/data/dog.jpg");
    for (name, photo, noise) in [("noise", None, 0.0), ("photo", Some(photo), 2.0)] {
        let dir = temp_dir(&format!("motion-{name}"));
        let video = visits_video(&dir, photo, noise);
        let (every, every_events) = detect(&video, "always", &dir);
        let (moving, moving_events) = detect(&video, "motion", &dir);
        assert_eq!((every.len(), moving.len()), (FRAMES as usize, FRAMES as usize), "{name}");

        let (every_lives, moving_lives) = (lives(&every_events), lives(&moving_events));
        // Over noise the red square and the green circle make events (the blue triangle scores
        // under Frigate's 0.7: a false positive, never published); over the photo, whatever the
        // model makes of the shapes on it, with every frame detected.
        let labels: Vec<&str> = every_lives.iter().map(|l| l.label.as_str()).collect();
        if photo.is_none() {
            assert_eq!(labels, ["red square", "green circle"], "{name}: {every_lives:?}");
        }
        assert!(!labels.is_empty(), "{name}: no events to compare");
        assert_eq!(
            moving_lives.len(),
            every_lives.len(),
            "{name}: the same objects: {moving_lives:?} vs {every_lives:?}"
        );
        for (m, e) in moving_lives.iter().zip(&every_lives) {
            assert_eq!(m.label, e.label, "{name}");
            assert!((m.start - e.start).abs() <= 3.0 / FPS, "{name}: new within 3 frames: {m:?} vs {e:?}");
            let (m_end, e_end) = (m.end.expect("every object ends"), e.end.expect("every object ends"));
            assert!((m_end - e_end).abs() <= 0.5, "{name}: end within half a second: {m:?} vs {e:?}");
            assert_eq!(m.track_ids, 1, "{name}: one track id while it stands still: {m:?}");
        }

        // Events carry the region the model found the object in (Frigate's `region`): the whole
        // frame when it runs on every frame, squares cut around motion otherwise.
        let whole = serde_json::json!([0, 0, 960, 540]);
        assert!(every_events.iter().all(|e| e["after"]["region"] == whole), "{name}");
        let cut = moving_events.iter().filter(|e| e["after"]["region"] != whole).count();
        assert!(cut > 0, "{name}: no event has a region cut around motion");

        // Every record says where the detector looked; with --detect always, none does.
        assert!(every.iter().all(|r| r.get("looked").is_none()), "{name}");
        let count = |kind: &str| moving.iter().filter(|r| looked(r) == kind).count();
        let (none, regions, frame) = (count("none"), count("regions"), count("frame"));
        assert_eq!(none + regions + frame, FRAMES as usize, "{name}");
        // Nothing moves on most of these frames (the empty start, the visitors standing), and
        // the detector skips them all but, for each of the three visits, a second after the
        // visitor stops (it may go on), a second after it leaves (it is looked for until the
        // tracker lets it go, 30 frames) and a recheck or two.
        let scene = Synthetic::new(960, 540).expect("scene").with_scene(Scene::Visits);
        let still: Vec<u64> = (1..FRAMES).filter(|&i| scene.truth(i) == scene.truth(i - 1)).collect();
        let skipped = still.iter().filter(|&&i| looked(&moving[i as usize]) == "none").count();
        let allowed = 3 * (30 + 30 + 3);
        assert!(
            skipped + allowed >= still.len(),
            "{name}: the detector skips {skipped} of the {} frames where nothing moves",
            still.len()
        );
        assert!(none as f64 >= 0.45 * FRAMES as f64, "{name}: {none} of {FRAMES} frames skipped");
        assert!(regions > 0, "{name}: the visitors are looked at in regions");
        // Frames the detector skipped carry the standing objects over, marked so.
        let carried: Vec<&Value> = moving
            .iter()
            .filter(|r| looked(r) == "none")
            .flat_map(|r| r["detections"].as_array().expect("detections"))
            .collect();
        assert!(!carried.is_empty() && carried.iter().all(|d| d["carried"] == true), "{name}");
        // From when the background has learnt the standing red square (its trace fades under
        // the threshold in about 35 frames at the learning rate of 0.02) until the green circle
        // comes, nothing moves: the detector runs at most once (the recheck, every 5 s), not on
        // 130 frames.
        let quiet = VISITS.empty_start + VISITS.walk + 50..VISITS.empty_start + VISITS.stagger;
        let looks = moving[quiet.start as usize..quiet.end as usize].iter().filter(|r| looked(r) != "none").count();
        assert!(looks <= 1, "{name}: {looks} looks in the {} quiet frames", quiet.end - quiet.start);
        // The videos take 100 MB each.
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn nvt_server_looks_where_something_moves_by_default() {
    let dir = temp_dir("motion-server");
    let listen = format!("127.0.0.1:{}", free_port());
    let log = dir.join("server.jsonl");
    let server = Command::new(binary("nvt-server"))
        .args(["--listen", &listen, "--model", model("shapes.onnx").to_str().expect("utf8")])
        .args(["--log", log.to_str().expect("utf8")])
        .args(["--events", dir.join("events.jsonl").to_str().expect("utf8")])
        .args(["--snapshots", dir.join("snapshots").to_str().expect("utf8")])
        // No event store: its clips of this 960x540 scene would take 200 MB of the disk.
        .args(["--db", "off"])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("nvt-server");
    let _server = ChildGuard(server);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    // The first visit: 3 s of empty hall, the red square comes, stands 8 s, starts to leave.
    let client = Command::new(binary("nvt-client"))
        .args(["--connect", &listen, "--source", "synthetic:visits", "--size", "960x540", "--duration", "12s"])
        .args(["--log", dir.join("client.jsonl").to_str().expect("utf8")])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("nvt-client");
    let mut client = ChildGuard(client);
    assert!(wait_exit(&mut client, Duration::from_secs(30)).success());
    std::thread::sleep(Duration::from_millis(500));
    let records = read_jsonl(&log);
    assert!(records.len() > 50, "{} records", records.len());
    assert!(records.iter().all(|r| r.get("looked").is_some()), "every record says where the detector looked");
    let none = records.iter().filter(|r| looked(r) == "none").count();
    assert!(none * 2 >= records.len(), "most frames skip the detector: {none} of {}", records.len());
    // Nobody watches: a frame skipped well after the detector last ran (the empty hall, or the
    // red square standing, carried over, 3 s after it was last found to move) is not decoded
    // whole: its size is its header's, and it has no stamp. A frame the detector ran on, or one
    // after it (decoded whole first, since the detector will likely run again), was decoded
    // whole.
    let (mut skipped, mut carried_only, mut last_run) = (Vec::new(), 0, f64::NEG_INFINITY);
    for record in &records {
        let time = record["time"].as_f64().expect("time");
        if looked(record) != "none" {
            last_run = time;
        } else if time - last_run > PICTURES_AFTER_MOVING + 0.2 {
            skipped.push(record);
            carried_only += usize::from(record["detections"].as_array().is_some_and(|d| !d.is_empty()));
        }
    }
    assert!(skipped.len() >= 40 && carried_only >= 20, "{} skipped, {carried_only} with the square", skipped.len());
    assert!(skipped.iter().all(|r| r["width"] == 960 && r["height"] == 540), "sizes from the headers");
    assert!(skipped.iter().all(|r| r.get("stamp").is_none()), "no stamp read from a frame not decoded");
    let whole = |r: &Value| r.get("stamp").is_some();
    assert!(records.iter().filter(|r| looked(r) != "none").all(whole), "decoded whole");
    for pair in records.windows(2).filter(|pair| looked(&pair[0]) != "none") {
        assert!(whole(&pair[1]), "the frame after a detector run is decoded whole: {}", pair[1]);
    }
    // The red square's event has its box in frame pixels on every frame, carried or not, and its
    // best frame (the snapshot) is one that was decoded whole.
    let events = read_jsonl(&dir.join("events.jsonl"));
    let square: Vec<_> = events.iter().filter(|e| e["after"]["label"] == "red square").collect();
    assert!(square.first().is_some_and(|e| e["type"] == "new"), "{events:?}");
    for event in &square {
        let b: Vec<f64> = event["after"]["box"].as_array().expect("box").iter().filter_map(Value::as_f64).collect();
        assert!(b.len() == 4 && b[0] < b[2] && b[1] < b[3] && b[2] <= 960.0 && b[3] <= 540.0, "{event}");
    }
    let snapshots = std::fs::read_dir(dir.join("snapshots")).map(|d| d.count()).unwrap_or(0);
    assert!(snapshots >= 1, "the square's best frame was saved");
    // The red square keeps one id from the frame it is found to the end, standing still or not.
    let ids: std::collections::BTreeSet<u64> = records
        .iter()
        .flat_map(|r| r["detections"].as_array().expect("detections").iter())
        .filter(|d| d["label"] == "red square")
        .filter_map(|d| d["track_id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let carried = records
        .iter()
        .filter(|r| looked(r) == "none")
        .flat_map(|r| r["detections"].as_array().expect("detections").iter())
        .filter(|d| d["label"] == "red square" && d["carried"] == true)
        .count();
    assert!(carried > 0, "standing, it is carried over");
    // The replies say it too: where the detector looked, and which detections were carried.
    let replies: Vec<Value> =
        read_jsonl(&dir.join("client.jsonl")).into_iter().map(|r| r["response"].clone()).collect();
    assert!(replies.iter().any(|r| r["looked"] == "none"), "a reply says the detector skipped its frame");
    assert!(replies.iter().any(|r| r["looked"] == "regions" || r["looked"] == "frame"));
    let carried_in_replies = replies
        .iter()
        .filter_map(|r| r["detections"].as_array())
        .flatten()
        .any(|d| d["label"] == "red square" && d["carried"] == true);
    assert!(carried_in_replies, "a reply carries the standing red square, marked carried");
    let _ = std::fs::remove_dir_all(&dir);
}
