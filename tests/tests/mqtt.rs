//! MQTT against a real broker: Debian's mosquitto, started by each test on a free loopback port
//! with its own folder, and a real MQTT client subscribed to it. nvt-server runs as its own
//! process, so that it can be stopped cleanly or killed.

use nvt_tests::broker::{events, publish_retained, Message, Mosquitto, Subscriber};
use nvt_tests::harness::{
    binary, free_port, http_get, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard,
};
use nvt_tests::schema::{assert_frigate_events, Schema};
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
        == 2));
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/stats").len() >= 2));
    sigterm(&mut server);
    assert!(
        subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/available").last() == Some(&"offline".into()))
    );
    let messages = subscriber.messages();

    // Events: in Frigate's shape, one new and one end per true positive shape, the same as the
    // events file, in order; the blue triangle (median score 0.53) is a false positive: nothing.
    let published = events(&messages, "nvt");
    assert_frigate_events(&published);
    let written = read_jsonl(&dir.join("events.jsonl"));
    assert_eq!(sequence(&published), sequence(&written));
    let mut lives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &published {
        lives
            .entry(e["after"]["label"].as_str().expect("label").to_owned())
            .or_default()
            .push(e["type"].as_str().expect("type").into());
    }
    assert_eq!(lives.keys().collect::<Vec<_>>(), ["green circle", "red square"], "{lives:?}");
    for (label, kinds) in &lives {
        assert_eq!(kinds.iter().filter(|k| *k == "new").count(), 1, "{label}: {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "end").count(), 1, "{label}: {kinds:?}");
    }
    assert!(messages.iter().all(|m| !m.topic.contains("blue_triangle")), "a false positive is not counted either");

    // Counts: each shape's topic (its label's slug) goes to 1 while in view and back to 0.
    for label in ["red_square", "green_circle"] {
        let counts = texts(&messages, &format!("nvt/127_0_0_1/{label}"));
        assert!(counts.contains(&"1".to_owned()), "{label}: {counts:?}");
        assert_eq!(counts.last().map(String::as_str), Some("0"), "{label}: {counts:?}");
    }
    let all = texts(&messages, "nvt/127_0_0_1/all");
    assert!(all.contains(&"2".to_owned()), "{all:?}");
    assert_eq!(all.last().map(String::as_str), Some("0"));
    // The camera's own availability: online while it streamed, offline once it left.
    assert_eq!(texts(&messages, "nvt/127_0_0_1/available"), ["online", "offline"]);

    // Snapshots as Frigate sends them: the object cropped (a 300-pixel square around it here),
    // 270 pixels high.
    for label in ["red_square", "green_circle"] {
        let snapshot =
            messages.iter().rev().find(|m| m.topic == format!("nvt/127_0_0_1/{label}/snapshot")).expect("snapshot");
        assert_eq!(nvt_capture::jpeg::dimensions(&snapshot.payload).expect("JPEG"), (270, 270));
    }

    // Stats, as JSON, with what the stats sensors read.
    let stats = messages.iter().find(|m| m.topic == "nvt/stats").expect("stats").json();
    for key in ["fps_in", "fps_processed", "latency_ms", "detector_busy", "clients"] {
        assert!(stats[key].is_number(), "{key}: {stats}");
    }

    // Home Assistant discovery: every config valid for its platform; per label seen (and the
    // --mqtt-labels one) a count, an occupancy and an image; per camera all labels' count and
    // occupancy and an event entity; the server's stats sensors.
    let configs = discovery(&messages);
    let mut objects: Vec<&str> = configs.keys().map(|t| t.split('/').nth(3).expect("object id")).collect();
    objects.sort_unstable();
    let mut expected = vec!["127_0_0_1-all-count", "127_0_0_1-all-occupancy", "127_0_0_1-events"];
    for label in ["green_circle", "person", "red_square"] {
        for kind in ["count", "occupancy", "snapshot"] {
            expected.push(Box::leak(format!("127_0_0_1-{label}-{kind}").into_boxed_str()));
        }
    }
    expected.extend([
        "stats_clients",
        "stats_detector_busy",
        "stats_fps_in",
        "stats_fps_processed",
        "stats_latency_ms",
    ]);
    expected.sort_unstable();
    assert_eq!(objects, expected);
    let count = &configs["homeassistant/sensor/nvt/127_0_0_1-red_square-count/config"];
    assert_eq!(count["state_topic"], "nvt/127_0_0_1/red_square");
    assert_eq!(count["name"], "Red Square count");
    assert_eq!(count["availability"][1]["topic"], "nvt/127_0_0_1/available");
    let image = &configs["homeassistant/image/nvt/127_0_0_1-red_square-snapshot/config"];
    assert_eq!(image["image_topic"], "nvt/127_0_0_1/red_square/snapshot");

    // Retained: a client arriving now is told the state at once.
    let late = Subscriber::start(broker.addr, &["nvt/available", "nvt/127_0_0_1/all", "homeassistant/#"]);
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .any(|m| m.retain && m.topic == "nvt/available" && m.text() == "offline")));
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .any(|m| m.retain && m.topic == "nvt/127_0_0_1/all" && m.text() == "0")));
    assert!(late.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .filter(|m| m.retain && m.topic.starts_with("homeassistant/"))
        .count()
        == expected.len()));
}

