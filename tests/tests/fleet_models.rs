//! `nvt-fleet push`, `models` and `rm` against a real nats-server and real workers: a file no
//! worker could load is refused before anything is written; a group's model is listed and
//! removed, and a worker goes back to its own `--model`; no broker, or one without JetStream,
//! is a fast exit 2 with the hint; and a worker waiting for JetStream says so at growing
//! intervals, not every second.

use nvt_tests::harness::{binary, free_port, synthetic_jpeg, temp_dir, Logged};
use nvt_tests::nats::NatsServer;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name).display().to_string()
}

/// `nvt-fleet` with `args`; its output, and how long it took.
fn fleet(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(binary("nvt-fleet")).args(args).env("RUST_LOG", "warn").output().expect("nvt-fleet");
    (out, started.elapsed())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the model store exists at all (a refused push must not even make it).
fn store_exists(nats: &NatsServer) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("connect");
        async_nats::jetstream::new(client).get_stream("OBJ_nvt-models").await.is_ok()
    })
}

/// The model id a worker of the default group answers a frame with.
fn answering_model(nats: &NatsServer) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let request = client.request("nvt.detect.default", synthetic_jpeg(1).into());
        let reply = tokio::time::timeout(Duration::from_secs(10), request).await.expect("in time").expect("a reply");
        let reply: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
        reply["model"].as_str().expect("model").to_owned()
    })
}

