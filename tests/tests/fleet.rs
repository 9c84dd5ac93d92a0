//! The fleet on a real NATS server (Debian's nats-server with JetStream, started by each test on
//! a free loopback port with its own store): one ingest nvt-server, single-thread nvt-workers and
//! streaming clients, all real processes, so that workers and the broker can be killed.

use nvt_tests::harness::{
    binary, free_port, http_get, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard,
};
use nvt_tests::nats::{NatsServer, Settings};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name).display().to_string()
}

struct Fleet {
    dir: PathBuf,
    nats: NatsServer,
    server: ChildGuard,
    listen: String,
    http: std::net::SocketAddr,
    workers: Vec<ChildGuard>,
}

impl Fleet {
    fn start(test: &str, workers: usize, max_payload: usize) -> Self {
        Self::start_with(test, workers, &Settings { max_payload, ..Settings::default() })
    }

    /// The fleet on a NATS server set up as `nats` says.
    fn start_with(test: &str, workers: usize, nats: &Settings) -> Self {
        let dir = temp_dir(test);
        let nats = NatsServer::start_with(&dir.join("nats"), nats);
        let listen = format!("127.0.0.1:{}", free_port());
        let http_port = free_port();
        let log = dir.join("server.jsonl").display().to_string();
        let events = dir.join("events.jsonl").display().to_string();
        let server = spawn(
            "nvt-server",
            &[
                "--listen",
                &listen,
                "--nats",
                &nats.url(),
                "--log",
                &log,
                "--events",
                &events,
                "--http",
                &http_port.to_string(),
            ],
        );
        wait_for_port(listen.parse().expect("addr"), Duration::from_secs(30));
        let mut fleet =
            Self { dir, nats, server, listen, http: ([127, 0, 0, 1], http_port).into(), workers: Vec::new() };
        for _ in 0..workers {
            fleet.add_worker();
        }
        fleet
    }

    fn add_worker(&mut self) {
        let url = self.nats.url();
        let shapes = model("shapes.onnx");
        self.workers
            .push(spawn("nvt-worker", &["--nats", &url, "--model", &shapes, "--threads", "1", "--workers", "1"]));
    }

    /// Clients streaming the synthetic scene at `fps` for `seconds`, each logging its exchanges.
    fn clients(&self, count: usize, fps: u32, seconds: u32) -> Vec<std::process::Child> {
        (0..count)
            .map(|i| {
                let log = self.dir.join(format!("client{i}.jsonl")).display().to_string();
                Command::new(binary("nvt-client"))
                    .args(["--connect", &self.listen, "--source", "synthetic", "--fps", &fps.to_string()])
                    .args(["--duration", &format!("{seconds}s"), "--log", &log])
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("client")
            })
            .collect()
    }

    fn records(&self) -> Vec<Value> {
        read_jsonl(&self.dir.join("server.jsonl"))
    }

    fn push(&self, file: &str, flags: &[&str]) -> bool {
        let out = Command::new(binary("nvt-fleet"))
            .args(["push", "--nats", &self.nats.url()])
            .args(flags)
            .arg(model(file))
            .output();
        out.expect("nvt-fleet").status.success()
    }

