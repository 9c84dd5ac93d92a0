//! Objects and events end to end, against the synthetic scene's ground truth: each shape keeps
//! one track id for the whole run, at every camera rate; each makes one `new` and one `end`; the
//! snapshots, the web view's `/api/events`, camera names, and `nvt-detect --events` on a video.

use nvt_capture::synthetic::{Synthetic, CLASS_NAMES};
use nvt_capture::SourceSpec;
use nvt_detect::{Detector, DetectorOptions};
use nvt_events::hub::Outputs;
use nvt_events::snapshots::SnapshotStore;
use nvt_events::{EventSettings, Hub};
use nvt_support::JsonLines;
use nvt_tests::harness::{binary, http_get, model, read_jsonl, temp_dir, TestServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A server running the shapes model, with its log, events and snapshots in `dir`.
fn server_config(dir: &Path) -> nvt_server::Config {
    let detector = Detector::load(&model("shapes.onnx"), DetectorOptions::default()).expect("model");
    let outputs = Outputs {
        log: Some(Arc::new(JsonLines::open(dir.join("events.jsonl").to_str().expect("utf8")).expect("events"))),
        snapshots: Some(SnapshotStore::open(&dir.join("snapshots"), 100).expect("snapshots")),
        mqtt: None,
        others: Vec::new(),
    };
    nvt_server::Config {
        log: Some(Arc::new(JsonLines::open(dir.join("server.jsonl").to_str().expect("utf8")).expect("log"))),
        detectors: vec![detector],
        events: Arc::new(Hub::new(EventSettings::default(), outputs, false)),
        ..nvt_server::Config::default()
    }
}

fn client(server: &TestServer, fps: f64, frames: u64, log: Option<&Path>) -> nvt_client::Config {
    let mut client = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    client.fps = Some(fps);
    client.frames = Some(frames);
    client.duration = Some(Duration::from_secs(90));
    client.log = log.map(|p| Arc::new(JsonLines::open(p.to_str().expect("utf8")).expect("log")));
    client
}

/// Label -> the set of track ids its detections carried, over every record.
fn ids_by_label(records: &[Value]) -> BTreeMap<String, BTreeSet<Option<u64>>> {
    let mut ids: BTreeMap<String, BTreeSet<Option<u64>>> = BTreeMap::new();
    for record in records {
        for d in record["detections"].as_array().expect("detections") {
            ids.entry(d["label"].as_str().expect("label").to_owned()).or_default().insert(d["track_id"].as_u64());
        }
    }
    ids
}

/// Each shape kept exactly one id, and no two shapes shared one.
fn assert_one_id_per_shape(records: &[Value], context: &str) {
    let ids = ids_by_label(records);
    assert_eq!(ids.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut names = CLASS_NAMES.to_vec();
        names.sort_unstable();
        names
    });
    let mut all = BTreeSet::new();
    for (label, set) in &ids {
        assert_eq!(set.len(), 1, "{context}: {label} had ids {set:?}");
        let id = set.iter().next().copied().flatten().unwrap_or_else(|| panic!("{context}: {label} never tracked"));
        assert!(all.insert(id), "{context}: two shapes share id {id}");
    }
}

/// The shapes that make events with Frigate's default threshold (0.7 on the median score): the
/// blue triangle scores about 0.53, a false positive that publishes nothing.
const TRUE_POSITIVES: [&str; 2] = ["green circle", "red square"];