/// Waits up to `timeout` for the worker to answer with a model whose id starts with `prefix`.
fn wait_answering(nats: &NatsServer, prefix: &str, timeout: Duration) -> String {
    let until = Instant::now() + timeout;
    loop {
        let model = answering_model(nats);
        if model.starts_with(prefix) || Instant::now() > until {
            return model;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn push_refuses_every_file_no_worker_could_load_and_writes_nothing() {
    let dir = temp_dir("fleet-push-check");
    let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
    let url = nats.url();
    let jpeg = dir.join("photo.jpg");
    std::fs::write(&jpeg, synthetic_jpeg(3)).expect("jpeg");
    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").expect("empty");
    let truncated = dir.join("truncated.onnx");
    let whole = std::fs::read(model("shapes.onnx")).expect("shapes.onnx");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).expect("truncated");
    let files = [
        (jpeg.display().to_string(), "is not a valid ONNX model"),
        (empty.display().to_string(), "empty"),
        (truncated.display().to_string(), "is not a valid ONNX model"),
        (model("fixtures/not-onnx.onnx"), "is not a valid ONNX model"),
        (model("fixtures/unsupported-layout.onnx"), "unsupported output layout"),
        (model("hostile/zero-classes.onnx"), "not a model a worker can load"),
    ];
    for (file, why) in &files {
        let (out, took) = fleet(&["push", "--nats", &url, file]);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {said}");
        assert!(said.contains(why) && said.contains(file.as_str()), "{file}: {said}");
        assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");
        assert!(stdout(&out).is_empty(), "{file}");
        assert!(took < Duration::from_secs(10), "{file}: {took:?}");
    }
    assert!(!store_exists(&nats), "a refused push wrote to the bus");

    // The same with the workers' --layout: the check loads it as they do.
    let (out, _) = fleet(&["push", "--nats", &url, "--layout", "e2e", &model("shapes.onnx")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!store_exists(&nats));

    // A model that loads is pushed and says what it loads as; --no-check pushes anything.
    let (out, _) = fleet(&["push", "--nats", &url, &model("shapes-v5.onnx")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("loads as shapes-v5.onnx@"), "{}", stdout(&out));
    let (out, _) = fleet(&["push", "--nats", &url, "--group", "junk", "--no-check", &jpeg.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("not checked"), "{}", stdout(&out));
    let (out, _) = fleet(&["models", "--nats", &url]);
    let listed = stdout(&out);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    let v5 = std::fs::metadata(model("shapes-v5.onnx")).expect("v5").len();
    assert!(lines[1].starts_with(&format!("default\tshapes-v5.onnx\t{v5}\t")), "{listed}");
    assert!(lines[1].contains("SHA-256="), "{listed}");
    assert!(lines[2].starts_with("junk\tphoto.jpg\t"), "{listed}");
}

#[test]
fn models_and_rm_round_trip_and_the_worker_goes_back_to_its_own_model() {
    let dir = temp_dir("fleet-models-rm");
    let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
    let url = nats.url();
    let (out, _) = fleet(&["models", "--nats", &url]);
    assert!(out.status.success() && stdout(&out).contains("no group has a pushed model"), "{out:?}");

    let own = model("shapes.onnx");
    let worker = Logged::start("nvt-worker", &["--nats", &url, "--model", &own, "--threads", "1"]);
    worker.wait_for("worker ready", Duration::from_secs(30));
    assert!(answering_model(&nats).starts_with("shapes.onnx@"));

    let (out, _) = fleet(&["push", "--nats", &url, &model("shapes-v5.onnx")]);
    assert!(out.status.success(), "{}", stderr(&out));
    worker.wait_for("swapped to the pushed model", Duration::from_secs(20));
    assert!(wait_answering(&nats, "shapes-v5.onnx@", Duration::from_secs(5)).starts_with("shapes-v5.onnx@"));
    let (out, _) = fleet(&["models", "--nats", &url]);
    assert!(stdout(&out).contains("default\tshapes-v5.onnx\t"), "{}", stdout(&out));

    // Removed: the worker serves its own --model again, and says so.
    let (out, took) = fleet(&["rm", "--nats", &url, "--group", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "{took:?}");
    worker.wait_for("the group's model was removed; back to --model", Duration::from_secs(20));
    let answering = wait_answering(&nats, "shapes.onnx@", Duration::from_secs(5));
    assert!(answering.starts_with("shapes.onnx@"), "{answering}");
    let (out, _) = fleet(&["models", "--nats", &url]);
    assert!(stdout(&out).contains("no group has a pushed model"), "{}", stdout(&out));
    let (out, _) = fleet(&["rm", "--nats", &url, "--group", "default"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("group default has no pushed model"), "{}", stderr(&out));

    // A worker without --model keeps the removed model, and says so.
    let (out, _) = fleet(&["push", "--nats", &url, &model("shapes-v5.onnx")]);
    assert!(out.status.success(), "{}", stderr(&out));
    worker.wait_for("swapped to the pushed model", Duration::from_secs(20));
    let bare = Logged::start("nvt-worker", &["--nats", &url, "--group", "default", "--threads", "1"]);
    bare.wait_for("worker ready", Duration::from_secs(30));
    let (out, _) = fleet(&["rm", "--nats", &url, "--group", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    bare.wait_for("it keeps serving the removed model until it stops", Duration::from_secs(20));
}

#[test]
fn no_broker_or_no_jetstream_is_a_fast_exit_2_with_the_hint() {
    let dir = temp_dir("fleet-fail-fast");
    let shapes = model("shapes.onnx");
    let nobody = format!("nats://127.0.0.1:{}", free_port());
    let commands = |url: &str| -> Vec<Vec<String>> {
        let url = url.to_owned();
        vec![
            vec!["push".into(), "--nats".into(), url.clone(), shapes.clone()],
            vec!["models".into(), "--nats".into(), url.clone()],
            vec!["rm".into(), "--nats".into(), url, "--group".into(), "default".into()],
        ]
    };
    for args in commands(&nobody) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, took) = fleet(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("no NATS server answers at {nobody}")), "{}", stderr(&out));
        assert!(took < Duration::from_secs(5), "{args:?}: {took:?}");
    }
    let nats = NatsServer::start_without_jetstream(&dir.join("nats"));
    for args in commands(&nats.url()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, took) = fleet(&args);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("runs without JetStream"), "{said}");
        assert!(said.contains("nats-server -js") && said.contains("jetstream {}"), "{said}");
        assert!(took < Duration::from_secs(5), "{args:?}: {took:?}");
    }
}

#[test]
fn a_worker_waiting_for_jetstream_says_so_at_growing_intervals() {
    let dir = temp_dir("fleet-no-js-worker");
    let nats = NatsServer::start_without_jetstream(&dir.join("nats"));
    let mut worker = Logged::start("nvt-worker", &["--nats", &nats.url(), "--model", &model("shapes.onnx")]);
    worker.wait_for("cannot open the model store yet", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(8));
    let (_, said) = worker.stop();
    let hints: Vec<&str> = said.lines().filter(|l| l.contains("cannot open the model store yet")).collect();
    // Tried every second for 8 s and more: said at 0, 2, 6 s (then 14, 30, ...), with the count
    // of the ones held back; every second would be 9 or more.
    assert!((2..=4).contains(&hints.len()), "{said}");
    assert!(hints[0].contains("nats-server -js") && hints[0].contains("jetstream {}"), "{said}");
    assert!(!hints[0].contains("held_back_since_last"), "{said}");
    assert!(hints[1..].iter().all(|l| l.contains("held_back_since_last=")), "{said}");
    assert!(said.contains("worker stopped before it was ready"), "{said}");
}