/// The discovery configs published, the latest per topic (removed ones left out), each checked
/// against Home Assistant's schema for its platform.
fn discovery(messages: &[Message]) -> BTreeMap<String, Value> {
    let schema = Schema::load("home-assistant-discovery");
    let mut configs = BTreeMap::new();
    for m in messages.iter().filter(|m| m.topic.starts_with("homeassistant/")) {
        if m.payload.is_empty() {
            configs.remove(&m.topic);
            continue;
        }
        let platform = m.topic.split('/').nth(1).expect("platform");
        let config = m.json();
        schema.assert_valid(Some(platform), &config, &m.topic);
        assert!(config.get("object_id").is_none(), "no object_id (deprecated in 2025.10): {}", m.topic);
        configs.insert(m.topic.clone(), config);
    }
    configs
}

/// A client streaming the synthetic scene until stopped.
fn stream_on(listen: &str, name: Option<&str>, token: Option<&Path>) -> ChildGuard {
    let mut args = vec!["--connect", listen, "--source", "synthetic", "--fps", "10"];
    if let (Some(name), Some(token)) = (name, token) {
        args.extend(["--name", name, "--token-file", &*Box::leak(token.display().to_string().into_boxed_str())]);
    }
    spawn("nvt-client", &args)
}

/// The latest retained payload of each topic a fresh subscriber to `filters` is given.
fn retained(broker: &Mosquitto, filters: &[&str]) -> BTreeMap<String, String> {
    let late = Subscriber::start(broker.addr, filters);
    // Retained messages come right after the subscription; a moment more lets them all arrive.
    std::thread::sleep(Duration::from_millis(700));
    late.messages().into_iter().filter(|m| m.retain).map(|m| (m.topic.clone(), m.text())).collect()
}