    fn stop(mut self) {
        let pid = self.server.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        wait_exit(&mut self.server, Duration::from_secs(15));
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64()
}

/// Waits until `done` holds for the server's records, up to `timeout`.
fn wait_records(fleet: &Fleet, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if done(&fleet.records()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn worker_of(record: &Value) -> String {
    record["remote"]["worker"].as_str().unwrap_or_default().to_owned()
}

fn models_after(records: &[Value], since: f64) -> BTreeMap<String, BTreeSet<String>> {
    let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records.iter().filter(|r| r["time"].as_f64().unwrap_or(0.0) > since) {
        models.entry(worker_of(r)).or_default().insert(r["model"].as_str().unwrap_or_default().to_owned());
    }
    models
}

#[test]
fn workers_die_join_and_swap_models_while_every_camera_keeps_its_detections() {
    let mut fleet = Fleet::start("fleet-life", 3, 8 << 20);
    let clients = fleet.clients(4, 5, 36);
    assert!(
        wait_records(&fleet, Duration::from_secs(30), |r| r.iter().map(worker_of).collect::<BTreeSet<_>>().len() == 3),
        "all three workers serve"
    );

    // A worker dies: SIGKILL, no goodbye.
    std::thread::sleep(Duration::from_secs(2));
    let killed_at = unix_now();
    let dead = fleet.workers.remove(0);
    drop(dead);

    // One model for the fleet: every worker left switches; a worker that starts later loads
    // the pushed model, not its --model.
    std::thread::sleep(Duration::from_secs(4));
    assert!(fleet.push("shapes-v5.onnx", &[]));
    let pushed_at = unix_now();
    assert!(
        wait_records(&fleet, Duration::from_secs(20), |r| {
            let after = models_after(r, pushed_at + 3.0);
            after.len() == 2
                && after.values().all(|m| m.len() == 1 && m.iter().all(|id| id.starts_with("shapes-v5.onnx@")))
        }),
        "every worker swapped: {:?}",
        models_after(&fleet.records(), pushed_at + 3.0)
    );
    let joined_at = unix_now();
    fleet.add_worker();
    assert!(
        wait_records(&fleet, Duration::from_secs(20), |r| models_after(r, joined_at).len() == 3),
        "a new worker takes a share of the work within seconds: {:?}",
        models_after(&fleet.records(), joined_at)
    );

    // A bad file is refused by nvt-fleet push; pushed anyway (--no-check), it is refused by
    // every worker, and the old model keeps serving.
    assert!(!fleet.push("fixtures/not-onnx.onnx", &[]));
    assert!(fleet.push("fixtures/not-onnx.onnx", &["--no-check"]));
    let bad_at = unix_now();
    std::thread::sleep(Duration::from_secs(4));
    for mut client in clients {
        assert!(client.wait().expect("client").success());
    }
    let records = fleet.records();
    let after_bad = models_after(&records, bad_at + 1.0);
    assert!(after_bad.len() >= 2, "{after_bad:?}");
    assert!(after_bad.values().flatten().all(|id| id.starts_with("shapes-v5.onnx@")), "{after_bad:?}");
    let newcomer = models_after(&records, joined_at + 3.0);
    assert!(newcomer.values().flatten().all(|id| id.starts_with("shapes-v5.onnx@")), "{newcomer:?}");

    // No frame's detections delivered twice; every camera kept getting detections, with no gap
    // longer than the deadline plus a second, through the death, the swap and the join.
    let mut by_camera: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        by_camera.entry(r["source"].as_str().expect("source").to_owned()).or_default().push(r);
    }
    assert_eq!(by_camera.len(), 4);
    let deadline_s = records.iter().filter_map(|r| r["remote"]["deadline_ms"].as_f64()).fold(0.0, f64::max) / 1000.0;
    for (camera, list) in &by_camera {
        let seqs: BTreeSet<u64> = list.iter().map(|r| r["seq"].as_u64().expect("seq")).collect();
        assert_eq!(seqs.len(), list.len(), "{camera}: a frame's detections came twice");
        let times: Vec<f64> =
            list.iter().map(|r| r["time"].as_f64().expect("time")).filter(|t| *t > killed_at - 1.0).collect();
        let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(gap <= deadline_s + 1.0, "{camera}: {gap:.2} s without a processed frame (deadline {deadline_s:.2} s)");
        assert!(
            list.iter().filter(|r| r["detections"].as_array().is_some_and(|d| d.len() == 3)).count() > list.len() / 2
        );
    }
    for i in 0..4 {
        let exchanges = read_jsonl(&fleet.dir.join(format!("client{i}.jsonl")));
        let with_detections =
            exchanges.iter().filter(|e| e["response"]["detections"].as_array().is_some_and(|d| !d.is_empty()));
        assert!(with_detections.count() > exchanges.len() / 2, "client {i} got replies with detections");
    }
    fleet.stop();
}

#[test]
fn the_broker_restarts_and_ingest_and_workers_come_back_by_themselves() {
    let mut fleet = Fleet::start("fleet-restart", 2, 8 << 20);
    let clients = fleet.clients(2, 5, 16);
    assert!(wait_records(&fleet, Duration::from_secs(30), |r| r.len() >= 10));
    fleet.nats.kill();
    let down_at = unix_now();
    std::thread::sleep(Duration::from_secs(3));
    fleet.nats.restart();
    let up_at = unix_now();
    assert!(
        wait_records(&fleet, Duration::from_secs(15), |r| r
            .iter()
            .filter(|x| x["time"].as_f64().unwrap_or(0.0) > up_at)
            .count()
            >= 10),
        "detection resumes after the restart"
    );
    for mut client in clients {
        assert!(client.wait().expect("client").success());
    }
    // While the broker was down, the clients' frames were still accepted and answered (with the
    // last detections they had): the ingest never stopped serving them.
    for i in 0..2 {
        let exchanges = read_jsonl(&fleet.dir.join(format!("client{i}.jsonl")));
        let during = exchanges
            .iter()
            .filter(|e| (down_at + 0.5..up_at).contains(&e["time"].as_f64().unwrap_or(0.0)) && e["accepted"] == true)
            .count();
        assert!(during >= 5, "client {i}: {during} frames accepted while the broker was down");
    }
    fleet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_larger_than_the_brokers_payload_limit_are_counted_not_sent() {
    let fleet = Fleet::start("fleet-payload", 1, 64 * 1024);
    let clients = fleet.clients(1, 5, 3);
    for mut client in clients {
        assert!(client.wait().expect("client").success());
    }
    let (_, _, metrics) = http_get(fleet.http, "/metrics", Duration::from_secs(2)).await;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let too_large = metrics
        .lines()
        .find(|l| l.starts_with("nvt_fleet_requests_total{outcome=\"too_large\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok());
    assert!(too_large.is_some_and(|n| n >= 5), "{metrics}");
    assert!(fleet.records().is_empty(), "no frame reached a worker");
    fleet.stop();
}

/// The broker's JetStream has 100 MiB of storage, as on a small disk (nats-server takes three
/// quarters of the free space by default): too little for the stream's usual 1 GiB, which
/// JetStream reserves up front and so refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_to_a_jetstream_stream_that_outlives_a_consumer_restart() {
    use futures_util::StreamExt;
    let small = Settings { max_payload: 8 << 20, max_file_store: Some(100 << 20), ..Settings::default() };
    let fleet = Fleet::start_with("fleet-events", 1, &small);
    for mut client in fleet.clients(1, 10, 3) {
        assert!(client.wait().expect("client").success());
    }
    // The objects end once the camera's last frames are through the workers, a moment after the
    // client has gone.
    let ended = |events: &[Value]| {
        let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
        count("new") > 0 && count("end") == count("new")
    };
    let mut written = read_jsonl(&fleet.dir.join("events.jsonl"));
    for _ in 0..100 {
        if ended(&written) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        written = read_jsonl(&fleet.dir.join("events.jsonl"));
    }
    let key = |e: &Value| format!("{} {} {}", e["type"], e["after"]["id"], e["after"]["frame_time"]);
    let want: Vec<String> = written.iter().map(key).collect();
    assert!(want.len() >= 6, "three shapes came and went: {want:?}");

    // A durable consumer reads some events and acknowledges them, then goes away.
    let config = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("nvt-test".into()),
        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    };
    let read = |count: usize| {
        let (url, config) = (fleet.nats.url(), config.clone());
        async move {
            let client = async_nats::connect(url).await.expect("connect");
            let jetstream = async_nats::jetstream::new(client);
            let stream = jetstream.get_stream("NVT_EVENTS").await.expect("the events stream");
            let consumer = stream.get_or_create_consumer("nvt-test", config).await.expect("consumer");
            let mut messages =
                consumer.fetch().max_messages(count).expires(Duration::from_secs(2)).messages().await.expect("fetch");
            let mut got = Vec::new();
            while let Some(Ok(message)) = messages.next().await {
                assert!(message.subject.as_str().starts_with("nvt.events.127_0_0_1"), "{}", message.subject);
                got.push(key(&serde_json::from_slice::<Value>(&message.payload).expect("JSON")));
                message.ack().await.expect("ack");
            }
            got
        }
    };
    // The server publishes to JetStream on a task of its own: the stream may come a moment after
    // the events file has them.
    let jetstream = async_nats::jetstream::new(async_nats::connect(fleet.nats.url()).await.expect("connect"));
    let mut stream = None;
    for _ in 0..100 {
        match jetstream.get_stream("NVT_EVENTS").await {
            Ok(made) => {
                stream = Some(made);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let stream_bytes = stream.expect("the events stream").cached_info().config.max_bytes;
    assert!(
        (nvt_fleet::stream::LEAST_STREAM_BYTES..=100 << 20).contains(&stream_bytes),
        "the stream fits the broker's storage: {stream_bytes}"
    );
    let first = read(3).await;
    // A new process with the same durable consumer reads on from there.
    let rest = read(1000).await;
    let all: Vec<String> = first.iter().chain(&rest).cloned().collect();
    assert_eq!(all, want, "every event, in order, none read twice across the consumer's restart");
    fleet.stop();
}

#[test]
fn the_mqtt_bridge_publishes_the_streams_events_and_reads_on_after_a_restart() {
    use nvt_tests::broker::{events, Mosquitto, Subscriber};
    let fleet = Fleet::start("fleet-bridge", 1, 8 << 20);
    let broker = Mosquitto::start(&fleet.dir.join("mosquitto"), "");
    let subscriber = Subscriber::start(broker.addr, &["fleet/events"]);
    let bridge = || {
        spawn("nvt-fleet", &["mqtt", "--nats", &fleet.nats.url(), "--mqtt", &broker.url(), "--mqtt-prefix", "fleet"])
    };
    let key = |e: &Value| format!("{} {} {}", e["type"], e["after"]["id"], e["after"]["frame_time"]);
    let firsts = |list: Vec<Value>| {
        let mut seen = BTreeSet::new();
        list.iter().map(key).filter(|k| seen.insert(k.clone())).collect::<Vec<_>>()
    };
    for mut client in fleet.clients(1, 10, 3) {
        assert!(client.wait().expect("client").success());
    }
    let args = ["mqtt", "--nats", &fleet.nats.url(), "--mqtt", &broker.url(), "--mqtt-prefix", "fleet"];
    let mut first = nvt_tests::harness::Logged::start("nvt-fleet", &args);
    let written = || firsts(read_jsonl(&fleet.dir.join("events.jsonl")));
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| firsts(events(m, "fleet")) == written()),
        "the bridge published the stream's events"
    );
    // The bridge stops; more events are made; a new bridge reads on from where it was.
    let (status, said) = first.stop();
    assert!(status.success() && said.contains("nvt-fleet mqtt stopped (stop asked)"), "{status}: {said}");
    for mut client in fleet.clients(1, 10, 3) {
        assert!(client.wait().expect("client").success());
    }
    let _second = bridge();
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| firsts(events(m, "fleet")) == written()),
        "every event, in order, across the bridge's restart: got {:?}\nwant {:?}",
        firsts(events(&subscriber.messages(), "fleet")),
        written()
    );
    fleet.stop();
}

/// The first sighting of each event (type, id, frame time), in order: QoS 1 may bring one twice.
fn firsts(list: Vec<Value>) -> Vec<String> {
    let key = |e: &Value| format!("{} {} {}", e["type"], e["after"]["id"], e["after"]["frame_time"]);
    let mut seen = BTreeSet::new();
    list.iter().map(key).filter(|k| seen.insert(k.clone())).collect()
}

#[test]
fn the_bridge_acknowledges_an_event_only_once_mqtt_has_it_so_a_restart_with_mqtt_away_loses_none() {
    use nvt_tests::broker::{events, Mosquitto, Subscriber};
    let fleet = Fleet::start("fleet-bridge-away", 1, 8 << 20);
    let mut broker = Mosquitto::start(&fleet.dir.join("mosquitto"), "");
    broker.kill();
    for mut client in fleet.clients(1, 10, 3) {
        assert!(client.wait().expect("client").success());
    }
    let written = || firsts(read_jsonl(&fleet.dir.join("events.jsonl")));
    let mqtt_url = broker.url();
    let bridge =
        || spawn("nvt-fleet", &["mqtt", "--nats", &fleet.nats.url(), "--mqtt", &mqtt_url, "--mqtt-prefix", "away"]);
    // A bridge takes the events while MQTT is away, and is stopped before MQTT comes back.
    let mut first = bridge();
    std::thread::sleep(Duration::from_secs(3));
    Command::new("kill").args(["-TERM", &first.0.id().to_string()]).status().expect("kill");
    wait_exit(&mut first, Duration::from_secs(5));
    broker.restart();
    let subscriber = Subscriber::start(broker.addr, &["away/events"]);
    let _second = bridge();
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| firsts(events(m, "away")) == written()),
        "every event, in order, after a restart with MQTT away: got {:?}\nwant {:?}",
        firsts(events(&subscriber.messages(), "away")),
        written()
    );
    fleet.stop();
}

