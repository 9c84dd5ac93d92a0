//! Every camera rate a user may pick gets its frames through, at the sizes and JPEG qualities
//! users pick, against nvt-server and against an original-style server with its 80 ms check.
//! Before repeats, any source slower than about 12.5 frames/s got almost nothing accepted.

use nvt_capture::SourceSpec;
use nvt_client::{Config as ClientConfig, Summary};
use nvt_server::Config as ServerConfig;
use nvt_support::JsonLines;
use nvt_tests::harness::{http_get, read_jsonl, temp_dir, TestServer};
use nvt_tests::original::OriginalServer;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One setting a user might pick.
#[derive(Debug, Clone, Copy)]
struct Setting {
    fps: f64,
    size: (u32, u32),
    quality: i32,
}

/// Enough source frames for a share to mean something, whatever the rate.
fn run_length(fps: f64) -> Duration {
    Duration::from_secs_f64((10.0 / fps).clamp(4.0, 10.0))
}

fn client(addr: SocketAddr, setting: Setting, log: &Path) -> ClientConfig {
    let mut config = ClientConfig::new(addr.to_string(), SourceSpec::Synthetic);
    config.fps = Some(setting.fps);
    config.size = Some(setting.size);
    config.jpeg_quality = setting.quality;
    // The run's deadline: the client stops by itself, whatever the server does.
    config.duration = Some(run_length(setting.fps));
    config.log = Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("log")));
    config
}

/// At least 95% of the distinct frames the source delivered were accepted; the frame captured as
/// the run's deadline struck may still be on its way, so one is allowed on top.
fn assert_most_accepted(summary: &Summary, setting: Setting) {
    let needed = (0.95 * summary.captured as f64).floor() as u64;
    assert!(summary.accepted + 1 >= needed, "too few accepted at {setting:?}: {summary:?}");
    assert!(summary.captured as f64 >= 0.8 * setting.fps * run_length(setting.fps).as_secs_f64(), "{summary:?}");
    assert_eq!((summary.connections, summary.failures), (1, 0), "no timeout, no reconnect: {summary:?}");
}

async fn against_nvt_server(setting: Setting) {
    let dir = temp_dir(&format!("rate-nvt-{}", setting.fps));
    let server = TestServer::start(ServerConfig::default()).await;
    let summary = nvt_client::run(client(server.addr, setting, &dir.join("client.jsonl")), CancellationToken::new())
        .await
        .expect("client");
    let served = server.stop().await;
    assert_most_accepted(&summary, setting);
    assert_eq!(served.failed, 0, "the client's leaving was a clean close: {served:?}");
    // The client stops at its deadline while the verdict of its last send may be on its way:
    // the server can count one more than the client saw.
    let one_more = |server: u64, client: u64| server == client || server == client + 1;
    assert!(one_more(served.frames.repeated, summary.repeats), "every repeat counted: {served:?} {summary:?}");
    assert!(
        one_more(served.frames.fresh, summary.accepted),
        "each distinct frame accepted once: {served:?} {summary:?}"
    );
    // Once the server has learned the camera's interval (two intervals in), each frame crosses
    // the wire about once.
    let settled = 2.0 / setting.fps + 1.0;
    let records = read_jsonl(&dir.join("client.jsonl"));
    let start = records.first().and_then(|r| r["time"].as_f64()).expect("records");
    let late: Vec<_> = records.iter().filter(|r| r["time"].as_f64().is_some_and(|t| t - start > settled)).collect();
    let repeats = late.iter().filter(|r| r["repeat"] == true).count();
    let distinct = late.len() - repeats;
    // An original server asks again at once: ~28 repeats a frame at 1 fps. Paced, about none;
    // a busy machine's jitter (this suite runs a 60 fps and a 30 fps stream beside it) may make
    // a frame later than the pacer's margin and the client's 30 ms wait, which costs a repeat or
    // two for that frame (10 for 7 frames seen once on a loaded CI machine).
    assert!(distinct > 0 && repeats <= 2 * distinct + 2, "{repeats} repeats for {distinct} frames at {setting:?}");
}