#[test]
fn a_killed_servers_counts_are_cleared_at_start_up_and_a_gone_cameras_topics_removed_later() {
    let dir = temp_dir("mqtt-stale");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/#", "homeassistant/#"]);
    let (mut first, listen) = server(&broker, &dir, &["--mqtt-forget", "3s"]);
    let mut client = stream_on(&listen, None, None);
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| texts(m, "nvt/127_0_0_1/red_square").last()
            == Some(&"1".to_owned())),
        "an object in view"
    );
    // SIGKILL with the object in view: the broker keeps the counts, as retained.
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    drop(client.0.kill());
    let _ = client.0.wait();
    let stale = retained(&broker, &["nvt/#"]);
    assert_eq!(stale.get("nvt/127_0_0_1/red_square").map(String::as_str), Some("1"), "{stale:?}");

    // Started again with no camera: every count reads 0, the camera is offline.
    let (mut second, _) = server(&broker, &dir, &["--mqtt-forget", "3s"]);
    assert!(subscriber
        .wait_until(Duration::from_secs(10), |m| texts(m, "nvt/127_0_0_1/red_square").last() == Some(&"0".to_owned())));
    // ... and `online` comes only after that: Home Assistant never reads a stale count while
    // the server says it is there.
    let messages = subscriber.messages();
    let at = |topic: &str, text: &str| messages.iter().rposition(|m| m.topic == topic && m.text() == text);
    let (zeroed, online) = (at("nvt/127_0_0_1/red_square", "0"), at("nvt/available", "online"));
    assert!(zeroed.is_some() && online > zeroed, "online at {online:?}, the stale count cleared at {zeroed:?}");
    let now = retained(&broker, &["nvt/#"]);
    for (topic, value) in now.iter().filter(|(t, _)| t.starts_with("nvt/127_0_0_1/") && !t.ends_with("/snapshot")) {
        let want = if topic.ends_with("/available") { "offline" } else { "0" };
        assert_eq!(value, want, "{topic}");
    }
    assert!(now.contains_key("nvt/127_0_0_1/all"));
    // Not named with --camera and gone: after --mqtt-forget, nothing of it is left at the broker.
    std::thread::sleep(Duration::from_secs(4));
    let left = retained(&broker, &["nvt/#", "homeassistant/#"]);
    let leftovers: Vec<&String> = left.keys().filter(|t| t.contains("127_0_0_1")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(left.contains_key("homeassistant/sensor/nvt/stats_fps_in/config"), "the server's own entities stay");
    sigterm(&mut second);
}

#[test]
fn the_start_up_scan_never_touches_retained_topics_nvt_did_not_write() {
    // Frigate's own retained topics under the prefix nvt is given (`--mqtt-prefix frigate`),
    // shaped like nvt's counts, availability, snapshots and discovery configs.
    let dir = temp_dir("mqtt-foreign");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let foreign: [(&str, &[u8]); 6] = [
        ("frigate/front/person", b"2"),
        ("frigate/front/all", b"3"),
        ("frigate/front/available", b"online"),
        ("frigate/front/person/snapshot", b"\xff\xd8 a picture"),
        ("frigate/127_0_0_1/car", b"1"),
        ("homeassistant/sensor/frigate/front-person-count/config", b"{\"name\":\"theirs\"}"),
    ];
    publish_retained(broker.addr, &foreign);
    let subscriber = Subscriber::start(broker.addr, &["frigate/available"]);
    let (mut first, listen) = server(&broker, &dir, &["--mqtt-prefix", "frigate", "--mqtt-forget", "1s"]);
    assert!(subscriber.wait_until(Duration::from_secs(20), |m| texts(m, "frigate/available") == ["online"]));
    // A camera of nvt's own comes and goes, and is forgotten after --mqtt-forget.
    stream(&listen, 10, 20);
    std::thread::sleep(Duration::from_secs(3));
    let check = |when: &str| {
        let now = retained(&broker, &["frigate/#", "homeassistant/#"]);
        for (topic, payload) in foreign {
            let want = String::from_utf8_lossy(payload).into_owned();
            assert_eq!(now.get(topic), Some(&want), "{when}: {topic} changed or removed");
        }
    };
    check("after the scan and --mqtt-forget");
    sigterm(&mut first);
    check("after a clean stop");
    // A second run finds the first's manifest, and still only its own topics.
    let (mut again, _) = server(&broker, &dir, &["--mqtt-prefix", "frigate", "--mqtt-forget", "1s"]);
    assert!(subscriber
        .wait_until(Duration::from_secs(20), |m| texts(m, "frigate/available").last() == Some(&"online".to_owned())
            && texts(m, "frigate/available").len() >= 3));
    std::thread::sleep(Duration::from_secs(2));
    check("after a second run's scan");
    sigterm(&mut again);
}

