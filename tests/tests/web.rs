//! `--http`: every endpoint while a client streams through the shapes model, and the page in a
//! real browser (headless Chromium).

use nvt_capture::{jpeg, SourceSpec};
use nvt_detect::{Detector, DetectorOptions};
use nvt_tests::harness::{chromium, free_port, http_get, model, spawn, temp_dir, wait_for_port, TestServer};
use opencv::prelude::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn streaming_server(
) -> (TestServer, SocketAddr, CancellationToken, tokio::task::JoinHandle<anyhow::Result<nvt_client::Summary>>) {
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_addr = http.local_addr().expect("addr");
    let config = nvt_server::Config {
        detectors: vec![Detector::load(&model("shapes.onnx"), DetectorOptions::default()).expect("model")],
        http: Some(http),
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let stop = CancellationToken::new();
    let client = tokio::spawn(nvt_client::run(
        nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (server, http_addr, stop, client)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_while_a_client_streams() {
    let (server, http, stop, client) = streaming_server().await;
    let quick = Duration::from_secs(3);

    let (status, headers, body) = http_get(http, "/", quick).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(String::from_utf8_lossy(&body).contains("/api/clients"));

    let (status, _, body) = http_get(http, "/api/clients", quick).await;
    assert_eq!(status, 200);
    let clients: Vec<Value> = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(clients.len(), 1, "{clients:?}");
    let c = &clients[0];
    assert!(c["fps_in"].as_f64().expect("fps") > 2.0 && c["fps_processed"].as_f64().expect("fps") > 0.5, "{c}");
    assert!(c["model"].as_str().expect("model").starts_with("shapes.onnx@"));
    assert!(c["latency_ms_p50"].as_f64().expect("p50") > 0.0);
    let labels: Vec<&str> =
        c["detections"].as_array().expect("list").iter().filter_map(|d| d["label"].as_str()).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    let id = c["id"].as_u64().expect("id");

    let (status, headers, body) = http_get(http, &format!("/stream/{id}"), Duration::from_millis(2500)).await;
    assert_eq!(status, 200);
    let boundary = header(&headers, "content-type")
        .strip_prefix("multipart/x-mixed-replace; boundary=")
        .expect("multipart")
        .to_owned();
    let jpegs = parts(&body, &boundary);
    assert!(jpegs.len() >= 3, "several frames in 2.5 s, got {}", jpegs.len());
    for part in &jpegs {
        let image = jpeg::decode(part, jpeg::DEFAULT_MAX_PIXELS).expect("each part is a valid JPEG");
        assert_eq!((image.cols(), image.rows()), (640, 480));
    }
    let (status, _, _) = http_get(http, "/stream/999", quick).await;
    assert_eq!(status, 404);

    let (status, headers, first) = http_get(http, "/metrics", quick).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/plain"));
    let first = String::from_utf8_lossy(&first).into_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, _, second) = http_get(http, "/metrics", quick).await;
    let second = String::from_utf8_lossy(&second).into_owned();
    for series in
        ["nvt_frames_received_total", "nvt_frames_processed_total", "nvt_stage_seconds_count{stage=\"infer\"}"]
    {
        assert!(metric(&second, series) > metric(&first, series), "{series} moves while frames flow");
    }
    assert_eq!(metric(&second, "nvt_connected_clients"), 1.0);
    assert_eq!(metric(&second, "nvt_frames_stale_total"), metric(&first, "nvt_frames_stale_total").max(0.0));
    assert!(metric(&second, "nvt_model_load_seconds") > 0.0);
    assert!(second.contains("nvt_model_info{model=\"shapes.onnx@"), "{second}");

    stop.cancel();
    client.await.expect("task").expect("client");
    server.stop().await;
}

/// With `--detect motion`, a frame of an empty hall is not decoded whole, unless someone watches
/// the camera: the web view's stream goes on showing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_camera_of_an_empty_hall_streams_to_the_web_view() {
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http = (http.local_addr().expect("addr"), http);
    let config = nvt_server::Config {
        detectors: vec![Detector::load(&model("shapes.onnx"), DetectorOptions::default()).expect("model")],
        http: Some(http.1),
        look: Some(std::sync::Arc::new(nvt_motion::LookSettings::default())),
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let stop = CancellationToken::new();
    // `synthetic:visits` opens on 3 s of empty hall.
    let client = tokio::spawn(nvt_client::run(
        nvt_client::Config::new(server.addr.to_string(), SourceSpec::Visits),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = http_get(http.0, "/api/clients", Duration::from_secs(3)).await;
    assert_eq!(status, 200);
    let clients: Vec<Value> = serde_json::from_slice(&body).expect("JSON");
    let id = clients.first().and_then(|c| c["id"].as_u64()).expect("a client");
    let (status, headers, body) = http_get(http.0, &format!("/stream/{id}"), Duration::from_millis(1500)).await;
    assert_eq!(status, 200);
    let boundary =
        header(&headers, "content-type").strip_prefix("multipart/x-mixed-replace; boundary=").expect("multipart");
    let jpegs = parts(&body, boundary);
    assert!(jpegs.len() >= 3, "the empty hall streams while watched: {} frames in 1.5 s", jpegs.len());
    for part in &jpegs {
        let image = jpeg::decode(part, jpeg::DEFAULT_MAX_PIXELS).expect("each part is a valid JPEG");
        assert_eq!((image.cols(), image.rows()), (640, 480));
    }
    stop.cancel();
    client.await.expect("task").expect("client");
    server.stop().await;
}

/// The JPEG bodies of a multipart stream.
fn parts(body: &[u8], boundary: &str) -> Vec<Vec<u8>> {
    let marker = format!("--{boundary}\r\n");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&body[at..], marker.as_bytes()).map(|i| at + i + marker.len()) {
        let Some(head_end) = find(&body[start..], b"\r\n\r\n").map(|i| start + i) else { break };
        let head = String::from_utf8_lossy(&body[start..head_end]).to_ascii_lowercase();
        let Some(len) =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok())
        else {
            break;
        };
        let data = head_end + 4;
        if data + len > body.len() {
            break; // the last part was cut off by the read time limit
        }
        out.push(body[data..data + len].to_vec());
        at = data + len;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn attribute(dom: &str, name: &str) -> u64 {
    dom.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn the_page_shows_the_live_stream_in_a_browser() {
    nvt_tests::harness::require("chromium", "--version", "chromium");
    let dir = temp_dir("browser");
    let addr = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let model = model("shapes.onnx");
    let _server = spawn("nvt-server", &["--listen", &addr, "--http", &http, "--model", model.to_str().expect("utf8")]);
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(10));
    let _client = spawn("nvt-client", &["--connect", &addr, "--source", "synthetic"]);
    std::thread::sleep(Duration::from_secs(2));

    let url = format!("http://{http}/");
    let dom = chromium(&url, "--dump-dom", 6000, &dir.join("profile-dom")).expect("chromium runs");
    assert!(dom.contains("data-loaded=\"1\""), "the stream's <img> loaded:\n{dom}");
    assert!(attribute(&dom, "data-updates") >= 2, "the stats refreshed:\n{dom}");
    let (first, last) = (attribute(&dom, "data-first-processed"), attribute(&dom, "data-processed"));
    assert!(last > first, "the stats changed while the page was open: {first} then {last}");
    assert!(dom.contains("red square") && dom.contains("shapes.onnx@"), "{dom}");
    // The history: each shape's event, in view, with its thumbnail, loaded.
    // (two shapes: the blue triangle is a false positive at Frigate's default threshold)
    assert!(dom.matches(r#"class="event in-progress""#).count() >= 2, "the events list:\n{dom}");
    assert!(dom.contains(r#"src="/api/events/"#), "thumbnails:\n{dom}");
    assert!(dom.matches(r#"data-loaded="1""#).count() >= 2, "the stream and a thumbnail loaded:\n{dom}");

    let shot = dir.join("web-view.png");
    chromium(&url, &format!("--screenshot={}", shot.display()), 3000, &dir.join("profile-shot"));
    let image = opencv::imgcodecs::imread(shot.to_str().expect("utf8"), opencv::imgcodecs::IMREAD_COLOR).expect("read");
    assert!(!image.empty(), "a screenshot was taken");
    let mut mean = opencv::core::Scalar::default();
    let mut stddev = opencv::core::Scalar::default();
    opencv::core::mean_std_dev(&image, &mut mean, &mut stddev, &opencv::core::no_array()).expect("stats");
    assert!(stddev[0] > 10.0, "the screenshot is not blank (stddev {:?})", stddev);
    if std::env::var_os("NVT_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/web-view.png");
        std::fs::copy(&shot, docs).expect("copy the screenshot into docs/");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_does_not_slow_detection() {
    let (server, http, stop, client) = streaming_server().await;
    let processed = |body: Vec<u8>| -> u64 {
        let clients: Vec<Value> = serde_json::from_slice(&body).expect("JSON");
        clients[0]["frames_processed"].as_u64().expect("count")
    };
    let window = Duration::from_secs(2);
    let quick = Duration::from_secs(3);
    let before = processed(http_get(http, "/api/clients", quick).await.2);
    tokio::time::sleep(window).await;
    let alone = processed(http_get(http, "/api/clients", quick).await.2) - before;

    // Five viewers that ask for the stream and then never read a byte of it.
    let mut stalled = Vec::new();
    for _ in 0..5 {
        use tokio::io::AsyncWriteExt;
        let mut sock = tokio::net::TcpStream::connect(http).await.expect("connect");
        sock.write_all(format!("GET /stream/1 HTTP/1.0\r\nHost: {http}\r\n\r\n").as_bytes()).await.expect("request");
        stalled.push(sock);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = processed(http_get(http, "/api/clients", quick).await.2);
    tokio::time::sleep(window).await;
    let watched = processed(http_get(http, "/api/clients", quick).await.2) - before;
    assert!(watched as f64 >= 0.6 * alone as f64, "processed {alone} frames alone, {watched} with stalled viewers");

    drop(stalled);
    stop.cancel();
    client.await.expect("task").expect("client");
    server.stop().await;
}
