//! MQTT brokers that misbehave, against the real nvt-server: a real mosquitto whose packet limit
//! is under any size nvt guessed before (16 KiB), and a fake broker of the test's own
//! (`nvt_tests::fake_mqtt`) that never acknowledges, or that floods its client with junk. In
//! each, detection and the events file go on, memory and the buffer stay bounded, the log says
//! what happens without repeating itself, and SIGTERM ends the server in its budget.

use nvt_tests::broker::{events, Message, Mosquitto, Subscriber};
use nvt_tests::fake_mqtt::{Behaviour, FakeBroker};
use nvt_tests::harness::{binary, free_port, http_get, read_jsonl, temp_dir, wait_for_port, ChildGuard};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

fn shapes_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx").display().to_string()
}

/// An nvt-server with the shapes model publishing to `url`, its records in `server.jsonl`, its
/// events in `events.jsonl` and its standard error in `server.log` (at `info`).
struct Server {
    child: ChildGuard,
    listen: String,
    http: u16,
    dir: PathBuf,
}

impl Server {
    fn start(url: &str, dir: &Path, extra: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let http = free_port();
        let file = |name: &str| dir.join(name).display().to_string();
        let stderr = std::fs::File::create(dir.join("server.log")).expect("log file");
        let child = Command::new(binary("nvt-server"))
            .args(["--listen", &listen, "--model", &shapes_model(), "--mqtt", url, "--workers", "1"])
            .args(["--events", &file("events.jsonl"), "--log", &file("server.jsonl"), "--http", &http.to_string()])
            .args(["--stats-every", "500ms"])
            .args(extra)
            .env("RUST_LOG", "info")
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("nvt-server");
        wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
        Self { child: ChildGuard(child), listen, http, dir: dir.to_owned() }
    }