#[test]
fn a_camera_is_unavailable_while_away_and_a_camera_named_with_the_flag_keeps_its_entities() {
    let dir = temp_dir("mqtt-availability");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/#", "homeassistant/#"]);
    let (mut server, listen) = server(&broker, &dir, &["--camera", "door=127.0.0.1", "--mqtt-forget", "1s"]);
    // Announced from the start, unavailable until it comes.
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| texts(m, "nvt/door/available") == ["offline"]));
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| m
        .iter()
        .any(|m| m.topic == "homeassistant/sensor/nvt/door-all-count/config")));
    for round in 0..2 {
        let mut client = stream_on(&listen, None, None);
        let online = round + 1;
        assert!(
            subscriber.wait_until(Duration::from_secs(20), |m| texts(m, "nvt/door/available")
                .iter()
                .filter(|t| *t == "online")
                .count()
                == online),
            "online when it connects"
        );
        drop(client.0.kill());
        let _ = client.0.wait();
        assert!(
            subscriber.wait_until(Duration::from_secs(20), |m| texts(m, "nvt/door/available").last()
                == Some(&"offline".to_owned())),
            "offline when it leaves"
        );
    }
    // Gone for longer than --mqtt-forget: a --camera camera keeps its entities (unavailable).
    std::thread::sleep(Duration::from_secs(2));
    let kept = retained(&broker, &["nvt/door/#", "homeassistant/#"]);
    assert_eq!(kept.get("nvt/door/available").map(String::as_str), Some("offline"));
    assert!(kept.contains_key("homeassistant/binary_sensor/nvt/door-all-occupancy/config"), "{kept:?}");
    discovery(&subscriber.messages());
    sigterm(&mut server);
}

#[test]
fn labels_and_cameras_that_would_share_a_topic_are_kept_apart() {
    // Two of the shapes' labels renamed so that they make the same plain slug.
    let dir = temp_dir("mqtt-collisions");
    let labels = dir.join("labels.txt");
    std::fs::write(&labels, "red square\nRed-Square\nblue triangle\n").expect("labels");
    let token = dir.join("token");
    std::fs::write(&token, "t0ken\n").expect("token");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/#", "homeassistant/#"]);
    let extra = ["--labels", labels.to_str().expect("utf8"), "--token-file", token.to_str().expect("utf8")];
    let (mut server, listen) = server(&broker, &dir, &extra);
    // Two cameras whose names differ only in '-' and '_' (a NATS subject and an entity id
    // would once have merged them).
    let mut a = stream_on(&listen, Some("front-door"), Some(&token));
    let mut b = stream_on(&listen, Some("front_door"), Some(&token));
    let red = slug_of("Red-Square");
    let seen = |m: &[Message], camera: &str| {
        texts(m, &format!("nvt/{camera}/red_square")).contains(&"1".to_owned())
            && texts(m, &format!("nvt/{camera}/{red}")).contains(&"1".to_owned())
    };
    assert!(
        subscriber.wait_until(Duration::from_secs(30), |m| seen(m, "front-door") && seen(m, "front_door")),
        "each label has its own count topic on each camera"
    );
    for child in [&mut a, &mut b] {
        drop(child.0.kill());
        let _ = child.0.wait();
    }
    sigterm(&mut server);
    let configs = discovery(&subscriber.messages());
    let unique: std::collections::BTreeSet<&str> =
        configs.values().map(|c| c["unique_id"].as_str().expect("id")).collect();
    assert_eq!(unique.len(), configs.len(), "every entity its own unique id");
    for camera in ["front-door", "front_door"] {
        for level in ["red_square", red.as_str()] {
            let topic = format!("homeassistant/sensor/nvt/{camera}-{level}-count/config");
            assert_eq!(configs[&topic]["state_topic"], format!("nvt/{camera}/{level}"), "{topic}");
        }
    }
    let published = events(&subscriber.messages(), "nvt");
    assert_frigate_events(&published);
    let labels: std::collections::BTreeSet<&str> =
        published.iter().map(|e| e["after"]["label"].as_str().expect("label")).collect();
    assert!(labels.contains("red square") && labels.contains("Red-Square"), "{labels:?}");
}

fn slug_of(label: &str) -> String {
    nvt_events::mqtt::slug(label)
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
    assert!(subscriber.wait_until(Duration::from_secs(10), |m| events(m, "nvt").len() >= 4));

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
    assert!(during >= 12, "events were made while the broker was down: {during}");
    sigterm(&mut server);
}