/// Publishes `messages` to the events stream of `nats`, then starts `nvt-fleet mqtt` from it to
/// `broker` under `prefix`; its warnings go to the returned log file.
fn bridge_after(
    dir: &std::path::Path,
    nats: &NatsServer,
    broker: &nvt_tests::broker::Mosquitto,
    prefix: &str,
    messages: Vec<String>,
) -> (ChildGuard, std::path::PathBuf) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
        nvt_fleet::stream::make(&jetstream).await.expect("stream");
        for message in messages {
            jetstream.publish("nvt.events.door", message.into()).await.expect("publish").await.expect("stored");
        }
    });
    let log = dir.join("bridge.log");
    let stderr = std::fs::File::create(&log).expect("log");
    let bridge = Command::new(binary("nvt-fleet"))
        .args(["mqtt", "--nats", &nats.url(), "--mqtt", &broker.url(), "--mqtt-prefix", prefix])
        .env("RUST_LOG", "warn")
        .stderr(stderr)
        .spawn()
        .expect("bridge");
    (ChildGuard(bridge), log)
}

#[test]
fn a_stream_message_mqtt_would_refuse_or_that_is_no_event_cannot_stall_the_bridge() {
    use nvt_tests::broker::{Mosquitto, Subscriber};
    let dir = temp_dir("fleet-bridge-junk");
    let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
    // A broker that refuses packets over 64 KiB, as EMQX, AWS IoT or this setting do.
    let broker = Mosquitto::start(&dir.join("mosquitto"), "max_packet_size 65536\n");
    let subscriber = Subscriber::start(broker.addr, &["junk/events"]);
    let good = |n: u32| serde_json::json!({"type": "new", "n": n, "after": {"id": format!("e{n}")}}).to_string();
    let messages = vec![good(1), format!("{{\"x\": \"{}\"}}", "a".repeat(100_000)), "not JSON".to_owned(), good(2)];
    let (_bridge, log) = bridge_after(&dir, &nats, &broker, "junk", messages);
    let numbers = |m: &[nvt_tests::broker::Message]| -> Vec<u64> {
        m.iter().filter(|m| m.topic == "junk/events").filter_map(|m| m.json()["n"].as_u64()).collect()
    };
    assert!(
        subscriber.wait_until(Duration::from_secs(15), |m| numbers(m).contains(&2)),
        "the event after the junk arrives: {:?}",
        numbers(&subscriber.messages())
    );
    assert_eq!(numbers(&subscriber.messages())[..2], [1, 2]);
    assert!(subscriber.messages().iter().all(|m| m.payload.len() < 64 << 10));
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(said.matches("a stream message that is not an event was skipped").count(), 2, "{said}");
}