    /// A metric from `/metrics`.
    fn metric(&self, name: &str) -> f64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let addr = ([127, 0, 0, 1], self.http).into();
        let (_, _, body) = rt.block_on(http_get(addr, "/metrics", Duration::from_secs(5)));
        let text = String::from_utf8_lossy(&body).into_owned();
        let line = text.lines().find(|l| l.starts_with(name) && !l.starts_with('#'));
        line.and_then(|l| l.split_whitespace().last()?.parse().ok()).unwrap_or_else(|| panic!("{name} in {text}"))
    }

    /// Resident memory, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok());
        kib.unwrap_or(0.0) / 1024.0
    }

    /// Waits for 30 frame records (the detector warmed up), then gives the RSS.
    fn warmed_up(&self) -> f64 {
        let until = Instant::now() + Duration::from_secs(30);
        while self.records() < 30 {
            assert!(Instant::now() < until, "frames detected");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.rss_mib()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn records(&self) -> usize {
        read_jsonl(&self.dir.join("server.jsonl")).len()
    }

    fn events(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.dir.join("events.jsonl"))
    }

    /// SIGTERM; how long the server took to exit (failing past 15 s) and whether it exited 0.
    fn sigterm(&mut self) -> (Duration, bool) {
        let started = Instant::now();
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                return (started.elapsed(), status.success());
            }
            assert!(started.elapsed() < Duration::from_secs(15), "still running 15 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A client streaming the synthetic scene at 10 fps for `seconds`.
fn client(listen: &str, seconds: u32) -> ChildGuard {
    let child = Command::new(binary("nvt-client"))
        .args(["--connect", listen, "--source", "synthetic", "--fps", "10", "--duration", &format!("{seconds}s")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("client");
    ChildGuard(child)
}

fn finish(mut client: ChildGuard) {
    let until = Instant::now() + Duration::from_secs(60);
    while client.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < until, "the client did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each event's (type, id) in the order of first arrival (QoS 1 may deliver one twice).
fn sequence(events: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let key = |e: &serde_json::Value| (e["type"].to_string(), e["after"]["id"].to_string());
    events.iter().map(key).filter(|k| seen.insert(k.clone())).collect()
}

#[test]
fn a_broker_whose_packet_limit_is_16_kib_gets_every_event_and_the_reconnects_stop() {
    // mosquitto drops the connection of a client that sends a packet past max_packet_size. The
    // snapshots (2000 pixels high, quality 100, the whole frame: about 2 MB) are far past it,
    // and so is any size nvt would guess first; events (a few KiB) are not.
    const LIMIT: usize = 16_384;
    let dir = temp_dir("mqtt-16k");
    let broker = Mosquitto::start(&dir.join("broker"), &format!("max_packet_size {LIMIT}\n"));
    let subscriber = Subscriber::start(broker.addr, &["nvt/#"]);
    let big = ["--mqtt-snapshot-height", "2000", "--mqtt-snapshot-quality", "100", "--mqtt-snapshot-no-crop"];
    let mut server = Server::start(&broker.url(), &dir, &big);
    finish(client(&server.listen, 4));
    let arrived = subscriber.wait_until(Duration::from_secs(40), |m| {
        !server.events().is_empty() && sequence(&events(m, "nvt")) == sequence(&server.events())
    });
    let got = sequence(&events(&subscriber.messages(), "nvt"));
    assert!(arrived, "events held back: {} of {} arrived", got.len(), server.events().len());
    // Learnt: a second camera session adds no reconnect, and its events come too.
    let connects = server.metric("nvt_mqtt_connects_total");
    finish(client(&server.listen, 4));
    let arrived =
        subscriber.wait_until(Duration::from_secs(20), |m| sequence(&events(m, "nvt")) == sequence(&server.events()));
    assert!(arrived, "the second camera's events");
    let after = server.metric("nvt_mqtt_connects_total");
    println!(
        "mosquitto max_packet_size {LIMIT}: {connects} connects to learn the limit, {after} after a second camera"
    );
    assert_eq!(after, connects, "the broker's limit was learnt once; no reconnect loop after that");
    assert!(connects <= 12.0, "{connects} connects");
    assert_eq!(server.metric("nvt_mqtt_connected"), 1.0);
    // What came is under the limit; snapshots that came are pictures still.
    let snapshots: Vec<Message> =
        subscriber.messages().into_iter().filter(|m| m.topic.ends_with("/snapshot")).collect();
    for m in &snapshots {
        assert!(
            m.payload.len() < LIMIT && m.payload.starts_with(&[0xff, 0xd8]),
            "{}: {} bytes",
            m.topic,
            m.payload.len()
        );
    }
    let handled = server.metric("nvt_mqtt_payloads_resized_total") + server.metric("nvt_mqtt_payloads_dropped_total");
    assert!(handled >= 1.0, "the snapshots past the limit were shrunk or dropped, and counted");
    let (took, ok) = server.sigterm();
    assert!(ok && took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_broker_that_never_acknowledges_costs_bounded_memory_and_leaves_the_events_file_alone() {
    let dir = temp_dir("mqtt-never-acks");
    let broker = FakeBroker::start(Behaviour::NeverAcks);
    let mut server = Server::start(&broker.url(), &dir, &["--mqtt-buffer", "2"]);
    let camera = client(&server.listen, 16);
    let before = server.warmed_up();
    finish(camera);
    let (rss, pending) = (server.rss_mib(), server.metric("nvt_mqtt_events_pending"));
    let (events, dropped) = (server.events().len(), server.metric("nvt_mqtt_events_dropped_total"));
    let records = server.records();
    let log = server.log();
    let waits = log.lines().filter(|l| l.contains("has not acknowledged")).count();
    let (took, ok) = server.sigterm();
    println!(
        "a broker that never acks: {} connects, {} publishes taken, {events} events written, {pending} pending, \
         {dropped} dropped, {records} frame records, RSS {before:.0} -> {rss:.0} MiB, {waits} log lines, SIGTERM {took:?}",
        broker.stats.connects.load(Relaxed),
        broker.stats.publishes.load(Relaxed),
    );
    assert!(events >= 4, "the events file goes on: {events} events");
    assert!(records >= 100, "detection goes on: {records} records");
    assert!(pending <= 2.0, "the buffer holds at most --mqtt-buffer: {pending}");
    assert!(dropped >= 1.0, "past the buffer, events are dropped and counted");
    assert!(rss - before < 40.0, "RSS {before:.0} -> {rss:.0} MiB");
    assert!(broker.stats.publishes.load(Relaxed) >= 1, "nvt did publish to it");
    assert!(waits == 1, "one clear line, not one per message: {waits}\n{log}");
    assert!(ok && took < Duration::from_millis(4200), "SIGTERM took {took:?} (about 3.5 s promised)");
}

#[test]
fn a_broker_that_floods_its_client_with_junk_costs_only_its_connection() {
    let dir = temp_dir("mqtt-floods");
    let broker = FakeBroker::start(Behaviour::Floods);
    let mut server = Server::start(&broker.url(), &dir, &[]);
    let camera = client(&server.listen, 12);
    let before = server.warmed_up();
    finish(camera);
    let rss = server.rss_mib();
    let (events, records) = (server.events().len(), server.records());
    let log = server.log();
    let lost = log.lines().filter(|l| l.contains("MQTT connection lost")).count();
    let (took, ok) = server.sigterm();
    let connects = broker.stats.connects.load(Relaxed);
    println!(
        "a flooding broker: {connects} connects, {} MiB sent at nvt, {events} events written, {records} frame records, \
         RSS {before:.0} -> {rss:.0} MiB, {lost} connection-lost lines, SIGTERM {took:?}",
        broker.stats.bytes_sent.load(Relaxed) >> 20
    );
    let sent_mib = broker.stats.bytes_sent.load(Relaxed) >> 20;
    assert!(connects >= 4, "each junk costs its connection, and nvt connects again: {connects}");
    // Valid messages nvt never asked for, without end: the connection is dropped after 64 MiB
    // (it read 41 GiB in 12 s before, a core's worth).
    assert!(log.contains("floods nvt with messages it never asked for"), "{log}");
    assert!(sent_mib < 3 << 10, "{sent_mib} MiB read from the broker");
    assert!(events >= 4, "the events file goes on: {events} events");
    assert!(records >= 100, "detection goes on: {records} records");
    assert!(rss - before < 60.0, "RSS {before:.0} -> {rss:.0} MiB");
    assert!(lost <= connects as usize + 1, "at most a line a connection: {lost}");
    assert!(ok && took < Duration::from_millis(4200), "SIGTERM took {took:?} (about 3.5 s promised)");
}
