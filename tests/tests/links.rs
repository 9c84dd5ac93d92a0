//! nvt across the networks people have: a good and an ordinary Wi-Fi, a home uplink, 4G,
//! another continent, and Wi-Fi with jitter and hiccups, each emulated between the client and
//! the server (`nvt_tests::link`). nvt-client to nvt-server at their defaults must keep up with
//! each link; an original client must get what its link carries; nvt-client must fit an original
//! server's 80 ms rule where the link allows it, and say so where it cannot. On loopback nothing
//! changes: quality 100, the same bytes.
//!
//! The tests here time frame rates, so they run one at a time.

use nvt_capture::synthetic::Synthetic;
use nvt_capture::{jpeg, SourceSpec, Stamp};
use nvt_tests::harness::{binary, http_get, read_jsonl, temp_dir, ChildGuard, TestServer};
use nvt_tests::link::{Link, LinkSpec, LINKS, ROUGH_LINKS};
use nvt_tests::original::OriginalServer;
use nvt_tests::over_link::{self, Outcome, Pairing, Setup};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `test` on a runtime of its own while no other test of this file runs.
fn exclusively<F: std::future::Future>(test: F) -> F::Output {
    let _alone = alone();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(test)
}

const RUN: Duration = Duration::from_secs(6);

fn setup(name: &str) -> Setup {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Setup { model: root.join("models/shapes.onnx"), dir: temp_dir(name), root }
}

/// Accepted frames per second nvt-client must reach to nvt-server over each of [`LINKS`] (the
/// synthetic scene at 30 frames/s; over the 120 ms link the lock-step protocol allows about
/// eight). These are four fifths of the goals `links-bench` measures (29, 25, 15, 10, 5, 6), so
/// that a loaded 2-core machine does not fail them, and three fifths over 4G (a loaded CI run
/// once got 3.3 frames/s there, against 9.7 measured quiet); a broken fit or rule gets a
/// fraction of them.
const TARGET_FPS: [f64; 6] = [23.0, 20.0, 12.0, 8.0, 3.0, 4.8];

fn check_nvt(spec: &LinkSpec, outcome: &Outcome, fps: f64) {
    let name = spec.name;
    let steady = outcome.steady_fps.unwrap_or_default();
    assert!(steady >= fps, "{name}: {steady:.1} frames/s accepted, {fps} needed: {outcome:?}");
    assert!(outcome.stale_share() <= 0.05, "{name}: {:.1}% stale: {outcome:?}", 100.0 * outcome.stale_share());
    let (_, p95) = outcome.age_ms.unwrap_or_else(|| panic!("{name}: no frame ages: {outcome:?}"));
    let bound = spec.rtt().as_secs_f64() * 1000.0 + 150.0;
    assert!(p95 <= bound, "{name}: frames {p95:.0} ms old at p95, more than the round trip + 150 ms: {outcome:?}");
}

#[test]
fn nvt_client_to_nvt_server_keeps_up_with_every_link() {
    exclusively(async {
        let setup = setup("links-nvt");
        for (spec, fps) in LINKS.iter().zip(TARGET_FPS) {
            let outcome = over_link::run(Pairing::Nvt, *spec, RUN, &setup).await.expect("run");
            check_nvt(spec, &outcome, fps);
        }
    });
}

#[test]
fn jitter_and_hiccups_leave_few_frames_stale() {
    exclusively(async {
        let setup = setup("links-rough");
        for spec in ROUGH_LINKS {
            let outcome = over_link::run(Pairing::Nvt, spec, RUN, &setup).await.expect("run");
            // The smooth link's target, and no more than 5% stale, through jitter and 300 ms stalls.
            check_nvt(&spec, &outcome, TARGET_FPS[2]);
        }
    });
}

#[test]
fn an_original_client_gets_what_its_link_carries() {
    exclusively(async {
        let setup = setup("links-original-client");
        // Its quality-100 frames (207 KB) fit about 11 a second through 20 Mbit/s.
        let outcome = over_link::run(Pairing::OriginalClient, LINKS[2], RUN, &setup).await.expect("run");
        assert!(outcome.accepted_fps() >= 8.0 && outcome.stale_share() <= 0.05, "{outcome:?}");
    });
}

