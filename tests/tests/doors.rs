//! The doors a browser page, a model file, a flag or a stalled peer could open, tried against the
//! real binaries: each attempt gets a clear refusal and costs only itself.

use nvt_tests::harness::{
    binary, chromium, free_port, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// One raw HTTP/1.1 request (`Connection: close`): the status, the head, the body. Waits up to
/// 40 s for each read (`POST /api/model` answers once the load has ended).
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    nvt_tests::harness::raw_http(addr, request, Duration::from_secs(40))
}

fn post(addr: SocketAddr, host: &str, extra: &str, content_type: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST /api/model HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = http(addr, &request);
    (status, body)
}

fn get(addr: SocketAddr, host: &str, path: &str, extra: &str) -> (u16, String, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"))
}

/// A server with a model, the web view, a model folder and one streaming client.
struct Running {
    server: ChildGuard,
    _client: ChildGuard,
    http: SocketAddr,
    dir: PathBuf,
}

fn running(test: &str, model: &Path, extra: &[&str]) -> Running {
    let dir = temp_dir(test);
    let model_dir = dir.join("models");
    std::fs::create_dir_all(&model_dir).expect("dir");
    let served = dir.join("model.onnx");
    std::fs::copy(model, &served).expect("copy");
    let addr = format!("127.0.0.1:{}", free_port());
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.join("server.jsonl");
    let mut args = vec![
        "--listen".to_owned(),
        addr.clone(),
        "--http".to_owned(),
        http.to_string(),
        "--model".to_owned(),
        served.display().to_string(),
        "--model-dir".to_owned(),
        model_dir.display().to_string(),
        "--log".to_owned(),
        log.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let server = spawn("nvt-server", &args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(15));
    wait_for_port(http, Duration::from_secs(15));
    let client = spawn("nvt-client", &["--connect", &addr, "--source", "synthetic", "--fps", "15"]);
    Running { server, _client: client, http, dir }
}

/// Stops the server with SIGTERM; it must be gone within 5 s, with status 0.
fn sigterm_within_5s(server: &mut ChildGuard) {
    let sent = Instant::now();
    Command::new("kill").arg(server.0.id().to_string()).status().expect("kill");
    let status = wait_exit(server, Duration::from_secs(5));
    assert!(status.success(), "exit status {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?}", sent.elapsed());
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().expect("mkfifo").success());
}

