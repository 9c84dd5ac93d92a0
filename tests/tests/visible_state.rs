//! What people see when detection is not happening: `/api/clients`, `/api/status` and the web
//! page (in headless Chromium) say so and why. A real nvt-server with `--nats` on a real
//! nats-server with no worker says "no workers" within seconds, and `ok` again once a worker
//! answers; a server without a model says it has none.

use nvt_tests::browser::Browser;
use nvt_tests::harness::{free_port, http_get, spawn, temp_dir, wait_for_port, ChildGuard};
use nvt_tests::nats::NatsServer;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn shapes() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx").display().to_string()
}

async fn json(http: SocketAddr, path: &str) -> Value {
    let (status, _, body) = http_get(http, path, Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{path}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Polls `path` until `done` holds; the answer that held.
async fn wait_json(http: SocketAddr, path: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let value = json(http, path).await;
        if done(&value) {
            return value;
        }
        assert!(started.elapsed() < within, "{path} after {within:?}: {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An nvt-server with `extra` flags, a web port, and one synthetic client streaming to it.
fn server_and_client(extra: &[&str]) -> (ChildGuard, ChildGuard, SocketAddr) {
    let listen = format!("127.0.0.1:{}", free_port());
    let http_port = free_port();
    let mut args = vec!["--listen", &listen, "--http"];
    let port = http_port.to_string();
    args.push(&port);
    args.extend_from_slice(extra);
    let server = spawn("nvt-server", &args);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(30));
    let client = spawn("nvt-client", &["--connect", &listen, "--source", "synthetic", "--fps", "10"]);
    (server, client, ([127, 0, 0, 1], http_port).into())
}

/// The client card's detection banner, as `state text`, when it shows.
const CARD_BANNER: &str = "(() => { const b = document.querySelector('#clients .detection:not([hidden])'); \
     return b && b.dataset.state + ' ' + b.textContent; })()";

/// The banner above the cards, as `state text`, when it shows.
const TOP_BANNER: &str = "(() => { const b = document.getElementById('detection-alert'); \
     return b && b.dataset.state + ' ' + b.textContent; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_worker_answering_the_api_and_the_page_say_so_until_one_does() {
    let dir = temp_dir("state-no-workers");
    let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
    let url = nats.url();
    let (_server, _client, http) = server_and_client(&["--nats", &url]);
    let started = Instant::now();
    let no_workers = |c: &Value| c[0]["detection"]["state"] == "no_workers";
    let clients = wait_json(http, "/api/clients", Duration::from_secs(15), no_workers).await;
    let reason = clients[0]["detection"]["reason"].as_str().expect("reason");
    assert!(reason.contains("nvt.detect.default") && reason.contains("nvt-worker"), "says what to do: {reason}");
    println!("no_workers shown {:.1} s after the client started", started.elapsed().as_secs_f64());
    let status = json(http, "/api/status").await;
    assert_eq!(status["detection"]["state"], "no_workers", "{status}");
    assert!(status["model"].is_null(), "no local model to reload: {status}");

    let browser = Browser::launch(&dir, &[]);
    let mut page = browser.open(&format!("http://{http}/")).await;
    let card = page.wait_for(CARD_BANNER, Duration::from_secs(15)).await.expect("the card's banner shows");
    let card = card.as_str().expect("text");
    assert!(card.starts_with("no_workers No detection: no workers.") && card.contains("nvt-worker"), "{card}");
    let top = page.wait_for(TOP_BANNER, Duration::from_secs(10)).await.expect("the page's banner shows");
    assert!(top.as_str().expect("text").starts_with("no_workers "), "{top}");

    // A worker joins: detection is back, and the banners go.
    let _worker = spawn("nvt-worker", &["--nats", &url, "--model", &shapes(), "--threads", "1", "--workers", "1"]);
    let ok = |c: &Value| c[0]["detection"]["state"] == "ok";
    let clients = wait_json(http, "/api/clients", Duration::from_secs(45), ok).await;
    assert_eq!(clients[0]["detection"]["reason"], "", "{clients}");
    assert_eq!(json(http, "/api/status").await["detection"]["state"], "ok");
    let gone = format!("!{CARD_BANNER} && !{TOP_BANNER} && document.querySelectorAll('#clients .card').length === 1");
    assert!(page.wait_for(&gone, Duration::from_secs(10)).await.is_some(), "the banners went");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_model_says_it_has_none() {
    let dir = temp_dir("state-no-model");
    let (_server, _client, http) = server_and_client(&[]);
    let no_model = |c: &Value| c.as_array().is_some_and(|c| !c.is_empty());
    let clients = wait_json(http, "/api/clients", Duration::from_secs(15), no_model).await;
    assert_eq!(clients[0]["detection"]["state"], "no_model", "{clients}");
    let reason = clients[0]["detection"]["reason"].as_str().expect("reason");
    assert!(reason.contains("--model") && reason.contains("--nats"), "says what to do: {reason}");
    assert_eq!(json(http, "/api/status").await["detection"]["state"], "no_model");
    let browser = Browser::launch(&dir, &[]);
    let mut page = browser.open(&format!("http://{http}/")).await;
    let card = page.wait_for(CARD_BANNER, Duration::from_secs(15)).await.expect("the card's banner shows");
    assert!(card.as_str().expect("text").starts_with("no_model No detection: no model."), "{card}");
}
