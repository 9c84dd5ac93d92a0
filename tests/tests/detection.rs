//! Detection end to end: the server runs the shapes model on what clients stream, logs the
//! detections and returns them in its replies; nvt-detect does the same offline.

use nvt_capture::synthetic::Synthetic;
use nvt_capture::SourceSpec;
use nvt_detect::nms::iou;
use nvt_detect::{Detector, DetectorOptions};
use nvt_support::JsonLines;
use nvt_tests::harness::{binary, read_jsonl, temp_dir, TestServer};
use opencv::core::Size;
use opencv::prelude::*;
use opencv::videoio;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

fn shapes_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx")
}

fn server_with_model(log: &Path) -> nvt_server::Config {
    let detector = Detector::load(&shapes_model(), DetectorOptions::default()).expect("model");
    nvt_server::Config {
        log: Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("log"))),
        detectors: vec![detector],
        ..nvt_server::Config::default()
    }
}

/// Each detection list holds the three objects of synthetic frame `frame`, where they are.
fn assert_matches_truth(detections: &Value, frame: u64, size: (u32, u32)) {
    let truth = Synthetic::new(size.0, size.1).expect("scene").truth(frame);
    let list = detections.as_array().expect("detections");
    assert_eq!(list.len(), 3, "frame {frame}: {detections}");
    for object in truth {
        let found =
            list.iter().find(|d| d["label"] == object.label).unwrap_or_else(|| panic!("{} missing", object.label));
        let b: Vec<f32> =
            found["box"].as_array().expect("box").iter().map(|v| v.as_f64().expect("num") as f32).collect();
        let overlap = iou([b[0], b[1], b[2], b[3]], object.bbox);
        assert!(overlap >= 0.8, "frame {frame} {}: IoU {overlap}", object.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_log_and_the_clients_replies_carry_the_detections() {
    let dir = temp_dir("detect-e2e");
    let server = TestServer::start(server_with_model(&dir.join("server.jsonl"))).await;
    let mut client = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    client.frames = Some(30);
    // A deadline: a stream that stalls fails this test instead of hanging it.
    client.duration = Some(Duration::from_secs(60));
    client.log = Some(Arc::new(JsonLines::open(dir.join("client.jsonl").to_str().expect("utf8")).expect("log")));
    let summary = nvt_client::run(client, CancellationToken::new()).await.expect("client");
    let served = server.stop().await;
    assert_eq!(summary.accepted, 30);

    let records = read_jsonl(&dir.join("server.jsonl"));
    // Every accepted frame is detected or superseded by a newer one (newest wins); on a busy
    // machine the detector may fall behind a 30 fps client, but not by half.
    // The frame still waiting when the client left finishes too: the last one is logged.
    assert_eq!(served.frames.processed + served.frames.superseded, served.frames.fresh, "{served:?}");
    assert_eq!(records.len() as u64, served.frames.processed);
    // The client's source moves on while it waits (a frame can be superseded, or sent twice), so
    // the last frame is the last one the client's log says was accepted, not always number 29.
    let sent = read_jsonl(&dir.join("client.jsonl"));
    let last_sent = sent.iter().filter(|r| r["accepted"] == true).filter_map(|r| r["frame"].as_u64()).max();
    assert!(last_sent.is_some_and(|frame| frame >= 29), "30 distinct frames or more: {last_sent:?}");
    let last_detected = records.last().and_then(|r| r["stamp"]["frame"].as_u64());
    assert_eq!(last_detected, last_sent, "the last frame is detected");
    assert!(records.len() >= 15, "{} of 30 frames detected: {served:?}", records.len());
    let mut stamp_of_seq = HashMap::new();
    for record in &records {
        assert!(record["model"].as_str().expect("model").starts_with("shapes.onnx@"));
        for stage in ["decode", "preprocess", "infer", "postprocess"] {
            assert!(record["timings_ms"][stage].as_f64().expect("timing") >= 0.0);
        }
        let frame = record["stamp"]["frame"].as_u64().expect("stamp");
        assert_matches_truth(&record["detections"], frame, (640, 480));
        stamp_of_seq.insert(record["seq"].as_u64().expect("seq"), frame);
    }

    let replies: Vec<Value> =
        read_jsonl(&dir.join("client.jsonl")).into_iter().map(|r| r["response"].clone()).collect();
    let with_detections: Vec<&Value> =
        replies.iter().filter(|r| r["detections"].as_array().is_some_and(|d| !d.is_empty())).collect();
    assert!(with_detections.len() >= 15, "replies carry the latest detections: {}", with_detections.len());
    for reply in with_detections {
        let seq = reply["seq"].as_u64().expect("seq");
        let frame = stamp_of_seq[&seq];
        assert_matches_truth(&reply["detections"], frame, (640, 480));
        let scores: Vec<f64> =
            reply["detections"].as_array().expect("list").iter().map(|d| d["score"].as_f64().expect("s")).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "most confident first: {scores:?}");
    }
}

/// A client that leaves right after its last frame was accepted (`--frames`) has that frame
/// detected and counted before its session ends, so that the events and the per-camera counts
/// see it too, and the "client disconnected" line counts it.
#[test]
fn the_frame_accepted_last_is_finished_before_the_client_is_let_go() {
    use nvt_tests::harness::{free_port, wait_exit, wait_for_port, ChildGuard};
    use std::io::Read;
    let dir = temp_dir("last-frame");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("server.jsonl");
    let server = Command::new(binary("nvt-server"))
        .args(["--listen", &listen, "--model", shapes_model().to_str().expect("utf8")])
        .args(["--log", log.to_str().expect("utf8")])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("server");
    let mut server = ChildGuard(server);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    for _ in 0..3 {
        let client = Command::new(binary("nvt-client"))
            // Paced so that the detector keeps up on any machine: no frame is superseded.
            .args(["--connect", &listen, "--source", "synthetic", "--frames", "20", "--fps", "10"])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("client");
        assert!(wait_exit(&mut ChildGuard(client), Duration::from_secs(60)).success());
    }
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill").arg(server.0.id().to_string()).status().expect("kill");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());
    let mut stderr = String::new();
    server.0.stderr.take().expect("piped").read_to_string(&mut stderr).expect("stderr");
    let left: Vec<&str> = stderr.lines().filter(|l| l.contains("client disconnected")).collect();
    assert_eq!(left.len(), 3, "{stderr}");
    let count = |line: &str, key: &str| -> u64 {
        let value = line.split(&format!(" {key}=")).nth(1).and_then(|v| v.split(' ').next());
        value.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{key} in {line}"))
    };
    let mut processed = 0;
    for line in left {
        // On a loaded machine the detector may fall behind even a 10 fps client: a frame
        // superseded by a newer one is finished with too; none is left in flight.
        assert_eq!(count(line, "processed") + count(line, "superseded"), count(line, "fresh"), "{line}");
        processed += count(line, "processed");
    }
    assert_eq!(read_jsonl(&log).len() as u64, processed);
}

/// Runs `n` synthetic clients unpaced for `run`, each without a failure.
async fn stream_unpaced(addr: std::net::SocketAddr, n: usize, run: Duration) {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let mut config = nvt_client::Config::new(addr.to_string(), SourceSpec::Synthetic);
            config.fps = Some(0.0);
            config.duration = Some(run);
            tokio::spawn(nvt_client::run(config, CancellationToken::new()))
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.expect("task").expect("client").failures, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_are_all_served_by_the_one_detector() {
    let dir = temp_dir("detect-fair");
    let server = TestServer::start(server_with_model(&dir.join("server.jsonl"))).await;
    stream_unpaced(server.addr, 3, Duration::from_secs(3)).await;
    server.stop().await;
    let mut per_client: HashMap<String, usize> = HashMap::new();
    for record in read_jsonl(&dir.join("server.jsonl")) {
        *per_client.entry(record["source"].as_str().expect("source").to_owned()).or_default() += 1;
    }
    assert_eq!(per_client.len(), 3, "{per_client:?}");
    let (least, most) =
        (per_client.values().min().copied().unwrap_or(0), per_client.values().max().copied().unwrap_or(0));
    // Round robin: each client that always has a frame waiting gets every third turn, so the
    // counts differ by the frames in flight at the start and the end, not by a share.
    let mean = per_client.values().sum::<usize>() as f64 / 3.0;
    assert!(
        (least as f64) >= 0.85 * mean && (most as f64) <= 1.15 * mean,
        "round robin keeps clients within ±15% of the mean: {per_client:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_inference_workers_share_the_clients_and_every_frame_is_detected_right() {
    let dir = temp_dir("detect-workers");
    let mut config = server_with_model(&dir.join("server.jsonl"));
    config.detectors.push(Detector::load(&shapes_model(), DetectorOptions::default()).expect("model"));
    let server = TestServer::start(config).await;
    stream_unpaced(server.addr, 4, Duration::from_secs(3)).await;
    server.stop().await;
    let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
    for record in read_jsonl(&dir.join("server.jsonl")) {
        // A tensor handed between threads that held another frame's pixels would show here.
        let frame = record["stamp"]["frame"].as_u64().expect("stamp");
        assert_matches_truth(&record["detections"], frame, (640, 480));
        let source = record["source"].as_str().expect("source").to_owned();
        seqs.entry(source).or_default().push(record["seq"].as_u64().expect("seq"));
    }
    assert_eq!(seqs.len(), 4, "every client is served: {:?}", seqs.keys());
    for (source, list) in &seqs {
        assert!(list.len() >= 5, "{source}: {} frames", list.len());
        let mut unique = list.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), list.len(), "{source}: no frame is processed twice");
    }
}

#[test]
fn nvt_detect_runs_over_folders_and_videos_and_annotates() {
    let dir = temp_dir("nvt-detect");
    let scene = Synthetic::new(640, 480).expect("scene");
    std::fs::create_dir_all(dir.join("images")).expect("dir");
    for i in [7u64, 3] {
        let frame = scene.render(i, SystemTime::now()).expect("frame");
        let bytes = nvt_capture::jpeg::encode(&frame.image, 95).expect("jpeg");
        std::fs::write(dir.join(format!("images/frame{i}.jpg")), bytes).expect("write");
    }
    let video = dir.join("clip.avi");
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(&video, fourcc, 10.0, Size::new(640, 480), true).expect("writer");
    for i in 0..5 {
        writer.write(&scene.render(i * 40, SystemTime::now()).expect("frame").image).expect("write frame");
    }
    drop(writer);

    let log = dir.join("out.jsonl");
    let annotated = dir.join("annotated");
    let status = Command::new(binary("nvt-detect"))
        .args(["--model", shapes_model().to_str().expect("utf8"), "--log", log.to_str().expect("utf8")])
        .args(["--annotate", annotated.to_str().expect("utf8")])
        .arg(dir.join("images"))
        .arg(&video)
        .env("RUST_LOG", "warn")
        .status()
        .expect("run");
    assert!(status.success());
    let records = read_jsonl(&log);
    assert_eq!(records.len(), 2 + 5);
    assert!(records[0]["source"].as_str().expect("src").ends_with("frame3.jpg"), "folder contents in name order");
    assert_matches_truth(&records[0]["detections"], 3, (640, 480));
    assert_matches_truth(&records[1]["detections"], 7, (640, 480));
    for (i, record) in records[2..].iter().enumerate() {
        assert_eq!(record["seq"], i as u64, "video records are numbered by frame");
        assert_matches_truth(&record["detections"], i as u64 * 40, (640, 480));
    }
    assert!(annotated.join("frame3.jpg").exists() && annotated.join("frame7.jpg").exists());
    let annotated_video = videoio::VideoCapture::from_file(annotated.join("clip.avi"), videoio::CAP_ANY).expect("open");
    assert_eq!(annotated_video.get(videoio::CAP_PROP_FRAME_COUNT).expect("count") as u64, 5);
}

/// Streaming a video file to a live server skips the frames the server has no time for: the
/// client says so when it starts, and names the program that runs every frame.
#[test]
fn nvt_client_streaming_a_video_file_points_to_nvt_detect() {
    let dir = temp_dir("client-video-file");
    let scene = Synthetic::new(320, 240).expect("scene");
    let video = dir.join("clip.avi");
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(&video, fourcc, 10.0, Size::new(320, 240), true).expect("writer");
    for i in 0..3 {
        writer.write(&scene.render(i, SystemTime::now()).expect("frame").image).expect("write frame");
    }
    drop(writer);
    let source = video.to_str().expect("utf8");
    let args = ["--source", source, "--fps", "0", "--connect", "127.0.0.1:9", "--duration", "1s"];
    let mut client = nvt_tests::harness::Logged::start("nvt-client", &args);
    let (status, said) = client.wait_exit(std::time::Duration::from_secs(20));
    assert!(status.success(), "{status}: {said}");
    assert!(
        said.contains("frames the server has no time for are skipped") && said.contains("use nvt-detect"),
        "{said}"
    );
}

/// `a/x.jpg` and `b/x.jpg` in one run: two annotated copies, the second renamed and said so.
#[test]
fn nvt_detect_annotates_two_inputs_of_one_name_into_two_files() {
    let dir = temp_dir("nvt-detect-same-name");
    let scene = Synthetic::new(320, 240).expect("scene");
    for (folder, i) in [("a", 3u64), ("b", 40)] {
        std::fs::create_dir_all(dir.join(folder)).expect("dir");
        let frame = scene.render(i, SystemTime::now()).expect("frame");
        let bytes = nvt_capture::jpeg::encode(&frame.image, 95).expect("jpeg");
        std::fs::write(dir.join(folder).join("x.jpg"), bytes).expect("write");
    }
    let annotated = dir.join("annotated");
    let out = Command::new(binary("nvt-detect"))
        .args(["--model", shapes_model().to_str().expect("utf8"), "--log", "/dev/null"])
        .args(["--annotate", annotated.to_str().expect("utf8")])
        .args([dir.join("a/x.jpg"), dir.join("b/x.jpg")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (first, second) = (annotated.join("x.jpg"), annotated.join("x-2.jpg"));
    assert!(first.is_file() && second.is_file(), "{stderr}");
    assert_ne!(std::fs::read(&first).expect("read"), std::fs::read(&second).expect("read"), "two pictures");
    assert!(stderr.contains("x-2.jpg"), "the renamed copy is said: {stderr}");
}

#[test]
fn nvt_detect_reports_bad_inputs_and_goes_on() {
    let dir = temp_dir("nvt-detect-bad");
    let bad = dir.join("broken.jpg");
    std::fs::write(&bad, b"\xFF\xD8 not really a jpeg").expect("write");
    let good = dir.join("good.jpg");
    let frame = Synthetic::new(320, 240).expect("scene").render(1, SystemTime::now()).expect("frame");
    std::fs::write(&good, nvt_capture::jpeg::encode(&frame.image, 95).expect("jpeg")).expect("write");
    let log = dir.join("out.jsonl");
    let out = Command::new(binary("nvt-detect"))
        .args(["--model", shapes_model().to_str().expect("utf8"), "--log", log.to_str().expect("utf8")])
        .args([&bad, &good, &dir.join("missing.mp4")])
        .output()
        .expect("run");
    assert!(!out.status.success(), "exit 1 when an input failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.jpg") && err.contains("missing.mp4"), "{err}");
    assert_eq!(read_jsonl(&log).len(), 1, "the good image is still processed");
}

#[test]
fn a_missing_runtime_library_is_a_clear_error() {
    let out = Command::new(binary("nvt-detect"))
        .args(["--model", shapes_model().to_str().expect("utf8"), "/usr/share/darknet/data/dog.jpg"])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ONNX Runtime library not found") && err.contains("make setup") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_server_refuses_a_bad_model_at_start_up() {
    for (model, says) in [
        ("fixtures/not-onnx.onnx", "is not a valid ONNX model"),
        ("fixtures/unsupported-layout.onnx", "unsupported output layout"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(model);
        let out = Command::new(binary("nvt-server"))
            .args(["--listen", "127.0.0.1:0", "--model", path.to_str().expect("utf8")])
            .output()
            .expect("run");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{model}: {err}");
    }
}

/// A video of `frames` synthetic frames, for the progress tests.
/// Sessions side by side (`--workers`, a session per core by default) record what one session
/// does, in the same order: every image and frame, its detections and, in a video, its track ids;
/// an unreadable image among the others costs only itself.
#[test]
fn nvt_detect_with_sessions_side_by_side_records_what_one_session_records() {
    let dir = temp_dir("nvt-detect-workers");
    let scene = Synthetic::new(320, 240).expect("scene");
    std::fs::create_dir_all(dir.join("images")).expect("dir");
    for i in 0..12u64 {
        let frame = scene.render(i * 11, SystemTime::now()).expect("frame");
        let bytes = nvt_capture::jpeg::encode(&frame.image, 95).expect("jpeg");
        std::fs::write(dir.join(format!("images/frame{i:02}.jpg")), bytes).expect("write");
    }
    std::fs::write(dir.join("images/frame05b.jpg"), b"\xFF\xD8 not really a jpeg").expect("write");
    let video = synthetic_video(&dir, 60);
    let run = |workers: &str, threads: &str| {
        let log = dir.join(format!("workers-{workers}.jsonl"));
        let out = Command::new(binary("nvt-detect"))
            .args(["--model", shapes_model().to_str().expect("utf8"), "--log", log.to_str().expect("utf8")])
            .args(["--workers", workers, "--threads", threads])
            .arg(dir.join("images"))
            .arg(&video)
            .env("RUST_LOG", "info")
            .output()
            .expect("run");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "one input failed: {said}");
        assert!(said.contains("frame05b.jpg"), "{said}");
        assert!(said.contains(&format!("workers={workers}")), "{said}");
        let records: Vec<Value> = read_jsonl(&log)
            .into_iter()
            .map(|r| serde_json::json!([r["source"], r["seq"], r["width"], r["detections"]]))
            .collect();
        records
    };
    let alone = run("1", "1");
    let side_by_side = run("3", "1");
    assert_eq!(alone.len(), 12 + 60);
    for (i, record) in alone[12..].iter().enumerate() {
        assert_eq!(record[1], i as u64, "video frames in order");
        assert!(record[3].as_array().expect("list").iter().all(|d| d["track_id"].is_u64()), "tracked");
    }
    assert_eq!(side_by_side, alone, "three sessions record what one does, in the same order");
}

fn synthetic_video(dir: &std::path::Path, frames: u64) -> std::path::PathBuf {
    let scene = Synthetic::new(320, 240).expect("scene");
    let video = dir.join("long.avi");
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(&video, fourcc, 25.0, Size::new(320, 240), true).expect("writer");
    for i in 0..frames {
        writer.write(&scene.render(i, SystemTime::now()).expect("frame").image).expect("write frame");
    }
    video
}

#[test]
fn nvt_detect_logs_plain_progress_lines_without_a_terminal() {
    let dir = temp_dir("nvt-detect-progress");
    let video = synthetic_video(&dir, 40);
    let out = Command::new(binary("nvt-detect"))
        .args(["--model", shapes_model().to_str().expect("utf8"), "--log", "/dev/null", "--progress-every", "1ms"])
        .arg(&video)
        .env("RUST_LOG", "info")
        .output()
        .expect("run");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("progress")).collect();
    assert!(lines.len() >= 10, "a line per millisecond of a 40-frame run: {stderr}");
    assert!(lines.iter().all(|l| l.contains("total=40") && l.contains("fps=")), "{lines:?}");
    assert!(!stderr.contains('\u{1b}'), "no terminal codes off a terminal");
}

#[test]
fn nvt_detect_shows_a_progress_bar_on_a_terminal() {
    let dir = temp_dir("nvt-detect-bar");
    let video = synthetic_video(&dir, 40);
    let command = format!(
        "{} --model {} --log /dev/null {}",
        binary("nvt-detect").display(),
        shapes_model().display(),
        video.display()
    );
    // `script` runs the command on a pseudo-terminal, as a user's shell would.
    let out = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("script (bsdutils) runs");
    assert!(out.status.success(), "{out:?}");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("/40 frames"), "the bar counts frames of the total: {screen}");
}