#[test]
fn the_web_view_refuses_what_a_page_or_a_peer_should_not_do() {
    let mut run = running("doors-http", &models().join("shapes.onnx"), &[]);
    let (http, host) = (run.http, run.http.to_string());
    let model_dir = run.dir.join("models");
    mkfifo(&model_dir.join("fifo.onnx"));
    std::fs::copy(models().join("shapes-v5.onnx"), run.dir.join("outside.onnx")).expect("copy");
    std::os::unix::fs::symlink(run.dir.join("outside.onnx"), model_dir.join("escape.onnx")).expect("symlink");
    std::thread::sleep(Duration::from_millis(500));

    // A plain form can post text/plain cross-site: model changes take JSON only.
    let (status, _) = post(http, &host, "", "text/plain", r#"{"path": "/tmp/fifo"}"#);
    assert_eq!(status, 415);
    // DNS rebinding arrives under the attacker's own name.
    assert_eq!(post(http, "rebind.example:80", "", "application/json", "{}").0, 421);
    assert_eq!(get(http, &format!("rebind.example:{}", http.port()), "/api/clients", "").0, 421);
    assert_eq!(get(http, &format!("rebind.example:{}", http.port()), "/stream/1", "").0, 421);
    let (_, _, body) = get(http, &format!("cam-box.lan:{}", http.port()), "/", "");
    assert!(body.contains("--http-host cam-box.lan"), "the 421 names the flag that allows the name: {body}");
    // A cross-origin request is refused, whatever the method.
    assert_eq!(post(http, &host, "Origin: http://evil.example\r\n", "application/json", "{}").0, 403);
    assert_eq!(get(http, &host, "/api/clients", "Origin: http://evil.example\r\n").0, 403);
    // Pipes, devices, folders and anything outside --model-dir, by any road.
    // One answer for all, so that it tells nothing of what exists outside the folder.
    for path in ["fifo.onnx", "/dev/zero", "/tmp", "../outside.onnx", "escape.onnx", "missing.onnx", "/etc/shadow"] {
        let (status, body) = post(http, &host, "", "application/json", &format!(r#"{{"path": "{path}"}}"#));
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body, format!("{path} is not a regular file inside --model-dir"));
    }
    // Another site's page embedding the stream, as an <img> would.
    let embedded = "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\n";
    assert_eq!(get(http, &host, "/stream/1", embedded).0, 403);
    // A huge body is refused before it is read.
    let (status, _) = post(http, &host, "", "application/json", &format!(r#"{{"path": "{}"}}"#, "a".repeat(1 << 20)));
    assert_eq!(status, 413);
    // What is allowed still works, and every answer carries the page's protections.
    assert_eq!(post(http, &host, &format!("Origin: http://{host}\r\n"), "application/json", "{}").0, 200);
    let (status, head, body) = get(http, &host, "/", "");
    assert_eq!(status, 200);
    for header in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
    ] {
        assert!(head.contains(header), "{header} in:\n{head}");
    }
    assert!(!body.contains("<script>") && body.contains(r#"<script src="/app.js""#), "no inline script");
    let (status, _, clients) = get(http, &format!("localhost:{}", http.port()), "/api/clients", "");
    assert_eq!(status, 200, "localhost is this server too");
    assert!(clients.contains("\"peer\""), "{clients}");
    sigterm_within_5s(&mut run.server);
}

#[test]
fn with_an_http_token_every_endpoint_needs_it() {
    let dir = temp_dir("doors-token");
    let token = dir.join("token");
    std::fs::write(&token, "s3cret-token\n").expect("write");
    let mut run = running(
        "doors-token-server",
        &models().join("shapes.onnx"),
        &["--http-token-file", token.to_str().expect("utf8")],
    );
    let (http, host) = (run.http, run.http.to_string());
    for path in ["/", "/app.js", "/api/clients", "/metrics", "/stream/1"] {
        assert_eq!(get(http, &host, path, "").0, 401, "{path} without the token");
        assert_eq!(get(http, &host, path, "Authorization: Bearer wrong\r\n").0, 401, "{path} with a wrong one");
    }
    assert_eq!(get(http, &host, "/metrics", "Authorization: Bearer s3cret-token\r\n").0, 200);
    assert_eq!(post(http, &host, "", "application/json", "{}").0, 401);
    let (_, _, body) = get(http, &host, "/", "");
    assert!(body.contains("/?token=TOKEN") && body.contains("--http-token-file"), "the 401 says how: {body}");
    let (status, head, _) = get(http, &host, "/?token=s3cret-token", "");
    assert_eq!(status, 200);
    assert!(head.contains("set-cookie: nvt_token=s3cret-token; httponly; samesite=strict"), "{head}");
    // A token in the query that did not itself check out never becomes a cookie.
    let bearer = "Authorization: Bearer s3cret-token\r\n";
    let (status, head, _) = get(http, &host, "/?token=x;Domain=evil;Max-Age=99999999", bearer);
    assert_eq!(status, 200);
    assert!(!head.contains("set-cookie"), "{head}");
    assert_eq!(get(http, &host, "/api/clients", "Cookie: nvt_token=s3cret-token\r\n").0, 200);
    sigterm_within_5s(&mut run.server);
}

#[test]
fn bad_model_files_are_one_line_of_error_at_start_up() {
    let image = Path::new("/usr/share/darknet/data/dog.jpg");
    assert!(image.is_file(), "the darknet photos are installed by `make setup`");
    let dir = temp_dir("doors-models");
    let fifo = dir.join("fifo.onnx");
    mkfifo(&fifo);
    let cases: Vec<(PathBuf, &str)> = vec![
        (models().join("hostile/names-id-overflow.onnx"), "class id 18446744073709551615 is not below 10000"),
        (models().join("hostile/huge-imgsz.onnx"), "imgsz width is 100000, out of bounds"),
        (models().join("hostile/huge-fixed-input.onnx"), "input width is 100000, out of bounds"),
        (models().join("hostile/zero-classes.onnx"), "names no classes"),
        (fifo, "not a regular file"),
        (PathBuf::from("/dev/zero"), "not a regular file"),
        (models().join("fixtures/not-onnx.onnx"), "not a valid ONNX model"),
    ];
    for (model, says) in cases {
        let started = Instant::now();
        let out = Command::new(binary("nvt-detect"))
            .args(["--model", model.to_str().expect("utf8"), "--log", "/dev/null"])
            .arg(image)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", model.display());
        assert!(stderr.contains(says), "{}: {stderr}", model.display());
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(30), "{} was refused at once", model.display());
    }
}

#[test]
fn nan_and_infinite_outputs_give_no_boxes_and_no_crash() {
    let dir = temp_dir("doors-nan");
    for name in ["nan-output", "inf-output"] {
        let log = dir.join(format!("{name}.jsonl"));
        let status = Command::new(binary("nvt-detect"))
            .args(["--model", models().join(format!("hostile/{name}.onnx")).to_str().expect("utf8")])
            .args(["--log", log.to_str().expect("utf8"), "/usr/share/darknet/data/dog.jpg"])
            .env("RUST_LOG", "warn")
            .status()
            .expect("run");
        assert!(status.success(), "{name}");
        let records = read_jsonl(&log);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["detections"], Value::Array(Vec::new()), "{name}: {}", records[0]);
    }
}

fn metric(http: SocketAddr, series: &str) -> String {
    let (_, _, body) = get(http, &http.to_string(), "/metrics", "");
    body.lines().filter(|l| l.starts_with(series)).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_bad_model_in_a_live_swap_leaves_the_old_one_serving_and_reloads_keep_working() {
    let mut run = running("doors-swap", &models().join("shapes.onnx"), &[]);
    let served = run.dir.join("model.onnx");
    std::thread::sleep(Duration::from_millis(1000));
    let before = metric(run.http, "nvt_model_info");
    assert!(before.contains("model.onnx@"), "{before}");

    for bad in ["names-id-overflow", "huge-imgsz", "zero-classes"] {
        std::fs::copy(models().join(format!("hostile/{bad}.onnx")), &served).expect("copy");
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(metric(run.http, "nvt_model_info"), before, "{bad} did not take over");
    }
    // The file swapped for a pipe: refused at once, nothing blocks.
    std::fs::remove_file(&served).expect("rm");
    mkfifo(&served);
    std::thread::sleep(Duration::from_millis(1200));
    std::fs::remove_file(&served).expect("rm");
    // Hot reload still works: the next good file is picked up.
    std::fs::copy(models().join("shapes-v5.onnx"), &served).expect("copy");
    let until = Instant::now() + Duration::from_secs(20);
    while metric(run.http, "nvt_model_info") == before {
        assert!(Instant::now() < until, "the good file was not picked up after the bad ones");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metric(run.http, "nvt_panics_total").lines().all(|l| l.ends_with(" 0")), "no panic on the way");
    let records = read_jsonl(&run.dir.join("server.jsonl"));
    assert!(records.len() > 20, "frames went on being processed: {}", records.len());
    sigterm_within_5s(&mut run.server);
}

#[test]
fn a_label_made_of_html_shows_as_text_in_the_browser() {
    nvt_tests::harness::require("chromium", "--version", "chromium");
    let mut run = running("doors-label", &models().join("hostile/html-label.onnx"), &[]);
    std::thread::sleep(Duration::from_secs(2));
    let dom = chromium(&format!("http://{}/", run.http), "--dump-dom", 5000, &run.dir.join("profile"))
        .expect("chromium runs");
    assert!(dom.contains("data-updates=\"") && !dom.contains("data-updates=\"0\""), "the page updated:\n{dom}");
    assert!(dom.contains("&lt;img src=x onerror="), "the label is shown as text:\n{dom}");
    assert!(!dom.contains("data-pwned"), "the label's script did not run:\n{dom}");
    assert!(!dom.contains(r#"<img src="x""#), "no element was made from the label:\n{dom}");
    sigterm_within_5s(&mut run.server);
}

#[test]
fn sigterm_ends_the_server_within_5s_with_a_stalled_viewer_and_a_pipe_for_a_model() {
    let mut run = running("doors-sigterm", &models().join("shapes.onnx"), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    // A viewer that asks for the stream and never reads a byte of it.
    let mut stalled = TcpStream::connect(run.http).expect("connect");
    write!(stalled, "GET /stream/1 HTTP/1.1\r\nHost: {}\r\n\r\n", run.http).expect("request");
    // The model file becomes a pipe nobody writes: the watcher asks the loader to read it.
    let served = run.dir.join("model.onnx");
    std::fs::remove_file(&served).expect("rm");
    mkfifo(&served);
    std::thread::sleep(Duration::from_millis(2500));
    sigterm_within_5s(&mut run.server);
    let text = std::fs::read_to_string(run.dir.join("server.jsonl")).expect("log");
    assert!(text.ends_with('\n'), "the log ends with a whole line");
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("a torn line {line:?}: {e}"));
    }
    drop(stalled);
}

/// Runs a binary with `args`; it must exit with status 2 and say what is wrong, without a panic.
/// A value wrongly taken would start the program for real: it is stopped after 20 s and fails.
fn refused(program: &str, args: &[&str], says: &str) -> String {
    let child = Command::new(binary(program))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut child = ChildGuard(child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    child.0.stderr.take().expect("piped").read_to_string(&mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(2), "{program} {args:?}: {stderr}");
    assert!(stderr.contains(says), "{program} {args:?} should mention {says:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{program} {args:?}: {stderr}");
    stderr
}

#[test]
fn every_flag_refuses_its_bad_values_with_status_2() {
    let model = models().join("shapes.onnx");
    let model = model.to_str().expect("utf8");
    let server: &[(&str, &[&str])] = &[
        ("--stats-every", &["0", "0s", "1e300", "18446744073709551615", "2y", "soon"]),
        ("--max-lag", &["0", "-1", "1e300", "nan"]),
        ("--read-timeout", &["0", "1e300", "500000000000h"]),
        ("--exchange-timeout", &["0", "1e300"]),
        ("--max-frame-bytes", &["0", "18446744073709551615", "99999999999999999999GiB", "2GiB"]),
        ("--max-pixels", &["0", "18446744073709551615"]),
        ("--max-clients", &["0", "-1", "99999999999"]),
        ("--max-clients-per-ip", &["0", "99999999999"]),
        ("--workers", &["-1", "100000"]),
        ("--threads", &["-1", "100000"]),
        ("--conf", &["nan", "inf", "-0.5", "2"]),
        ("--iou", &["nan", "1.5"]),
        ("--imgsz", &["0", "31", "100000"]),
        ("--http", &["nonsense", "99999"]),
        ("--listen", &["nonsense", "127.0.0.1:99999"]),
        ("--ep", &["quantum"]),
        ("--layout", &["v9"]),
        ("--input-range", &["0-7"]),
        ("--channel-order", &["cmyk"]),
        ("--resize", &["squash"]),
        ("--camera", &["front.door=10.0.0.5", "door", "Front Door=10.0.0.5", "door=nowhere"]),
        ("--min-score", &["nan", "-0.1", "1.5"]),
        ("--threshold", &["2", "inf"]),
        ("--min-area", &["-1", "nan"]),
        ("--max-ratio", &["-3"]),
    ];
    for (flag, values) in server {
        for value in *values {
            let flag_name = flag.trim_start_matches('-');
            let says = if *flag == "--listen" { "--listen" } else { flag_name };
            refused("nvt-server", &["--listen", "127.0.0.1:0", &format!("{flag}={value}")], says);
        }
    }
    refused("nvt-server", &["--listen", "127.0.0.1:0", "--model", model, "--imgsz", "320"], "does not fit this model");
    // Object filters, cameras and MQTT settings that cannot be used, each with what is wrong.
    let start = ["--listen", "127.0.0.1:0", "--model", model];
    for (extra, says) in [
        (&["--filter", "person:min_score=0.5"][..], "CAMERA:LABEL:KEY=VALUE"),
        (&["--filter", "*:person:speed=3"][..], "unknown key"),
        (&["--filter", "*:person:threshold=1.5"][..], "out of range"),
        (&["--filter", "front.door:person:threshold=0.5"][..], "not a camera name"),
        (&["--camera-labels", "person,car"][..], "CAMERA:LABEL,LABEL"),
        (&["--camera", "door=10.0.0.5", "--camera", "door=10.0.0.6"][..], "given twice"),
        (&["--camera", "door=10.0.0.5", "--camera", "yard=10.0.0.5"][..], "named twice"),
        (&["--mqtt", "mqtt://127.0.0.1:9", "--mqtt-forget", "0s"][..], "mqtt-forget"),
        (&["--mqtt", "mqtt://127.0.0.1:9", "--mqtt-snapshot-quality", "0"][..], "mqtt-snapshot-quality"),
        (&["--mqtt", "mqtt://127.0.0.1:9", "--mqtt-snapshot-height", "99999"][..], "mqtt-snapshot-height"),
    ] {
        let mut args = start.to_vec();
        args.extend(extra);
        refused("nvt-server", &args, says);
    }
    refused("nvt-server", &["--listen", "127.0.0.1:0", "--model", "/dev/zero"], "not a regular file");
    // The reason is said once, not once per layer of the error.
    let missing = refused("nvt-detect", &["--model", "/nonexistent/model.onnx", "x.jpg"], "No such file or directory");
    assert_eq!(missing.matches("No such file or directory").count(), 1, "{missing}");
    refused("nvt-server", &["--listen", "127.0.0.1:0", "--model-dir", "/nonexistent"], "--model-dir");
    refused("nvt-server", &["--listen", "127.0.0.1:0", "--http-token-file", "/nonexistent"], "--http-token-file");
    let unsafe_token = std::env::temp_dir().join(format!("nvt-unsafe-token-{}", std::process::id()));
    std::fs::write(&unsafe_token, "a+b/c=\n").expect("write");
    refused(
        "nvt-server",
        &["--listen", "127.0.0.1:0", "--http-token-file", unsafe_token.to_str().expect("utf8")],
        "letters, digits",
    );
    // A token the protocol's rule refuses (a space) is told the web token's rule, not that one.
    std::fs::write(&unsafe_token, "two words\n").expect("write");
    let args = ["--listen", "127.0.0.1:0", "--http-token-file", unsafe_token.to_str().expect("utf8")];
    refused("nvt-server", &args, "letters, digits, '-', '.', '_' or '~'");
    // A frame count of 0 is told what to give, not the range of a 64-bit number.
    refused("nvt-client", &["--source", "synthetic", "--frames", "0"], "give 1 or more");

    let client: &[(&str, &[&str])] = &[
        ("--fps", &["1e-300", "-1", "nan", "inf", "1e300", "0.001"]),
        ("--duration", &["0", "1e300", "18446744073709551615"]),
        ("--reconnect-max", &["0", "1e300"]),
        ("--read-timeout", &["0", "1e300"]),
        ("--jpeg-quality", &["0", "101"]),
        ("--size", &["0x0", "100000x100000", "axb"]),
        ("--connect", &["nonsense", "127.0.0.1:0", "127.0.0.1:99999"]),
        ("--frames", &["0", "-1"]),
    ];
    // A client naming itself with a name Frigate would refuse (it needs protected mode too, but
    // the name is refused first, with what a name may hold).
    for name in ["front.door", "Front Door", "door/1", "::1"] {
        refused("nvt-client", &["--source", "synthetic", "--token-file", "/dev/null", "--name", name], "'_' or '-'");
    }
    for (flag, values) in client {
        for value in *values {
            // Always a deadline, so that a value wrongly taken ends the run rather than hangs it.
            let deadline: &[&str] = if *flag == "--duration" { &[] } else { &["--duration", "1s"] };
            let mut args = vec!["--source", "synthetic", "--connect", "127.0.0.1:9"];
            args.extend(deadline);
            if *flag == "--connect" {
                args.truncate(2);
            }
            let pair = format!("{flag}={value}");
            args.push(&pair);
            refused("nvt-client", &args, flag.trim_start_matches('-'));
        }
    }

    for (flag, value) in [("--progress-every", "0"), ("--max-pixels", "0"), ("--conf", "nan"), ("--imgsz", "5")] {
        refused(
            "nvt-detect",
            &["--model", model, flag, value, "/usr/share/darknet/data/dog.jpg"],
            flag.trim_start_matches('-'),
        );
    }
}
