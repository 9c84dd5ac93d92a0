//! The fleet on a locked bus: a real nats-server with the least-privilege users of
//! docs/nats-fleet.conf, and TLS (mutual or not) with certificates made here. Strangers are
//! refused, each role can do its part and nothing else, and everything works with the right
//! credentials.

use nvt_tests::broker::{events, Mosquitto, Subscriber};
use nvt_tests::harness::{binary, free_port, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard};
use nvt_tests::nats::{password, NatsServer, ServerTls, Settings};
use nvt_tests::pki::Pki;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name).display().to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `nvt-fleet push` with `flags`; its output, and how long it took.
fn push(flags: &[&str], file: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(binary("nvt-fleet"))
        .arg("push")
        .args(flags)
        .arg(model(file))
        .env("RUST_LOG", "error")
        .output()
        .expect("nvt-fleet");
    (out, started.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An ingest server with `flags` (its NATS access), logging records and events into `dir`.
fn ingest(dir: &Path, flags: &[&str]) -> (ChildGuard, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let (log, events) = (path(&dir.join("server.jsonl")), path(&dir.join("events.jsonl")));
    let mut args = vec!["--listen", &listen, "--log", &log, "--events", &events];
    args.extend_from_slice(flags);
    let server = spawn("nvt-server", &args);
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(30));
    (server, listen)
}

fn worker(flags: &[&str]) -> ChildGuard {
    let shapes = model("shapes.onnx");
    let mut args = vec!["--model", &shapes, "--threads", "1"];
    args.extend_from_slice(flags);
    spawn("nvt-worker", &args)
}

/// One client streaming the synthetic scene for `seconds`.
fn stream(listen: &str, seconds: u32) {
    let status = Command::new(binary("nvt-client"))
        .args(["--connect", listen, "--source", "synthetic", "--fps", "10", "--duration", &format!("{seconds}s")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .expect("client");
    assert!(status.success());
}

fn sigterm(child: &mut ChildGuard) {
    Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().expect("kill");
    wait_exit(child, Duration::from_secs(15));
}

/// Waits until records with detections by a model named `model_prefix` have come.
fn wait_detections(dir: &Path, model_prefix: &str, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        let records = read_jsonl(&dir.join("server.jsonl"));
        let good = records.iter().filter(|r| {
            r["model"].as_str().is_some_and(|m| m.starts_with(model_prefix))
                && r["detections"].as_array().is_some_and(|d| d.len() == 3)
        });
        if good.count() >= 5 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// How many messages the events stream holds, asked as the ingest user (allowed to).
async fn stream_messages(nats: &NatsServer) -> u64 {
    let client = async_nats::ConnectOptions::with_user_and_password("ingest".into(), password("ingest"))
        .custom_inbox_prefix("_INBOX.ingest")
        .connect(nats.url())
        .await
        .expect("ingest connects");
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream("NVT_EVENTS").await.expect("the events stream");
    stream.info().await.expect("info").state.messages
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// Waits until the events stream holds as many events as the ingest wrote to its file (at
/// least `least`); returns that number.
fn wait_stream(rt: &tokio::runtime::Runtime, nats: &NatsServer, dir: &Path, least: usize) -> u64 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let written = read_jsonl(&dir.join("events.jsonl")).len();
        let stored = rt.block_on(stream_messages(nats));
        if written >= least && stored == written as u64 {
            return stored;
        }
        assert!(Instant::now() < until, "{stored} events in the stream, {written} written");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_locked_bus_refuses_strangers_and_lets_each_role_do_its_part_and_no_more() {
    let rt = runtime();
    let dir = temp_dir("fleet-locked");
    let nats = NatsServer::start_with(
        &dir.join("nats"),
        &Settings { max_payload: 8 << 20, locked: true, ..Settings::default() },
    );
    let url = nats.url();
    let (ingest_user, worker_user) = (nats.user_file("ingest"), nats.user_file("worker"));
    let (push_user, bridge_user) = (nats.user_file("push"), nats.user_file("bridge"));

    // No credentials: refused at once, for a command and for a client alike.
    let (out, took) = push(&["--nats", &url], "shapes-v5.onnx");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("authorization violation"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(rt.block_on(async_nats::connect(url.as_str())).is_err(), "an anonymous client is refused");
    let wrong = async_nats::ConnectOptions::with_user_and_password("push".into(), "guess".into()).connect(url.as_str());
    assert!(rt.block_on(wrong).is_err(), "a wrong password is refused");

    // A worker's credentials cannot write the model store.
    let (out, _) = push(&["--nats", &url, "--nats-user-file", &worker_user], "shapes-v5.onnx");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("may this user write the model store"), "{}", stderr(&out));

    // Every role with its own credentials: the pushed model serves, events reach the stream.
    let (out, _) = push(&["--nats", &url, "--nats-user-file", &push_user], "shapes-v5.onnx");
    assert!(out.status.success(), "{}", stderr(&out));
    // The push user lists the groups' models with the rights docs/nats-fleet.conf gives it.
    let models = |user: &str| {
        let args = ["models", "--nats", &url, "--nats-user-file", user];
        Command::new(binary("nvt-fleet")).args(args).env("RUST_LOG", "error").output().expect("nvt-fleet")
    };
    let listed = models(&push_user);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("default\tshapes-v5.onnx\t"), "{listed:?}");
    let (mut server, listen) = ingest(&dir, &["--nats", &url, "--nats-user-file", &ingest_user]);
    let _worker = worker(&["--nats", &url, "--nats-user-file", &worker_user]);
    stream(&listen, 4);
    assert!(wait_detections(&dir, "shapes-v5.onnx@", Duration::from_secs(20)), "the pushed model detects");
    let stored = wait_stream(&rt, &nats, &dir, 6);

    // A worker's credentials cannot write events, even straight into the stream's subjects.
    rt.block_on(async {
        let client = async_nats::ConnectOptions::with_user_and_password("worker".into(), password("worker"))
            .custom_inbox_prefix("_INBOX.worker")
            .connect(url.as_str())
            .await
            .expect("the worker connects");
        for n in 0..5 {
            let _ = client.publish("nvt.events.forged", format!("{{\"forged\": {n}}}").into()).await;
        }
        let _ = client.flush().await;
        let jetstream = async_nats::jetstream::new(client);
        let acked = tokio::time::timeout(Duration::from_secs(3), async {
            jetstream.publish("nvt.events.forged", "{}".into()).await.ok()?.await.ok()
        });
        assert!(acked.await.ok().flatten().is_none(), "JetStream took an event from a worker");
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rt.block_on(stream_messages(&nats)), stored, "no event came from the worker");
    assert!(nats.log().contains("Publish Violation - User \"worker\""), "the server says why");

    // The bridge, with its own credentials, publishes every event.
    let broker = Mosquitto::start(&dir.join("mosquitto"), "");
    let subscriber = Subscriber::start(broker.addr, &["locked/events"]);
    let mut bridge = spawn(
        "nvt-fleet",
        &["mqtt", "--nats", &url, "--nats-user-file", &bridge_user, "--mqtt", &broker.url(), "--mqtt-prefix", "locked"],
    );
    assert!(
        subscriber.wait_until(Duration::from_secs(20), |m| events(m, "locked").len() as u64 >= stored),
        "{} of {stored} events bridged",
        events(&subscriber.messages(), "locked").len()
    );
    sigterm(&mut bridge);
    sigterm(&mut server);
}

fn tls_flags<'a>(pki: &'a [String; 3], user: &'a str) -> Vec<&'a str> {
    vec!["--nats-ca", &pki[0], "--nats-cert", &pki[1], "--nats-key", &pki[2], "--nats-user-file", user]
}

#[test]
fn tls_and_mutual_tls_lock_the_bus_and_a_certificate_from_elsewhere_is_refused() {
    let dir = temp_dir("fleet-tls");
    let pki = Pki::make(&dir.join("pki"));
    let tls =
        |verify| ServerTls { cert: pki.server_cert.clone(), key: pki.server_key.clone(), ca: pki.ca.clone(), verify };

    // TLS: a nats:// URL with --nats-ca still requires TLS; a server certificate nobody vouched
    // for is refused.
    let plain = NatsServer::start_with(
        &dir.join("nats-tls"),
        &Settings { max_payload: 8 << 20, locked: true, tls: Some(tls(false)), ..Settings::default() },
    );
    let (ca, other_ca) = (path(&pki.ca), path(&pki.other_ca));
    let push_user = plain.user_file("push");
    let nats_url = format!("nats://{}", plain.addr);
    for url in [plain.url(), nats_url] {
        let (out, _) = push(&["--nats", &url, "--nats-ca", &ca, "--nats-user-file", &push_user], "shapes.onnx");
        assert!(out.status.success(), "{url}: {}", stderr(&out));
    }
    let (out, took) =
        push(&["--nats", &plain.url(), "--nats-ca", &other_ca, "--nats-user-file", &push_user], "shapes.onnx");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(plain);

    // Mutual TLS: no client certificate, no connection; with one, every role works.
    let nats = NatsServer::start_with(
        &dir.join("nats-mtls"),
        &Settings { max_payload: 8 << 20, locked: true, tls: Some(tls(true)), ..Settings::default() },
    );
    let url = nats.url();
    let files = [ca.clone(), path(&pki.client_cert), path(&pki.client_key)];
    let (out, _) =
        push(&["--nats", &url, "--nats-ca", &ca, "--nats-user-file", &nats.user_file("push")], "shapes.onnx");
    assert_eq!(out.status.code(), Some(2), "no client certificate: {}", stderr(&out));
    let push_user = nats.user_file("push");
    let mut flags = vec!["--nats", &url];
    flags.extend(tls_flags(&files, &push_user));
    let (out, _) = push(&flags, "shapes-v5.onnx");
    assert!(out.status.success(), "{}", stderr(&out));
    let (ingest_user, worker_user) = (nats.user_file("ingest"), nats.user_file("worker"));
    let mut ingest_flags = vec!["--nats", &url];
    ingest_flags.extend(tls_flags(&files, &ingest_user));
    let (mut server, listen) = ingest(&dir, &ingest_flags);
    let mut worker_flags = vec!["--nats", &url];
    worker_flags.extend(tls_flags(&files, &worker_user));
    let _worker = worker(&worker_flags);
    stream(&listen, 4);
    assert!(wait_detections(&dir, "shapes-v5.onnx@", Duration::from_secs(20)), "detections over mutual TLS");
    sigterm(&mut server);
}

#[test]
fn a_nats_creds_file_opens_an_operator_mode_server_to_every_role_and_a_strangers_does_not() {
    use nvt_tests::creds::{creds, Operator};
    let dir = temp_dir("fleet-creds");
    let operator = Operator::new();
    let nats = NatsServer::start_with(
        &dir.join("nats"),
        &Settings { max_payload: 8 << 20, extra: operator.server_config(), ..Settings::default() },
    );
    let url = nats.url();
    let write = |name: &str, text: String| {
        let file = dir.join(name);
        std::fs::write(&file, text).expect("creds");
        path(&file)
    };
    let (mine, stranger) =
        (write("user.creds", operator.user_creds()), write("stranger.creds", creds(&nkeys::KeyPair::new_account())));
    for refused in [vec!["--nats", &url], vec!["--nats", &url, "--nats-creds", &stranger]] {
        let (out, took) = push(&refused, "shapes-v5.onnx");
        assert_eq!(out.status.code(), Some(2), "{refused:?}: {}", stderr(&out));
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    let (out, _) = push(&["--nats", &url, "--nats-creds", &mine], "shapes-v5.onnx");
    assert!(out.status.success(), "{}", stderr(&out));
    let (mut server, listen) = ingest(&dir, &["--nats", &url, "--nats-creds", &mine]);
    let _worker = worker(&["--nats", &url, "--nats-creds", &mine]);
    stream(&listen, 4);
    assert!(wait_detections(&dir, "shapes-v5.onnx@", Duration::from_secs(20)), "detections with a .creds file");
    sigterm(&mut server);
}
