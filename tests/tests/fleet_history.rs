//! The fleet's history: a server's events go to the JetStream stream `NVT_EVENTS` on a real
//! nats-server; `nvt-fleet history` keeps them in a real PostgreSQL and serves `/api/events`;
//! killed with SIGKILL while events keep coming, it reads on from where it was once restarted,
//! losing none and writing none twice; a message on the stream that is not an event is skipped.
//! Its `--http` keeps the web view's doors (Host, Origin, the token) and serves no clip, since the
//! fleet's store keeps none.

use nvt_capture::SourceSpec;
use nvt_detect::{Detector, DetectorOptions};
use nvt_events::hub::Outputs;
use nvt_events::{EventSettings, Hub};
use nvt_history::store::Mode;
use nvt_history::{Location, Query, Store};
use nvt_support::JsonLines;
use nvt_tests::harness::{free_port, http_get, read_jsonl, spawn, temp_dir, wait_for_port, ChildGuard, TestServer};
use nvt_tests::nats::NatsServer;
use nvt_tests::postgres::Postgres;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `nvt-fleet history` on `nats`, keeping its events in `db`, serving them on `web`.
fn history(nats: &NatsServer, db: &str, web: std::net::SocketAddr) -> ChildGuard {
    history_with(nats, db, web, &[])
}

/// The same, with more flags.
fn history_with(nats: &NatsServer, db: &str, web: std::net::SocketAddr, extra: &[&str]) -> ChildGuard {
    let (url, http) = (nats.url(), web.to_string());
    let mut args = vec!["history", "--nats", &url, "--db", db, "--http", &http];
    args.extend_from_slice(extra);
    let child = spawn("nvt-fleet", &args);
    wait_for_port(web, Duration::from_secs(30));
    child
}

/// One raw HTTP/1.1 GET with these headers: the status, the head (lower case), the body.
fn get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
    nvt_tests::harness::raw_http(addr, &request, Duration::from_secs(5))
}

/// Streams `frames` synthetic frames through an in-process server (the shapes model) whose
/// events go to the stream, and to `log`.
async fn camera_session(nats: &NatsServer, log: &Path, frames: u64) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx");
    let detector = Detector::load(&model, DetectorOptions::default()).expect("model");
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let outputs = Outputs {
        log: Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("events log"))),
        snapshots: None,
        mqtt: None,
        others: vec![Box::new(nvt_fleet::stream::EventStream::start(client.clone()))],
    };
    let config = nvt_server::Config {
        detectors: vec![detector],
        events: Arc::new(Hub::new(EventSettings::default(), outputs, false)),
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let mut camera = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    camera.fps = Some(15.0);
    camera.frames = Some(frames);
    camera.duration = Some(Duration::from_secs(60));
    nvt_client::run(camera, CancellationToken::new()).await.expect("client");
    server.stop().await;
    client.flush().await.expect("flush");
}

/// Each object's latest event in the server's log: id -> (label, end_time).
fn logged(log: &Path) -> BTreeMap<String, (String, Option<f64>)> {
    read_jsonl(log)
        .iter()
        .map(|e| {
            let after = &e["after"];
            let id = after["id"].as_str().expect("id").to_owned();
            (id, (after["label"].as_str().expect("label").to_owned(), after["end_time"].as_f64()))
        })
        .collect()
}

