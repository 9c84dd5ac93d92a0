//! What a user reads, from the real binaries: a flag people type for another gets the flag they
//! mean (not clap's "similar argument", which names something else); `--events` over images
//! says why no events come; standard output holds JSON Lines alone when a program writes them
//! there; a file that is no media gets nvt's one line, without OpenCV's, FFmpeg's or
//! GStreamer's own warnings before it.

use nvt_capture::synthetic::Synthetic;
use nvt_tests::harness::{binary, free_port, model, temp_dir, wait_exit, wait_for_port, ChildGuard};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs one of our binaries to its end, at `RUST_LOG=info` (the human log at its busiest); one
/// that is still running after two minutes (a server that took flags it should refuse) is
/// killed and fails the test.
fn run(name: &str, args: &[&str]) -> Output {
    use std::io::Read;
    let mut child = Command::new(binary(name))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let status = wait_exit(&mut ChildGuard(child), Duration::from_secs(120));
    Output { status, stdout: stdout.join().expect("stdout"), stderr: stderr.join().expect("stderr") }
}

/// Every line of standard output parsed as JSON; a line that is not fails the test.
fn json_lines(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("standard output holds {line:?}: {e}")))
        .collect()
}

fn scene_jpeg(path: &Path, index: u64) {
    let frame = Synthetic::new(640, 480).expect("scene").render(index, SystemTime::now()).expect("frame");
    std::fs::write(path, nvt_capture::jpeg::encode(&frame.image, 90).expect("jpeg")).expect("write");
}

/// `--out DIR` (and its kin) on each program: clap's tip would be "a similar argument exists:
/// '--output'", the model's output tensor. The tip names the flag meant, the usage line no
/// longer shows `--output`, and the status is clap's 2. A typo clap gets right keeps its tip.
#[test]
fn a_flag_people_type_for_another_gets_the_flag_they_mean() {
    let model = model("shapes.onnx");
    let model = model.to_str().expect("utf8");
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("nvt-detect", vec!["--model", model, "--out", "annotated", "x.jpg"], "'--annotate DIR'"),
        ("nvt-detect", vec!["--model", model, "--output-dir=annotated", "x.jpg"], "'--annotate DIR'"),
        ("nvt-detect", vec!["--model", model, "--input", "x.jpg"], "without a flag"),
        ("nvt-server", vec!["--out", "records.jsonl"], "'--log FILE'"),
        ("nvt-worker", vec!["--nats", "nats://127.0.0.1:9", "--out", "x"], "writes no files"),
        ("nvt-client", vec!["--server", "127.0.0.1:1998"], "'--connect HOST:PORT'"),
    ];
    for (program, args, tip) in cases {
        let out = run(program, &args);
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{program} {args:?}: {said}");
        assert!(said.contains("tip: ") && said.contains(tip), "{program} {args:?}: {said}");
        assert!(!said.contains("similar argument"), "{program} {args:?}: {said}");
        assert!(!said.contains("--output <OUTPUT>"), "the usage names no flag clap suggested: {said}");
        assert!(out.stdout.is_empty(), "{program}: {}", text(&out.stdout));
    }
    let out = run("nvt-detect", &["--model", model, "--annotated", "out", "x.jpg"]);
    let said = text(&out.stderr);
    assert!(said.contains("a similar argument exists: '--annotate'"), "clap's right guess stays: {said}");
}

/// Events follow an object through a video's frames: over images only, `nvt-detect --events`
/// says once that none will come, and why, instead of leaving the file empty without a word.
#[test]
fn events_over_images_only_say_once_why_none_come() {
    let dir = temp_dir("messages-events-images");
    for i in [3u64, 4, 5] {
        scene_jpeg(&dir.join(format!("frame{i}.jpg")), i);
    }
    let events = dir.join("events.jsonl");
    let model = model("shapes.onnx");
    let args =
        ["--model", model.to_str().expect("utf8"), "--log", "/dev/null", "--events", events.to_str().expect("utf8")];
    let out = run("nvt-detect", &[&args[..], &[dir.to_str().expect("utf8")]].concat());
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("no events will come").count(), 1, "said once, for three images: {said}");
    assert!(said.contains("--events") && said.contains("video"), "names the flag and what events need: {said}");
    assert_eq!(std::fs::read_to_string(&events).expect("events file"), "", "and indeed none came");
}

