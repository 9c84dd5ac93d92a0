//! MQTT against a real broker: Debian's mosquitto, started by each test on a free loopback port
//! with its own folder, and a real MQTT client subscribed to it. nvt-server runs as its own
//! process, so that it can be stopped cleanly or killed.

use nvt_tests::broker::{events, Message, Mosquitto, Subscriber};
use nvt_tests::harness::{binary, free_port, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn shapes_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx").display().to_string()
}

/// nvt-server with the shapes model, publishing to `broker`; returns it and its address.
fn server(broker: &Mosquitto, dir: &Path, extra: &[&str]) -> (ChildGuard, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let events = dir.join("events.jsonl").display().to_string();
    let model = shapes_model();
    let mut args = vec!["--listen", &listen, "--model", &model, "--mqtt", &*Box::leak(broker.url().into_boxed_str())];
    args.extend(["--events", &*Box::leak(events.into_boxed_str()), "--stats-every", "500ms", "--workers", "1"]);
    args.extend(extra);
    let child = spawn("nvt-server", &args);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    (child, listen)
}

/// Streams the synthetic scene for `frames` frames at `fps`.
fn stream(listen: &str, fps: u32, frames: u32) {
    let status = std::process::Command::new(binary("nvt-client"))
        .args(["--connect", listen, "--source", "synthetic", "--fps", &fps.to_string()])
        .args(["--frames", &frames.to_string(), "--duration", "60s"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("client");
    assert!(status.success());
}

fn sigterm(child: &mut ChildGuard) {
    let ok = std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().expect("kill");
    assert!(ok.success());
    wait_exit(child, Duration::from_secs(15));
}

/// The payloads of `topic`, as text, in order.
fn texts(messages: &[Message], topic: &str) -> Vec<String> {
    messages.iter().filter(|m| m.topic == topic).map(Message::text).collect()
}

/// Each event's (type, id, frame time) in the order of first arrival: QoS 1 may deliver one
/// twice (a broker restored from its store delivers again what it had not seen acknowledged).
fn sequence(events: &[Value]) -> Vec<(String, String, String)> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .map(|e| {
            let after = &e["after"];
            (
                e["type"].as_str().expect("type").to_owned(),
                after["id"].as_str().expect("id").to_owned(),
                after["frame_time"].to_string(),
            )
        })
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

#[test]
fn the_synthetic_scene_publishes_events_counts_snapshots_stats_and_discovery() {
    let dir = temp_dir("mqtt-topics");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/#", "homeassistant/#"]);
    let (mut server, listen) = server(&broker, &dir, &["--mqtt-labels", "person"]);
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/available").contains(&"online".into())));
    stream(&listen, 10, 40);
    // The client has gone: its objects end, its counts drop to zero.
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| events(m, "nvt")
        .iter()
        .filter(|e| e["type"] == "end")
        .count()
        == 3));
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/stats").len() >= 2));
    sigterm(&mut server);
    assert!(
        subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/available").last() == Some(&"offline".into()))
    );
    let messages = subscriber.messages();

    // Events: one new and one end per shape, the same as the events file, in order.
    let published = events(&messages, "nvt");
    let written = read_jsonl(&dir.join("events.jsonl"));
    assert_eq!(sequence(&published), sequence(&written));
    let mut lives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &published {
        lives
            .entry(e["after"]["label"].as_str().expect("label").to_owned())
            .or_default()
            .push(e["type"].as_str().expect("type").into());
    }
    assert_eq!(lives.len(), 3, "{lives:?}");
    for (label, kinds) in &lives {
        assert_eq!(kinds.iter().filter(|k| *k == "new").count(), 1, "{label}: {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "end").count(), 1, "{label}: {kinds:?}");
    }

    // Counts: each shape's topic (a slug of its label) goes to 1 while in view and back to 0.
    for label in ["red_square", "green_circle", "blue_triangle"] {
        let counts = texts(&messages, &format!("nvt/127.0.0.1/{label}"));
        assert_eq!(counts.first().map(String::as_str), Some("1"), "{label}: {counts:?}");
        assert_eq!(counts.last().map(String::as_str), Some("0"), "{label}: {counts:?}");
    }
    let all = texts(&messages, "nvt/127.0.0.1/all");
    assert!(all.contains(&"3".to_owned()), "{all:?}");
    assert_eq!(all.last().map(String::as_str), Some("0"));

    // Snapshots: a JPEG per label, the best frame of its latest event.
    for label in ["red_square", "green_circle", "blue_triangle"] {
        let snapshot =
            messages.iter().rev().find(|m| m.topic == format!("nvt/127.0.0.1/{label}/snapshot")).expect("snapshot");
        assert_eq!(nvt_capture::jpeg::dimensions(&snapshot.payload).expect("JPEG"), (640, 480));
    }

    // Stats, as JSON.
    let stats = messages.iter().find(|m| m.topic == "nvt/stats").expect("stats").json();
    assert!(stats["fps_processed"].is_number() && stats["clients"].is_number(), "{stats}");

    // Home Assistant discovery: a count sensor and an occupancy binary sensor per label seen,
    // and for the --mqtt-labels one too, reading the count topic, with nvt's availability.
    for label in ["red_square", "green_circle", "blue_triangle", "person"] {
        let object = format!("nvt_127_0_0_1_{label}");
        for (kind, suffix) in [("sensor", "count"), ("binary_sensor", "occupancy")] {
            let topic = format!("homeassistant/{kind}/{object}_{suffix}/config");
            let config = messages.iter().find(|m| m.topic == topic).unwrap_or_else(|| panic!("no {topic}")).json();
            assert_eq!(config["state_topic"], format!("nvt/127.0.0.1/{label}"));
            assert_eq!(config["availability_topic"], "nvt/available");
            assert_eq!(config["unique_id"], format!("{object}_{suffix}"));
        }
    }

    // Retained: a client arriving now is told the state at once.
    let late = Subscriber::start(broker.addr, &["nvt/available", "nvt/127.0.0.1/all", "homeassistant/#"]);
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .any(|m| m.retain && m.topic == "nvt/available" && m.text() == "offline")));
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .any(|m| m.retain && m.topic == "nvt/127.0.0.1/all" && m.text() == "0")));
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .filter(|m| m.retain && m.topic.starts_with("homeassistant/"))
        .count()
        == 8));
}