#[test]
fn nvt_client_fits_an_original_servers_80_ms_rule_where_the_link_allows() {
    exclusively(async {
        let setup = setup("links-original-server");
        for spec in &LINKS[..5] {
            let outcome = over_link::run(Pairing::OriginalServer, *spec, RUN, &setup).await.expect("run");
            let steady = outcome.steady_fps.unwrap_or_default();
            // Every link but the 120 ms one leaves room under 80 ms; the smallest frames go over 4G.
            assert!(steady >= 10.0, "{}: {steady:.1} frames/s: {outcome:?}", spec.name);
            // Over 4G the round trip alone takes 60 of the 80 ms, so a loaded machine's scheduling
            // (the Python server shares the 2 cores) makes some frames stale whatever the client
            // sends: 10.5% seen once in CI with 1.4 KB frames. A client that did not fit its frames
            // gets most of them refused.
            let allowed = if spec.rtt() >= Duration::from_millis(50) { 0.25 } else { 0.08 };
            assert!(
                outcome.stale_share() <= allowed,
                "{}: {:.1}% stale: {outcome:?}",
                spec.name,
                100.0 * outcome.stale_share()
            );
        }
    });
}

/// Over the 120 ms link no frame can reach an original server within 80 ms: the client says
/// so once, with the fix, and sends only small probes instead of full frames.
#[test]
fn a_round_trip_beyond_the_servers_limit_is_named_and_only_probed() {
    let _alone = alone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = OriginalServer::start(false).expect("server");
    let link = runtime.block_on(Link::start(server.addr, LINKS[5])).expect("link");
    let child = Command::new(binary("nvt-client"))
        .args(["--connect", &link.addr.to_string(), "--source", "synthetic", "--duration", "10s"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("nvt-client");
    // The client stops itself after 10 s; a test that fails meanwhile still kills it.
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().expect("piped");
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = nvt_tests::harness::wait_exit(&mut guard, Duration::from_secs(20));
    assert!(status.success(), "{status}");
    let stderr = stderr.join().expect("reader");
    let seen = server.stop();
    let told: Vec<&str> = stderr.lines().filter(|l| l.contains("no frame can arrive in time")).collect();
    assert_eq!(told.len(), 1, "said once:\n{stderr}");
    assert!(told[0].contains("--max-lag auto"), "with the fix: {}", told[0]);
    let up = link.carried.up.load(Ordering::Relaxed);
    // A few full frames before it knows, then a probe every 3 s: far less than 30 frames/s.
    assert!(up < 1_000_000, "{up} bytes uploaded: {seen:?}");
    assert!(seen.exchanges <= 12, "{seen:?}");
}

/// What people see: the client's log says why frames were late, and the server's
/// `/api/clients` and `/metrics` show each client's round trip, upload time and stale reason.
#[test]
fn the_link_is_shown_on_both_ends() {
    exclusively(async {
        let dir = temp_dir("links-shown");
        for (rule, spec) in [
            (nvt_transport::MaxLag::Auto, LINKS[2]),
            (nvt_transport::MaxLag::Strict(Duration::from_millis(80)), LINKS[5]),
        ] {
            let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let web = http.local_addr().expect("addr");
            let server = TestServer::start(nvt_server::Config {
                max_lag: rule,
                http: Some(http),
                ..nvt_server::Config::default()
            })
            .await;
            let link = Link::start(server.addr, spec).await.expect("link");
            let log = dir.join("client.jsonl");
            let _ = std::fs::remove_file(&log);
            let mut config = nvt_client::Config::new(link.addr.to_string(), SourceSpec::Synthetic);
            config.duration = Some(Duration::from_secs(5));
            config.log =
                Some(std::sync::Arc::new(nvt_support::JsonLines::open(log.to_str().expect("utf8")).expect("log")));
            let client = tokio::spawn(nvt_client::run(config, CancellationToken::new()));
            tokio::time::sleep(Duration::from_secs(4)).await;
            let (_, _, clients) = http_get(web, "/api/clients", Duration::from_secs(2)).await;
            let clients: serde_json::Value = serde_json::from_slice(&clients).expect("JSON");
            let (_, _, metrics) = http_get(web, "/metrics", Duration::from_secs(2)).await;
            let metrics = String::from_utf8_lossy(&metrics).into_owned();
            client.await.expect("task").expect("client");
            server.stop().await;
            let view = &clients[0];
            let rtt = view["rtt_ms"].as_f64().unwrap_or_else(|| panic!("rtt_ms: {view}"));
            let link_rtt = spec.rtt().as_secs_f64() * 1000.0;
            assert!(rtt >= link_rtt && rtt <= link_rtt + 15.0, "{} round trip {rtt} ms: {view}", spec.name);
            assert!(view["upload_ms"].as_f64().is_some() && view["wait_ms"].as_f64().is_some(), "{view}");
            assert!(metrics.contains("nvt_camera_rtt_seconds{camera=\"127_0_0_1\"}"), "{metrics}");
            assert!(metrics.contains("nvt_camera_upload_seconds{camera=\"127_0_0_1\"}"), "{metrics}");
            let records = read_jsonl(&log);
            match rule {
                nvt_transport::MaxLag::Auto => {
                    assert_eq!(view["stale"], 0, "{view}");
                    let report = &records.last().expect("records")["response"]["link"];
                    assert_eq!(report["judged"], "wait", "the reply says how it was judged: {report}");
                }
                nvt_transport::MaxLag::Strict(_) => {
                    assert!(view["stale_link"].as_u64().is_some_and(|n| n > 0), "{view}");
                    assert!(
                        metrics.contains("nvt_camera_frames_stale_total{camera=\"127_0_0_1\",reason=\"link\"}"),
                        "{metrics}"
                    );
                    assert!(records.iter().any(|r| r["late"] == "link"), "the client's log says why");
                }
            }
        }
    });
}

/// On loopback the client sends what it always sent: quality 100 at the source's size, the
/// very bytes OpenCV encodes for the frame.
#[test]
fn on_loopback_the_quality_and_the_bytes_are_unchanged() {
    exclusively(async {
        let dir = temp_dir("links-loopback");
        let server = OriginalServer::start(false).expect("server");
        let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
        config.duration = Some(Duration::from_secs(3));
        let log = dir.join("client.jsonl");
        config.log = Some(std::sync::Arc::new(nvt_support::JsonLines::open(log.to_str().expect("utf8")).expect("log")));
        nvt_client::run(config, CancellationToken::new()).await.expect("client");
        let seen = tokio::task::spawn_blocking(move || server.stop()).await.expect("stop");
        let scene = Synthetic::new(640, 480).expect("scene");
        assert!(seen.first_frames.len() >= 5, "{seen:?}");
        for bytes in &seen.first_frames {
            let image = jpeg::decode(bytes, jpeg::DEFAULT_MAX_PIXELS).expect("decode");
            let stamp = Stamp::read(&image).expect("stamped");
            let frame = scene.render(u64::from(stamp.index), stamp.captured()).expect("render");
            assert!(*bytes == jpeg::encode(&frame.image, 100).expect("encode"), "frame {} differs", stamp.index);
        }
        let records = read_jsonl(&log);
        assert!(records.len() > 60, "{}", records.len());
        assert!(records.iter().all(|r| r["quality"] == 100 && r["width"] == 640 && r["height"] == 480));
    });
}

/// A server is a peer too: a reply whose link report holds numbers no server measures (a 1e30 ms
/// upload, a limit of 1e300) is ignored, and the client streams on.
#[test]
fn a_servers_impossible_link_report_is_ignored() {
    use nvt_transport::field::{parse_length, timestamp_field, FIELD_LEN};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    exclusively(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let reply = br#"{"seq":0,"detections":[],"link":{"judged":"lag","limit_ms":1e300,"rtt_ms":1e30,"upload_ms":1e30,"wait_ms":-5}}"#;
            let mut padded = reply.to_vec();
            padded.resize(1024, b' ');
            let mut answered = 0u32;
            loop {
                if sock.write_all(&timestamp_field(1.0e9 + f64::from(answered))).await.is_err() {
                    return answered;
                }
                let mut field = [0u8; FIELD_LEN];
                if sock.read_exact(&mut field).await.is_err() {
                    return answered;
                }
                let len = parse_length(&field, 1 << 24).expect("length");
                let mut rest = vec![0u8; len + FIELD_LEN];
                if sock.read_exact(&mut rest).await.is_err() {
                    return answered;
                }
                let mut answer = vec![b'1'];
                answer.extend_from_slice(&padded);
                if sock.write_all(&answer).await.is_err() {
                    return answered;
                }
                answered += 1;
            }
        });
        let mut config = nvt_client::Config::new(addr.to_string(), SourceSpec::Synthetic);
        config.duration = Some(Duration::from_secs(2));
        let summary = nvt_client::run(config, CancellationToken::new()).await.expect("the client runs to its end");
        let answered = server.await.expect("server");
        assert!(summary.accepted >= 20 && answered >= 20, "{summary:?}, {answered} answered");
        assert_eq!(summary.failures, 0, "no reconnect: {summary:?}");
    });
}