/// `/api/events` until it lists `count` ended events (or 30 s pass).
async fn listed(web: std::net::SocketAddr, count: usize) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = http_get(web, "/api/events?in_progress=0", Duration::from_secs(2)).await;
        let events: Vec<Value> = if status == 200 { serde_json::from_slice(&body).expect("JSON") } else { Vec::new() };
        if events.len() >= count || Instant::now() > until {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_history_keeps_every_event_once_in_postgresql_across_a_sigkill() {
    let dir = temp_dir("fleet-history");
    let nats = NatsServer::start(&dir.join("nats"), 1 << 20);
    let postgres = Postgres::start(&dir.join("postgres"));
    let web: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.join("events.jsonl");

    let keeper = history(&nats, &postgres.url(), web);
    camera_session(&nats, &log, 30).await;
    let first = logged(&log);
    assert_eq!(first.len(), 2, "one object per true positive: {first:?}");
    let events = listed(web, first.len()).await;
    assert_eq!(events.len(), first.len(), "{events:?}");

    // Something on the stream that is not an event is skipped, and holds nothing up.
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    for junk in [&b"not json"[..], b"{\"type\": \"new\"}", b"[]"] {
        jetstream.publish("nvt.events.junk", junk.to_vec().into()).await.expect("publish").await.expect("ack");
    }
    // Killed; events keep coming meanwhile; restarted, it reads on.
    drop(keeper);
    camera_session(&nats, &log, 30).await;
    let all = logged(&log);
    assert_eq!(all.len(), 4, "{all:?}");
    let keeper = history(&nats, &postgres.url(), web);
    let events = listed(web, all.len()).await;
    let got: BTreeMap<String, (String, Option<f64>)> = events
        .iter()
        .map(|e| {
            let id = e["id"].as_str().expect("id").to_owned();
            (id, (e["label"].as_str().expect("label").to_owned(), e["end_time"].as_f64()))
        })
        .collect();
    assert_eq!(got, all, "every event the servers made, as they left it, once");
    let starts: Vec<f64> = events.iter().map(|e| e["start_time"].as_f64().expect("start")).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first: {starts:?}");
    let (status, _, body) = http_get(web, "/api/events?label=red%20square", Duration::from_secs(2)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&body).expect("JSON").len(), 2);
    let (status, _, _) = http_get(web, "/api/events?before=soon", Duration::from_secs(2)).await;
    assert_eq!(status, 400);
    drop(keeper);
    // The same rows in PostgreSQL itself.
    let store = Store::open(&Location::Postgres(postgres.url()), Mode::Read).await.expect("store");
    let rows = store.query(&Query::default()).await.expect("query");
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| all.get(&r.id).is_some_and(|(label, end)| &r.label == label && &r.end_time == end)));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_history_keeps_the_web_views_doors_and_serves_no_clip() {
    let dir = temp_dir("fleet-history-doors");
    let nats = NatsServer::start(&dir.join("nats"), 1 << 20);
    let web: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let db = dir.join("fleet.db");
    let token = dir.join("token");
    std::fs::write(&token, "fleet-s3cret\n").expect("token");
    // A token a URL or a cookie cannot carry is refused at the start, naming the rule.
    std::fs::write(dir.join("bad-token"), "a+b/c=\n").expect("token");
    let (url, bad) = (nats.url(), dir.join("bad-token"));
    let refused = std::process::Command::new(nvt_tests::harness::binary("nvt-fleet"))
        .args(["history", "--nats", &url, "--db", db.to_str().expect("utf8"), "--http", &web.to_string()])
        .args(["--http-token-file", bad.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("letters, digits"), "{refused:?}");

    let flags = ["--http-token-file", token.to_str().expect("utf8"), "--http-host", "fleet-box.lan"];
    let keeper = history_with(&nats, db.to_str().expect("utf8"), web, &flags);
    camera_session(&nats, &dir.join("events.jsonl"), 30).await;
    let (host, bearer) = (format!("Host: {web}\r\n"), "Authorization: Bearer fleet-s3cret\r\n");
    let with_token = format!("{host}{bearer}");
    let until = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let (status, head, body) = get(web, "/api/events", &with_token);
        assert_eq!(status, 200, "{head}{body}");
        assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
        assert!(head.contains("x-frame-options: deny"), "{head}");
        let events: Vec<Value> = serde_json::from_str(&body).expect("JSON");
        if events.len() >= 2 || Instant::now() > until {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(events.len(), 2, "{events:?}");

    // A page under another name (DNS rebinding) is misdirected; another site's page is refused.
    let (status, _, body) = get(web, "/api/events", &format!("Host: rebind.example:{}\r\n{bearer}", web.port()));
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("--http-host rebind.example"), "the 421 names the flag that allows the name: {body}");
    let named = format!("Host: fleet-box.lan:{}\r\n{bearer}", web.port());
    assert_eq!(get(web, "/api/events", &named).0, 200, "a name given with --http-host");
    assert_eq!(get(web, "/api/events", &format!("{with_token}Origin: http://evil.example\r\n")).0, 403);
    let embedded = format!("{with_token}Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n");
    assert_eq!(get(web, "/api/events", &embedded).0, 403);
    assert_eq!(get(web, "/api/events", &format!("{with_token}Origin: http://{web}\r\n")).0, 200);
    // Without the token, or with a wrong one, nothing; with it in a cookie, the same answer.
    let (status, _, body) = get(web, "/api/events", &host);
    assert_eq!(status, 401);
    assert!(body.contains("--http-token-file"), "the 401 says how: {body}");
    assert_eq!(get(web, "/api/events", &format!("{host}Authorization: Bearer fleet-s3creu\r\n")).0, 401);
    let id = events[0]["id"].as_str().expect("id");
    assert_eq!(get(web, &format!("/api/events/{id}"), &host).0, 401);
    assert_eq!(get(web, &format!("/api/events/{id}"), &format!("{host}Cookie: nvt_token=fleet-s3cret\r\n")).0, 200);

    // The fleet's store keeps no clips, thumbnails or snapshots: no event says it has a clip,
    // and there is no clip to ask for.
    assert!(events.iter().all(|e| e["has_clip"] == false), "{events:?}");
    let (status, _, body) = get(web, "/api/events?has_clip=1", &with_token);
    assert_eq!((status, body.trim()), (200, "[]"));
    for file in ["clip.avi", "thumbnail.jpg", "snapshot.jpg"] {
        assert_eq!(get(web, &format!("/api/events/{id}/{file}"), &with_token).0, 404, "{file}");
    }
    drop(keeper);
}