#[test]
fn an_event_under_the_bridges_bound_but_over_the_brokers_16_kib_limit_is_dropped_not_retried_for_ever() {
    use nvt_tests::broker::{Mosquitto, Subscriber};
    let dir = temp_dir("fleet-bridge-16k");
    let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
    // mosquitto refuses packets over 16 KiB; the second event (30 KB) is a JSON object under the
    // bridge's own 64 KiB bound, so only the MQTT broker refuses it (it stalled the bridge).
    let broker = Mosquitto::start(&dir.join("mosquitto"), "max_packet_size 16384\n");
    let subscriber = Subscriber::start(broker.addr, &["small/events"]);
    let event = |n: u32, pad: usize| {
        serde_json::json!({"type": "new", "n": n, "pad": "p".repeat(pad), "after": {"id": format!("e{n}")}}).to_string()
    };
    let messages = [event(1, 0), event(2, 30_000), event(3, 0), event(4, 0)];
    let (_bridge, log) = bridge_after(&dir, &nats, &broker, "small", messages.to_vec());
    let numbers = |m: &[nvt_tests::broker::Message]| -> Vec<u64> {
        m.iter().filter(|m| m.topic == "small/events").filter_map(|m| m.json()["n"].as_u64()).collect()
    };
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| numbers(m).contains(&4)),
        "the events after the one the broker refuses arrive: {:?}",
        numbers(&subscriber.messages())
    );
    let got: BTreeSet<u64> = numbers(&subscriber.messages()).into_iter().collect();
    assert_eq!(got, BTreeSet::from([1, 3, 4]));
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(said.matches("an event the broker refuses is dropped").count(), 1, "{said}");
}