#[test]
fn a_snapshot_past_the_brokers_packet_limit_is_shrunk_and_blocks_nothing() {
    // mosquitto drops the connection of a client that sends a packet past max_packet_size; the
    // snapshots (2000 pixels high, quality 100, the whole frame: about 2 MB) are far larger, the
    // events are not.
    const LIMIT: usize = 40_000;
    let dir = temp_dir("mqtt-packet-limit");
    let broker = Mosquitto::start(&dir.join("broker"), &format!("max_packet_size {LIMIT}\n"));
    let subscriber = Subscriber::start(broker.addr, &["nvt/#"]);
    let http = free_port();
    let big = ["--mqtt-snapshot-height", "2000", "--mqtt-snapshot-quality", "100", "--mqtt-snapshot-no-crop"];
    let (mut server, listen) = server(&broker, &dir, &[&["--http", &http.to_string()][..], &big[..]].concat());
    stream(&listen, 10, 30);
    let written = || read_jsonl(&dir.join("events.jsonl"));
    let arrived = subscriber.wait_until(Duration::from_secs(30), |m| {
        !written().is_empty() && sequence(&events(m, "nvt")) == sequence(&written())
    });
    let got = sequence(&events(&subscriber.messages(), "nvt"));
    assert!(arrived, "events held back: {} of {} arrived", got.len(), written().len());
    // The snapshots that came are under the limit, and pictures still.
    let snapshots: Vec<Message> =
        subscriber.messages().into_iter().filter(|m| m.topic.ends_with("/snapshot")).collect();
    assert!(!snapshots.is_empty(), "shrunk, not dropped");
    for m in &snapshots {
        assert!(
            m.payload.len() < LIMIT && m.payload.starts_with(&[0xff, 0xd8]),
            "{}: {} bytes",
            m.topic,
            m.payload.len()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let (_, _, metrics) = rt.block_on(http_get(([127, 0, 0, 1], http).into(), "/metrics", Duration::from_secs(2)));
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let value = |name: &str| {
        let line = metrics.lines().find(|l| l.starts_with(name));
        line.and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok()).unwrap_or_else(|| panic!("{name}"))
    };
    assert!(value("nvt_mqtt_payloads_resized_total") >= 1.0);
    // Two dropped connections per size tried teach the limit (2 MB refused, then about 90 kB,
    // then about 19 kB taken); no reconnect loop after that.
    assert!(value("nvt_mqtt_connects_total") <= 7.0, "{}", value("nvt_mqtt_connects_total"));
    assert_eq!(value("nvt_mqtt_connected"), 1.0);
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
        == 2));
    assert!(texts(&subscriber.messages(), "tls/good/available").contains(&"online".to_owned()));
    sigterm(&mut good);
    let (mut bad, _) = run("wrong", "tls/bad");
    sigterm(&mut bad);
    assert!(
        subscriber.messages().iter().all(|m| !m.topic.starts_with("tls/bad")),
        "a wrong password publishes nothing"
    );
}

#[test]
fn a_typed_frigate_consumer_from_pypi_takes_every_event() {
    // frigate-event-handler (PyPI), installed by `make setup` in .venv-consumers, parses each
    // message of nvt's events topic with its own typed model, as its daemon does.
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-consumers/bin/python");
    assert!(python.is_file(), "{} is missing: run `make setup`", python.display());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/frigate_consumer.py");
    let dir = temp_dir("mqtt-consumer");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let mut consumer = std::process::Command::new(python)
        .arg(script)
        .args([&broker.addr.ip().to_string(), &broker.addr.port().to_string(), "frigate/events", "2", "60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the consumer runs");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(consumer.stdout.take().expect("stdout")));
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
    let (mut server, listen) = server(&broker, &dir, &["--mqtt-prefix", "frigate"]);
    stream(&listen, 10, 40);
    let report: Value = serde_json::from_str(&lines.next().and_then(Result::ok).expect("a report")).expect("JSON");
    let _ = consumer.wait();
    sigterm(&mut server);
    let written = read_jsonl(&dir.join("events.jsonl"));
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["parsed"], written.len(), "every event nvt made: {report}");
    assert_eq!((&report["kinds"]["new"], &report["kinds"]["end"]), (&2.into(), &2.into()), "{report}");
}