/// `nvt-detect --events -` over a video: standard output holds the events alone (the records,
/// whose default is standard output too, are not written there, and the log says so on
/// standard error). `--log - --events -` is refused with status 2.
#[test]
fn nvt_detect_events_on_standard_output_are_json_lines_alone() {
    let dir = temp_dir("messages-events-stdout");
    let video = dir.join("porch.avi");
    nvt_tests::fake_camera::write_scene_video(&video, 40);
    let model = model("shapes.onnx");
    let model = model.to_str().expect("utf8");
    let video = video.to_str().expect("utf8");
    let out = run("nvt-detect", &["--model", model, "--events", "-", video]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    let events = json_lines(&out.stdout);
    assert!(events.iter().any(|e| e["type"] == "new"), "events came: {events:?}");
    assert!(
        events.iter().all(|e| ["new", "update", "end"].contains(&e["type"].as_str().unwrap_or(""))),
        "events only, no frame records: {events:?}"
    );
    assert!(said.contains("the records are not written") && said.contains("--log FILE"), "{said}");

    let out = run("nvt-detect", &["--model", model, "--log", "-", "--events", "-", video]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("--log - and --events - would both write standard output"), "{said}");
    assert!(out.stdout.is_empty());
}

/// The server's `--log -` and the client's: every line of standard output is a JSON record while
/// both log busily (info) to standard error; the server refuses `--log - --events -`.
#[test]
fn server_and_client_records_on_standard_output_are_json_lines_alone() {
    let model = model("shapes.onnx");
    let model = model.to_str().expect("utf8");
    let out = run("nvt-server", &["--listen", "127.0.0.1:0", "--model", model, "--log", "-", "--events", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("would both write standard output"), "{}", text(&out.stderr));

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Command::new(binary("nvt-server"))
        .args(["--listen", &listen, "--model", model, "--log", "-"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server");
    let mut server = ChildGuard(server);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    let client = run("nvt-client", &["--connect", &listen, "--source", "synthetic", "--frames", "5", "--log", "-"]);
    assert!(client.status.success(), "{}", text(&client.stderr));
    assert!(!client.stderr.is_empty(), "the client's human log went to standard error");
    let replies = json_lines(&client.stdout);
    assert!(replies.len() >= 5, "a record per exchange: {replies:?}");

    let _ = Command::new("kill").arg(server.0.id().to_string()).status();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    server.0.stdout.take().expect("piped").read_to_end(&mut stdout).expect("read");
    server.0.stderr.take().expect("piped").read_to_end(&mut stderr).expect("read");
    let records = json_lines(&stdout);
    assert!(!records.is_empty() && records.iter().all(|r| r["detections"].is_array()), "{records:?}");
    assert!(text(&stderr).contains("stopped"), "the server's human log is on standard error: {}", text(&stderr));
}

/// Lines that come from OpenCV, FFmpeg or GStreamer rather than from nvt.
fn library_noise(said: &str) -> Vec<&str> {
    let marks = ["[ WARN", "[ERROR", "GStreamer", "OpenCV(", "@ 0x", "overread", "Unexpected element"];
    said.lines().filter(|line| marks.iter().any(|mark| line.contains(mark))).collect()
}

/// A text file, a video cut to its first bytes and a video cut short: OpenCV's backends and
/// FFmpeg each had something to say on standard error; now only nvt does, in its own words, for
/// `nvt-detect` and `nvt-client --source` alike.
#[test]
fn a_file_that_is_no_media_gets_nvt_s_line_without_the_libraries_warnings() {
    let dir = temp_dir("messages-no-media");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "a shopping list, not a video\n").expect("write");
    let whole = dir.join("whole.avi");
    nvt_tests::fake_camera::write_scene_video(&whole, 20);
    let bytes = std::fs::read(&whole).expect("read");
    let (head, short) = (dir.join("head.avi"), dir.join("short.avi"));
    std::fs::write(&head, &bytes[..300]).expect("write");
    std::fs::write(&short, &bytes[..bytes.len() / 3]).expect("write");
    let model = model("shapes.onnx");
    let model = model.to_str().expect("utf8");

    for file in [&notes, &head] {
        let out = run("nvt-detect", &["--model", model, "--log", "/dev/null", file.to_str().expect("utf8")]);
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("neither an image nor a video OpenCV can open"), "{said}");
        assert_eq!(library_noise(&said), Vec::<&str>::new(), "{said}");

        let source = file.to_str().expect("utf8");
        let out = run("nvt-client", &["--source", source, "--connect", "127.0.0.1:9"]);
        let said = text(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert_eq!(said.trim_end().lines().count(), 1, "nvt's one line: {said}");
        assert!(said.starts_with("nvt-client: cannot open source") && said.contains("neither a video nor an image"));
    }

    let out = run("nvt-detect", &["--model", model, "--log", "-", short.to_str().expect("utf8")]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "the frames before the cut are processed: {said}");
    let records = json_lines(&out.stdout);
    assert!(!records.is_empty() && records.len() < 20, "{} records", records.len());
    assert!(said.contains(&format!("ended after {} of the 20 frames", records.len())), "nvt says it: {said}");
    assert_eq!(library_noise(&said), Vec::<&str>::new(), "{said}");
}