/// Runs nvt-fleet (or another of our binaries) with `args`, at most 10 s: its status and
/// standard error.
fn run_briefly(name: &str, args: &[String]) -> (Option<i32>, String) {
    let out = Command::new("timeout")
        .arg("10")
        .arg(binary(name))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("timeout");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_fleet_argument_is_checked_before_anything_connects() {
    let dir = temp_dir("fleet-args");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let (empty, one_line, not_pem) = (write("empty.onnx", ""), write("one-line", "worker\n"), write("ca.pem", "hello"));
    // Nothing listens there: a good set of arguments would wait for the broker, not exit.
    let url = format!("nats://127.0.0.1:{}", free_port());
    let shapes = model("shapes.onnx");
    let mqtt = |extra: &[&str]| {
        let mut args = vec!["mqtt", "--nats", &url, "--mqtt", "mqtt://127.0.0.1:1"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let push = |extra: &[&str], file: &str| {
        let mut args = vec!["push", "--nats", &url];
        args.extend_from_slice(extra);
        args.push(file);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (mqtt(&["--consumer", "a.b"]), "--consumer"),
        (mqtt(&["--consumer", ""]), "--consumer"),
        (mqtt(&["--consumer", "x y"]), "--consumer"),
        (mqtt(&["--consumer", "*"]), "--consumer"),
        (mqtt(&["--consumer", ">"]), "--consumer"),
        (mqtt(&["--mqtt-buffer", "0"]), "--mqtt-buffer"),
        (mqtt(&["--mqtt-prefix", "a/#"]), "prefix"),
        (vec!["mqtt".into(), "--nats".into(), url.clone()], "--mqtt"),
        (vec!["mqtt".into(), "--nats".into(), url.clone(), "--mqtt".into(), "http://x".into()], "mqtt"),
        (push(&["--group", "a.b"], &shapes), "--group"),
        (push(&["--group", ""], &shapes), "--group"),
        (vec!["push".into(), "--nats".into(), "http://x:1".into(), shapes.clone()], "--nats"),
        (vec!["push".into(), "--nats".into(), "nats://h:0".into(), shapes.clone()], "--nats"),
        (vec!["push".into(), "--nats".into(), "nats://u:p@h:1".into(), shapes.clone()], "--nats"),
        (push(&[], "/nonexistent/model.onnx"), "/nonexistent/model.onnx"),
        (push(&[], "/dev/zero"), "not a regular file"),
        (push(&[], &empty), "empty"),
        (push(&["--nats-user-file", &one_line], &shapes), "--nats-user-file"),
        (push(&["--nats-user-file", "/nonexistent"], &shapes), "--nats-user-file"),
        (push(&["--nats-creds", &one_line], &shapes), "--nats-creds"),
        (push(&["--nats-ca", &not_pem], &shapes), "--nats-ca"),
        (push(&["--nats-cert", &not_pem], &shapes), "--nats-key"),
        (push(&["--nats-creds", &one_line, "--nats-user-file", &one_line], &shapes), "cannot be used with"),
    ];
    for (args, says) in &cases {
        let (status, stderr) = run_briefly("nvt-fleet", args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should name {says:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // The same flags, checked the same way, on the worker and the ingest server.
    let worker = ["--nats", &url, "--model", &shapes, "--nats-user-file", &one_line].map(str::to_owned);
    let (status, stderr) = run_briefly("nvt-worker", &worker);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("--nats-user-file"), "{stderr}");
    let server = ["--listen", "127.0.0.1:0", "--nats", &url, "--nats-ca", &not_pem].map(str::to_owned);
    let (status, stderr) = run_briefly("nvt-server", &server);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("--nats-ca"), "{stderr}");
}