fn against_original_server(setting: Setting) {
    let dir = temp_dir(&format!("rate-orig-{}", setting.fps));
    let server = OriginalServer::start(false).expect("original server");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let summary = runtime
        .block_on(nvt_client::run(client(server.addr, setting, &dir.join("client.jsonl")), CancellationToken::new()))
        .expect("client");
    let seen = server.stop();
    assert_most_accepted(&summary, setting);
    assert_eq!(seen.undecodable, 0, "{seen:?}");
    let distinct: HashSet<u32> = seen.stamps.iter().copied().collect();
    let decoded = distinct.len() as u64;
    assert!(
        decoded == summary.accepted || decoded == summary.accepted + 1,
        "the server decoded each accepted frame (one more if its verdict was on its way at the end): {seen:?}"
    );
    assert!(seen.stamps.windows(2).all(|w| w[0] <= w[1]), "in order, repeats beside their first: {:?}", seen.stamps);
}

const SETTINGS: [Setting; 6] = [
    Setting { fps: 1.0, size: (640, 480), quality: 100 },
    Setting { fps: 5.0, size: (320, 240), quality: 50 },
    Setting { fps: 10.0, size: (1280, 720), quality: 95 },
    Setting { fps: 15.0, size: (640, 480), quality: 10 },
    Setting { fps: 30.0, size: (640, 480), quality: 100 },
    Setting { fps: 60.0, size: (320, 240), quality: 75 },
];

macro_rules! rate_tests {
    ($($name:ident: $index:expr;)*) => {
        mod nvt_server_at {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    against_nvt_server(SETTINGS[$index]).await;
                }
            )*
        }
        mod original_server_at {
            use super::*;
            $(
                #[test]
                fn $name() {
                    against_original_server(SETTINGS[$index]);
                }
            )*
        }
    };
}