/// One `new` and one `end` per true positive shape, every event of an object under one id, in
/// Frigate 0.16's shape (its schema).
fn assert_one_life_per_shape(events: &[Value], camera: &str) {
    nvt_tests::schema::assert_frigate_events(events);
    let mut lives: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in events {
        lives.entry(event["after"]["id"].as_str().expect("id").to_owned()).or_default().push(event);
    }
    assert_eq!(
        lives.len(),
        2,
        "one object per true positive shape: {}",
        serde_json::to_string(events).unwrap_or_default()
    );
    let mut labels = BTreeSet::new();
    for (id, life) in &lives {
        let kinds: Vec<&str> = life.iter().map(|e| e["type"].as_str().expect("type")).collect();
        assert_eq!(kinds.first(), Some(&"new"), "{id}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"end"), "{id}: {kinds:?}");
        assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == "update"), "{id}: {kinds:?}");
        let (new, end) = (&life[0], life[life.len() - 1]);
        assert_eq!(new["before"]["start_time"], new["after"]["start_time"], "before is the object as taken up");
        let track_ids: BTreeSet<_> = life.iter().map(|e| e["after"]["track_id"].as_u64()).collect();
        assert_eq!(track_ids.len(), 1, "{id}: one track id for the whole life");
        for event in life.iter() {
            let after = &event["after"];
            assert_eq!(after["camera"], camera);
            assert_eq!(after["false_positive"], false);
            assert_eq!(after["current_zones"], serde_json::json!([]));
            assert!(after["box"].as_array().is_some_and(|b| b.len() == 4));
            assert!(after["area"].as_i64().expect("area") > 0);
        }
        assert!(new["after"]["end_time"].is_null());
        let (start, stop) = (end["after"]["start_time"].as_f64(), end["after"]["end_time"].as_f64());
        assert!(stop.expect("end_time") >= start.expect("start_time"));
        labels.insert(new["after"]["label"].as_str().expect("label").to_owned());
    }
    assert_eq!(labels, BTreeSet::from(TRUE_POSITIVES.map(String::from)), "one life for each true positive shape");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shape_keeps_one_track_id_and_makes_one_new_and_one_end_at_every_rate() {
    // Slow cameras move the shapes far between frames; fast ones make the detector skip frames.
    for (fps, frames) in [(2.0, 16), (10.0, 50), (30.0, 120)] {
        let dir = temp_dir(&format!("events-rate-{fps}"));
        let server = TestServer::start(server_config(&dir)).await;
        let replies = dir.join("client.jsonl");
        let summary = nvt_client::run(client(&server, fps, frames, Some(&replies)), CancellationToken::new())
            .await
            .expect("client");
        server.stop().await;
        assert_eq!(summary.accepted, frames, "{fps} fps");
        let records = read_jsonl(&dir.join("server.jsonl"));
        assert!(records.iter().all(|r| r["camera"] == "127_0_0_1"), "{fps} fps: records name the camera");
        assert_one_id_per_shape(&records, &format!("{fps} fps, server log"));
        assert!(records.iter().all(|r| r["timings_ms"]["track"].as_f64().is_some()));
        // The replies carried the ids too, and the camera's name.
        let replies: Vec<Value> =
            read_jsonl(&replies).into_iter().filter(|r| r["response"]["camera"].is_string()).collect();
        assert!(replies.len() as u64 >= frames / 2, "{fps} fps: {} replies with results", replies.len());
        assert!(replies.iter().all(|r| r["response"]["camera"] == "127_0_0_1"));
        let reply_detections: Vec<Value> = replies.iter().map(|r| r["response"].clone()).collect();
        assert_one_id_per_shape(&reply_detections[reply_detections.len() / 2..], &format!("{fps} fps, replies"));

        let events = read_jsonl(&dir.join("events.jsonl"));
        assert_one_life_per_shape(&events, "127_0_0_1");
        // Each object's snapshot: a JPEG of the frame, named in its events.
        for end in events.iter().filter(|e| e["type"] == "end") {
            let file = end["after"]["snapshot"]["file"].as_str().expect("snapshot file");
            let jpeg = std::fs::read(dir.join("snapshots").join(file)).expect("snapshot saved");
            assert_eq!(nvt_capture::jpeg::dimensions(&jpeg).expect("a JPEG"), (640, 480));
        }
    }
}

/// Opens a SQLite history in `dir` (clips a second either side) as one more output of `config`'s
/// events, on their clock.
async fn with_history(config: &mut nvt_server::Config, dir: &Path) -> Arc<nvt_history::History> {
    let settings = nvt_history::Settings {
        location: nvt_history::Location::Sqlite(dir.join("events.db")),
        media: Some(dir.join("clips")),
        clips: nvt_history::clips::ClipSettings { pre: 1.0, post: 1.0, max_length: 60.0 },
        retention: nvt_history::retention::Rules::default(),
        retain_every: Duration::from_secs(60),
        snapshots: Some(dir.join("snapshots")),
        close_open: true,
    };
    let hub = Arc::clone(&config.events);
    let history = Arc::new(nvt_history::History::open(settings, Arc::new(move || hub.now())).await.expect("history"));
    config.events.add_output(Box::new(history.output()));
    config.history = Some(Arc::clone(&history));
    history
}