#[test]
fn a_broker_restart_loses_no_buffered_event_and_keeps_their_order() {
    let dir = temp_dir("mqtt-restart");
    let mut broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/events"]);
    // The broker saves the subscriber's session every second: let it.
    std::thread::sleep(Duration::from_millis(1500));
    let (mut server, listen) = server(&broker, &dir, &["--http", &free_port().to_string()]);
    stream(&listen, 10, 20);
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| events(m, "nvt").len() >= 6));

    // SIGKILL: no goodbye. While it is down, two cameras come and go: 12 events wait in nvt.
    broker.kill();
    stream(&listen, 10, 20);
    stream(&listen, 10, 20);
    let during = read_jsonl(&dir.join("events.jsonl")).len();
    broker.restart();
    stream(&listen, 10, 20);
    let written = || read_jsonl(&dir.join("events.jsonl"));
    let arrived =
        subscriber.wait_until(Duration::from_secs(30), |m| sequence(&events(m, "nvt")) == sequence(&written()));
    let got = sequence(&events(&subscriber.messages(), "nvt"));
    let want = sequence(&written());
    assert!(arrived, "events lost or out of order: got {} of {}\ngot  {got:?}\nwant {want:?}", got.len(), want.len());
    assert!(during >= 18, "events were made while the broker was down: {during}");
    sigterm(&mut server);
}

#[test]
fn the_will_says_offline_when_the_server_is_killed() {
    let dir = temp_dir("mqtt-will");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/available"]);
    let (mut server, _) = server(&broker, &dir, &[]);
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/available") == ["online"]));
    server.0.kill().expect("SIGKILL");
    let _ = server.0.wait();
    // The broker notices the dead connection (at once, as the socket closes) and sends the will.
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| texts(m, "nvt/available") == ["online", "offline"]),
        "{:?}",
        texts(&subscriber.messages(), "nvt/available")
    );
}

#[test]
fn detection_goes_on_while_the_broker_is_unreachable() {
    // No broker at all: the server starts, serves and logs; MQTT retries in the background.
    let dir = temp_dir("mqtt-none");
    let port = free_port();
    let listen = format!("127.0.0.1:{}", free_port());
    let model = shapes_model();
    let log = dir.join("log.jsonl").display().to_string();
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut server = spawn("nvt-server", &["--listen", &listen, "--model", &model, "--mqtt", &url, "--log", &log]);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    stream(&listen, 10, 20);
    sigterm(&mut server);
    assert!(read_jsonl(&dir.join("log.jsonl")).len() >= 10);
}

#[test]
fn mqtts_with_a_password_file_publishes_and_a_wrong_password_is_refused() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = temp_dir("mqtt-tls");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let ca_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf");
    let (ca_pem, cert, key) =
        (write("ca.pem", ca.pem()), write("server.pem", leaf.pem()), write("server.key", leaf_key.serialize_pem()));
    let passwd = dir.join("passwd").display().to_string();
    nvt_tests::harness::require("mosquitto_passwd", "-h", "mosquitto");
    let made = std::process::Command::new("mosquitto_passwd").args(["-b", "-c", &passwd, "nvt", "s3cret"]).status();
    assert!(made.expect("mosquitto_passwd").success());
    let tls_port = free_port();
    let extra = format!(
        "listener {tls_port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\ncafile {ca_pem}\ncertfile {cert}\nkeyfile {key}\n"
    );
    let broker = Mosquitto::start(&dir.join("broker"), &extra);
    wait_for_port(([127, 0, 0, 1], tls_port).into(), Duration::from_secs(10));
    let subscriber = Subscriber::start(broker.addr, &["tls/#"]);
    let url = format!("mqtts://localhost:{tls_port}");
    let run = |password: &str, prefix: &str| {
        let creds = write(&format!("creds-{password}"), format!("nvt\n{password}\n"));
        let listen = format!("127.0.0.1:{}", free_port());
        let model = shapes_model();
        let server = spawn(
            "nvt-server",
            &[
                "--listen",
                &listen,
                "--model",
                &model,
                "--mqtt",
                &url,
                "--mqtt-ca",
                &ca_pem,
                "--mqtt-credentials",
                &creds,
                "--mqtt-prefix",
                prefix,
            ],
        );
        wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
        stream(&listen, 10, 20);
        (server, listen)
    };
    let (mut good, _) = run("s3cret", "tls/good");
    assert!(subscriber.wait_until(Duration::from_secs(15), |m| events(m, "tls/good")
        .iter()
        .filter(|e| e["type"] == "end")
        .count()
        == 3));
    assert!(texts(&subscriber.messages(), "tls/good/available").contains(&"online".to_owned()));
    sigterm(&mut good);
    let (mut bad, _) = run("wrong", "tls/bad");
    sigterm(&mut bad);
    assert!(
        subscriber.messages().iter().all(|m| !m.topic.starts_with("tls/bad")),
        "a wrong password publishes nothing"
    );
}