rate_tests! {
    fps_1_640x480_q100: 0;
    fps_5_320x240_q50: 1;
    fps_10_1280x720_q95: 2;
    fps_15_640x480_q10: 3;
    fps_30_640x480_q100: 4;
    fps_60_320x240_q75: 5;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ultra_hd_frames_at_a_slow_rate_get_through() {
    let setting = Setting { fps: 2.0, size: (3840, 2160), quality: 90 };
    against_nvt_server(setting).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_is_answered_without_decoding_it_again() {
    let dir = temp_dir("repeat-once");
    let log = dir.join("server.jsonl");
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_addr = http.local_addr().expect("addr");
    let config = ServerConfig {
        log: Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("log"))),
        http: Some(http),
        ..Default::default()
    };
    let server = TestServer::start(config).await;
    // At 2 frames/s the first interval is bridged with repeats, before the server has learned it.
    let setting = Setting { fps: 2.0, size: (640, 480), quality: 90 };
    let client = tokio::spawn(nvt_client::run(
        client(server.addr, setting, &dir.join("client.jsonl")),
        CancellationToken::new(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, listed) = http_get(http_addr, "/api/clients", Duration::from_secs(2)).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed).expect("JSON");
    assert!(listed[0]["repeated"].as_u64().is_some_and(|n| n > 0), "/api/clients counts repeats: {listed}");
    let (_, _, metrics) = http_get(http_addr, "/metrics", Duration::from_secs(2)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    let repeated = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nvt_frames_repeated_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("nvt_frames_repeated_total in /metrics:\n{metrics}"));
    assert!(repeated > 0.0, "{repeated}");
    let summary = client.await.expect("task").expect("client");
    let served = server.stop().await;
    let counted = served.frames.repeated;
    assert!(
        summary.repeats > 0 && (counted == summary.repeats || counted == summary.repeats + 1),
        "{summary:?} {served:?}"
    );
    let processed = read_jsonl(&log);
    let stamps: Vec<u64> = processed.iter().filter_map(|r| r["stamp"]["frame"].as_u64()).collect();
    let distinct: HashSet<u64> = stamps.iter().copied().collect();
    assert_eq!(stamps.len(), distinct.len(), "no frame decoded twice: {stamps:?}");
    // As above: the verdict of the client's last send may be on its way when it stops.
    let processed_count = served.frames.processed;
    assert!(
        processed_count == summary.accepted || processed_count == summary.accepted + 1,
        "each accepted frame decoded once: {served:?} {summary:?}"
    );
    let client_log = read_jsonl(&dir.join("client.jsonl"));
    for record in client_log.iter().filter(|r| r["repeat"] == true && r["accepted"] == true) {
        assert!(record["response"]["seq"].is_u64(), "a repeat is answered with its frame's results: {record}");
    }
}

/// A video that shows an empty, still hall for eight seconds (every capture encodes to the same
/// bytes) and then three shapes: the frame they first appear in reaches the detector within
/// about a frame interval, and the shapes get their `new` events. The pacer used to take the still
/// captures for repeats and learn an interval of eight seconds from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_scene_does_not_slow_the_answer_to_a_change() {
    use opencv::core::{Mat, Scalar, Size, CV_8UC3};
    use opencv::videoio;
    let dir = temp_dir("still-scene");
    let (still, moving, fps) = (240u64, 60u64, 30.0);
    let video = dir.join("hall.avi");
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(video.to_str().expect("utf8"), fourcc, fps, Size::new(640, 480), true)
        .expect("writer");
    let empty = Mat::new_rows_cols_with_default(480, 640, CV_8UC3, Scalar::all(96.0)).expect("frame");
    let scene = nvt_capture::synthetic::Synthetic::new(640, 480).expect("scene");
    for i in 0..still + moving {
        let frame = if i < still {
            empty.clone()
        } else {
            scene.render(i, std::time::SystemTime::now()).expect("render").image
        };
        videoio::VideoWriterTrait::write(&mut writer, &frame).expect("write");
    }
    drop(writer);

    let detector = nvt_detect::Detector::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx"),
        nvt_detect::DetectorOptions::default(),
    )
    .expect("model");
    let events = nvt_events::hub::Outputs {
        log: Some(Arc::new(JsonLines::open(dir.join("events.jsonl").to_str().expect("utf8")).expect("events"))),
        snapshots: None,
        mqtt: None,
        others: Vec::new(),
    };
    let log = dir.join("server.jsonl");
    let config = ServerConfig {
        log: Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("log"))),
        detectors: vec![detector],
        events: Arc::new(nvt_events::Hub::new(nvt_events::EventSettings::default(), events, false)),
        ..Default::default()
    };
    let server = TestServer::start(config).await;
    let mut client = nvt_client::Config::new(server.addr.to_string(), SourceSpec::File(video));
    client.duration = Some(Duration::from_secs(30));
    let summary = nvt_client::run(client, CancellationToken::new()).await.expect("client");
    server.stop().await;

    let records = read_jsonl(&log);
    let first_seen = records
        .iter()
        .find(|r| r["detections"].as_array().is_some_and(|d| !d.is_empty()))
        .and_then(|r| r["stamp"]["frame"].as_u64())
        .unwrap_or_else(|| panic!("the shapes were never detected: {summary:?}"));
    assert!(
        (still..=still + 3).contains(&first_seen),
        "the shapes appear in frame {still} and were first detected in frame {first_seen}"
    );
    let events = read_jsonl(&dir.join("events.jsonl"));
    let new: HashSet<String> = events
        .iter()
        .filter(|e| e["type"] == "new")
        .filter_map(|e| e["after"]["label"].as_str().map(str::to_owned))
        .collect();
    // The blue triangle scores about 0.53 with this model: a false positive by Frigate's rule,
    // which makes no event.
    let expected: HashSet<String> = ["red square", "green circle"].map(str::to_owned).into();
    assert_eq!(new, expected, "a `new` event for each shape Frigate's rule takes");
}