async fn json(web: std::net::SocketAddr, path: &str) -> Value {
    let (status, _, body) = http_get(web, path, Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

/// A server of the shapes model with its event history in `dir` and a web view, and the web
/// view's address.
async fn with_history_and_web(dir: &Path) -> (TestServer, std::net::SocketAddr) {
    let mut config = server_config(dir);
    with_history(&mut config, dir).await;
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let web = http.local_addr().expect("addr");
    config.http = Some(http);
    (TestServer::start(config).await, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_view_answers_frigates_questions_from_the_store_with_thumbnails_snapshots_and_clips() {
    let dir = temp_dir("events-web");
    let (server, web) = with_history_and_web(&dir).await;
    let summary = nvt_client::run(client(&server, 15.0, 30, None), CancellationToken::new()).await.expect("client");
    // The camera left, so its objects ended; their clips are written a second after.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events = json(web, "/api/events?has_clip=1").await;
        if events.as_array().expect("list").len() == 2 || std::time::Instant::now() > until {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events = events.as_array().expect("list").clone();
    assert_eq!(events.len(), 2, "one ended event with a clip per true positive: {events:?}");
    let labels: BTreeSet<&str> = events.iter().map(|e| e["label"].as_str().expect("label")).collect();
    assert_eq!(labels, BTreeSet::from(TRUE_POSITIVES), "{events:?}");
    let starts: Vec<f64> = events.iter().map(|e| e["start_time"].as_f64().expect("start")).collect();
    assert!(starts[0] >= starts[1], "newest first: {starts:?}");
    for event in &events {
        assert_eq!(event["camera"], "127_0_0_1");
        assert!(event["end_time"].as_f64().expect("ended") >= event["start_time"].as_f64().expect("start"));
        assert_eq!(event["has_snapshot"], true);
        assert_eq!(event["false_positive"], false);
    }
    // Frigate's parameters, each answered from the store.
    let red = json(web, "/api/events?label=red%20square").await;
    assert_eq!(red.as_array().map(|a| a.len()), Some(1), "{red}");
    assert_eq!(red[0]["label"], "red square");
    assert_eq!(json(web, "/api/events?camera=elsewhere").await, serde_json::json!([]));
    assert_eq!(json(web, "/api/events?in_progress=1").await, serde_json::json!([]));
    assert_eq!(json(web, "/api/events?limit=1").await.as_array().map(|a| a.len()), Some(1));
    assert_eq!(json(web, &format!("/api/events?after={}", starts[0] + 1.0)).await, serde_json::json!([]));
    // A question that cannot be asked costs only its own request.
    for bad in ["/api/events?limit=many", "/api/events?after=yesterday", "/api/events?has_clip=perhaps"] {
        let (status, _, _) = http_get(web, bad, Duration::from_secs(2)).await;
        assert_eq!(status, 400, "{bad}");
    }
    for missing in
        ["/api/events/no-such-id", "/api/events/..%2F..%2Fetc%2Fpasswd/clip.avi", "/api/events/x/snapshot.jpg"]
    {
        let (status, _, _) = http_get(web, missing, Duration::from_secs(2)).await;
        assert_eq!(status, 404, "{missing}");
    }
    // Each event: its row, its thumbnail (Frigate's: 175 pixels high), snapshot and clip.
    let id = events[0]["id"].as_str().expect("id");
    assert_eq!(json(web, &format!("/api/events/{id}")).await, events[0]);
    let (status, headers, jpeg) =
        http_get(web, &format!("/api/events/{id}/snapshot.jpg"), Duration::from_secs(2)).await;
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "image/jpeg"));
    assert_eq!(nvt_capture::jpeg::dimensions(&jpeg).expect("a JPEG"), (640, 480));
    let (status, _, jpeg) = http_get(web, &format!("/api/events/{id}/thumbnail.jpg"), Duration::from_secs(2)).await;
    assert_eq!(status, 200);
    assert_eq!(nvt_capture::jpeg::dimensions(&jpeg).expect("a JPEG").1, 175);
    let (status, headers, avi) = http_get(web, &format!("/api/events/{id}/clip.avi"), Duration::from_secs(5)).await;
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "video/x-msvideo"));
    let (frames, fps) = nvt_history::clips::avi::read(&avi).expect("a clip nvt wrote");
    assert!(
        frames.len() >= 5 && frames.len() as u64 <= summary.accepted,
        "{} frames of {}",
        frames.len(),
        summary.accepted
    );
    assert!(
        frames.iter().all(|f| nvt_capture::jpeg::dimensions(f).ok() == Some((640, 480))),
        "each frame a JPEG as it came"
    );
    assert!(fps > 1.0 && fps < 60.0, "{fps} frames per second");
    let (_, _, metrics) = http_get(web, "/metrics", Duration::from_secs(2)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("nvt_events_total{type=\"new\"} 2"), "{metrics}");
    assert!(metrics.contains("nvt_events_total{type=\"end\"} 2"), "{metrics}");
    assert!(metrics.contains("nvt_clips_written_total 2"), "{metrics}");
    // The page's history in a real browser: both events, ended, each with its thumbnail loaded
    // and its clip to play.
    nvt_tests::harness::require("chromium", "--version", "chromium");
    let (url, profile) = (format!("http://{web}/"), dir.join("profile"));
    let dom = tokio::task::spawn_blocking(move || nvt_tests::harness::chromium(&url, "--dump-dom", 4000, &profile))
        .await
        .expect("chromium thread")
        .expect("chromium runs");
    assert_eq!(dom.matches(r#"class="event ended""#).count(), 2, "{dom}");
    assert_eq!(dom.matches(r#"class="clip""#).count(), 2, "a clip to play each:\n{dom}");
    assert!(dom.matches(r#"data-loaded="1""#).count() >= 2, "the thumbnails loaded:\n{dom}");
    assert!(dom.contains("red square") && dom.contains("green circle"), "{dom}");
    server.stop().await;
    // The store outlives the server: read again, it holds the same events.
    let store =
        nvt_history::Store::open(&nvt_history::Location::Sqlite(dir.join("events.db")), nvt_history::store::Mode::Read)
            .await
            .expect("store");
    let rows = store.query(&nvt_history::Query::default()).await.expect("query");
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, events.iter().map(|e| e["id"].as_str().expect("id")).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.has_clip && r.end_time.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_are_named_by_flag_by_address_or_by_themselves_and_never_clash() {
    // --camera door=127.0.0.1: two clients from that address are door and door-2.
    let dir = temp_dir("events-names");
    let mut config = server_config(&dir);
    config.cameras = nvt_server::cameras::Cameras::new(vec![("door".into(), [127, 0, 0, 1].into())]);
    let server = TestServer::start(config).await;
    let (a, b) = tokio::join!(
        nvt_client::run(client(&server, 10.0, 20, None), CancellationToken::new()),
        nvt_client::run(client(&server, 10.0, 20, None), CancellationToken::new()),
    );
    a.expect("first");
    b.expect("second");
    server.stop().await;
    let cameras: BTreeSet<String> = read_jsonl(&dir.join("server.jsonl"))
        .iter()
        .map(|r| r["camera"].as_str().expect("camera").to_owned())
        .collect();
    assert_eq!(cameras, BTreeSet::from(["door".to_owned(), "door-2".to_owned()]));
    let event_cameras: BTreeSet<String> = read_jsonl(&dir.join("events.jsonl"))
        .iter()
        .map(|e| e["after"]["camera"].as_str().expect("camera").to_owned())
        .collect();
    assert_eq!(event_cameras, cameras, "each camera's objects are its own");

    // Protected mode: the client names itself.
    let dir = temp_dir("events-own-name");
    let mut config = server_config(&dir);
    config.guard = nvt_transport::protect::Guard { tls: None, token: Some(b"t0ken".to_vec()) };
    let server = TestServer::start(config).await;
    let mut named = client(&server, 10.0, 10, None);
    named.token = Some(b"t0ken".to_vec());
    named.name = Some("garage".into());
    nvt_client::run(named, CancellationToken::new()).await.expect("named client");
    server.stop().await;
    let records = read_jsonl(&dir.join("server.jsonl"));
    assert!(!records.is_empty() && records.iter().all(|r| r["camera"] == "garage"));
}

#[test]
fn nvt_detect_tracks_and_makes_events_on_a_video() {
    use opencv::core::Size;
    use opencv::prelude::*;
    use opencv::videoio;
    let dir = temp_dir("events-video");
    let video = dir.join("porch.avi");
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(video.to_str().expect("utf8"), fourcc, 10.0, Size::new(640, 480), true)
        .expect("writer");
    let scene = Synthetic::new(640, 480).expect("scene");
    for i in 0..40 {
        writer.write(&scene.render(i, std::time::SystemTime::now()).expect("frame").image).expect("write");
    }
    writer.release().expect("release");
    let out = std::process::Command::new(binary("nvt-detect"))
        .args(["--model", model("shapes.onnx").to_str().expect("utf8")])
        .args(["--log", dir.join("log.jsonl").to_str().expect("utf8")])
        .args(["--events", dir.join("events.jsonl").to_str().expect("utf8")])
        .args(["--snapshots", dir.join("snapshots").to_str().expect("utf8")])
        .arg(&video)
        .output()
        .expect("nvt-detect");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = read_jsonl(&dir.join("log.jsonl"));
    assert_eq!(records.len(), 40);
    assert_one_id_per_shape(&records, "nvt-detect");
    let events = read_jsonl(&dir.join("events.jsonl"));
    assert_one_life_per_shape(&events, "porch");
    // Times are the video's own: the 40 frames span 3.9 s at 10 fps; an object is taken up at its
    // third sighting in a row (Frigate's hit counter), and ends with the video.
    for end in events.iter().filter(|e| e["type"] == "end") {
        assert!((end["after"]["end_time"].as_f64().expect("end") - 3.9).abs() < 1e-6, "{end}");
        assert!((end["after"]["start_time"].as_f64().expect("start") - 0.2).abs() < 1e-6, "{end}");
    }
    let saved = std::fs::read_dir(dir.join("snapshots")).expect("snapshots").filter_map(Result::ok);
    assert_eq!(saved.filter(|f| f.file_name().to_string_lossy().ends_with(".jpg")).count(), 2);
}

#[test]
fn a_flickering_label_never_extends_another_labels_track() {
    // models/flicker.onnx sees the red square as a dog or a bicycle, near-equal scores that swap
    // as it moves: one object whose label flickers, as a real detector's does.
    let dir = temp_dir("events-flicker");
    let video = dir.join("yard.avi");
    nvt_tests::fake_camera::write_scene_video(&video, 80);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/flicker.onnx");
    let out = std::process::Command::new(binary("nvt-detect"))
        .args(["--model", model.to_str().expect("utf8")])
        .args(["--log", dir.join("log.jsonl").to_str().expect("utf8")])
        .args(["--events", dir.join("events.jsonl").to_str().expect("utf8")])
        .arg(&video)
        .output()
        .expect("nvt-detect");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = read_jsonl(&dir.join("log.jsonl"));
    let mut labels_of: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for d in records.iter().flat_map(|r| r["detections"].as_array().expect("detections").iter()) {
        let label = d["label"].as_str().expect("label").to_owned();
        *seen.entry(label.clone()).or_default() += 1;
        if let Some(id) = d["track_id"].as_u64() {
            labels_of.entry(id).or_default().insert(label);
        }
    }
    assert!(seen.get("dog") >= Some(&15) && seen.get("bicycle") >= Some(&15), "the label flickers: {seen:?}");
    for (id, labels) in &labels_of {
        assert_eq!(labels.len(), 1, "track {id} carried {labels:?}: one label extended another's track");
    }
    // Each label is an object of its own, and each makes its events.
    let events = read_jsonl(&dir.join("events.jsonl"));
    nvt_tests::schema::assert_frigate_events(&events);
    let new: BTreeSet<&str> =
        events.iter().filter(|e| e["type"] == "new").map(|e| e["after"]["label"].as_str().expect("label")).collect();
    assert_eq!(new, BTreeSet::from(["bicycle", "dog"]), "both labels make events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_client_reads_replies_with_camera_and_track_ids_in_1024_bytes() {
    use nvt_tests::original::{self, ClientOptions};
    let dir = temp_dir("events-original");
    let server = TestServer::start(server_config(&dir)).await;
    let addr = server.addr;
    let options = ClientOptions { exchanges: 40, duration: Duration::from_secs(30), ..ClientOptions::default() };
    let report = tokio::task::spawn_blocking(move || original::run_client(addr, &options)).await.expect("join");
    let report = report.expect("the original client runs to the end");
    server.stop().await;
    let mut tracked = 0;
    for reply in &report.replies {
        assert_eq!(reply.len(), 1024);
        // What the original client does with it: decode as text and print.
        let text = std::str::from_utf8(reply).expect("the reply is text");
        let doc: Value = serde_json::from_str(text.trim_end()).expect("JSON, space padded");
        if let Some(detections) = doc["detections"].as_array().filter(|d| !d.is_empty()) {
            assert_eq!(doc["camera"], "127_0_0_1");
            tracked += detections.iter().filter(|d| d["track_id"].is_u64()).count();
        }
    }
    assert!(tracked >= 30, "replies carried track ids: {tracked}");
}

/// The page's history in a real browser while events happen: one card per event, from its start
/// to its end, the same card updated in place (new, then end), never a card per update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_event_list_keeps_one_card_per_event_updated_in_place() {
    let dir = temp_dir("events-cards");
    let (server, web) = with_history_and_web(&dir).await;
    let browser = nvt_tests::browser::Browser::launch(&dir, &[]);
    let mut page = browser.open(&format!("http://{web}/")).await;
    // Every change to the list is checked for two cards of one event.
    let watch = "window.doubled = []; new MutationObserver(() => { \
        const ids = [...document.querySelectorAll('#event-list li.event')].map(li => li.dataset.id); \
        if (new Set(ids).size !== ids.length) window.doubled.push(ids.join(' ')); \
    }).observe(document.getElementById('event-list'), { childList: true, subtree: true }); true";
    assert!(page.wait_for(watch, Duration::from_secs(10)).await.is_some(), "the page loads");
    let streaming = tokio::spawn(nvt_client::run(client(&server, 10.0, 100, None), CancellationToken::new()));
    // Both objects in view: each card is marked, to be found again once the events end.
    let in_view = "(() => { const cards = [...document.querySelectorAll('#event-list li.event.in-progress')]; \
        if (cards.length < 2) return null; cards.forEach(li => { li.marked = true; }); \
        return cards.map(li => li.dataset.id); })()";
    let ids = page.wait_for(in_view, Duration::from_secs(30)).await.expect("two events in view on the page");
    let ids: Vec<String> = serde_json::from_value(ids).expect("ids");
    streaming.await.expect("task").expect("client");
    // The camera left: its events end, on the very cards that showed them in view.
    let ended = format!(
        "{ids:?}.every(id => {{ const li = document.querySelector(`#event-list li[data-id=\"${{id}}\"]`); \
         return li && li.marked === true && li.classList.contains('ended'); }})"
    );
    assert!(page.wait_for(&ended, Duration::from_secs(20)).await.is_some(), "the same cards show the ends");
    let cards = page.eval("document.querySelectorAll('#event-list li.event').length").await;
    assert_eq!(cards, 2, "one card per event");
    let updates = page
        .eval(&format!("{ids:?}.map(id => Number(document.querySelector(`li[data-id=\"${{id}}\"]`).dataset.updates))"))
        .await;
    assert!(updates.as_array().expect("list").iter().all(|n| n.as_u64() >= Some(2)), "new, then end: {updates}");
    assert_eq!(page.eval("window.doubled").await, serde_json::json!([]), "no event ever had two cards");
    server.stop().await;
}
