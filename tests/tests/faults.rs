//! Faults with the real binaries: the server killed and restarted, a client killed mid-stream,
//! an unwritable log, and logs that stay whole through SIGTERM and SIGKILL.

use nvt_tests::harness::{binary, free_port, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port, ChildGuard};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64()
}

fn signal(child: &ChildGuard, name: &str) {
    Command::new("kill").args([&format!("-{name}"), &child.0.id().to_string()]).status().expect("kill");
}

fn client(addr: &str, log: &Path) -> ChildGuard {
    spawn(
        "nvt-client",
        &["--connect", addr, "--source", "synthetic", "--reconnect-max", "1s", "--log", log.to_str().expect("utf8")],
    )
}

/// The first accepted exchange after `after` in a client's log, waiting up to 20 s for one.
fn first_accepted_after(log: &Path, after: f64) -> f64 {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = read_jsonl(log)
            .iter()
            .filter(|r| r["accepted"] == true)
            .filter_map(|r| r["time"].as_f64())
            .find(|&t| t > after);
        if let Some(t) = found {
            return t;
        }
        assert!(std::time::Instant::now() < until, "{} never resumed within 20 s", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clients_resume_within_seconds_after_the_server_is_killed_and_restarted() {
    let dir = temp_dir("fault-restart");
    let addr = format!("127.0.0.1:{}", free_port());
    let server = spawn("nvt-server", &["--listen", &addr]);
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(10));
    let clients: Vec<_> = (0..3).map(|i| client(&addr, &dir.join(format!("c{i}.jsonl")))).collect();
    std::thread::sleep(Duration::from_millis(1500));

    signal(&server, "KILL");
    drop(server);
    std::thread::sleep(Duration::from_millis(500));
    let restarted = now();
    let _server = spawn("nvt-server", &["--listen", &addr]);
    // Each client resumes by itself: its backoff is capped at 1 s here, so it is back within a
    // few attempts; how fast on a quiet machine is the soak's figure (docs/reliability.md).
    for i in 0..clients.len() {
        first_accepted_after(&dir.join(format!("c{i}.jsonl")), restarted);
    }
    for c in &clients {
        signal(c, "TERM");
    }
    for (i, mut c) in clients.into_iter().enumerate() {
        assert!(wait_exit(&mut c, Duration::from_secs(10)).success(), "client {i} exits 0 on SIGTERM");
        let records = read_jsonl(&dir.join(format!("c{i}.jsonl")));
        assert!(records.iter().any(|r| r["time"].as_f64().expect("t") < restarted - 0.5), "client {i} streamed before");
    }
}

#[test]
fn killing_a_client_mid_stream_does_not_disturb_the_other() {
    let dir = temp_dir("fault-client");
    let addr = format!("127.0.0.1:{}", free_port());
    // A server that waited on the dead client would stall for its read timeout: 5 s here.
    let mut server = spawn("nvt-server", &["--listen", &addr, "--read-timeout", "5s"]);
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(10));
    let victim = client(&addr, &dir.join("victim.jsonl"));
    let mut survivor = client(&addr, &dir.join("survivor.jsonl"));
    std::thread::sleep(Duration::from_millis(1500));
    let killed = now();
    signal(&victim, "KILL");
    drop(victim);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&survivor, "TERM");
    assert!(wait_exit(&mut survivor, Duration::from_secs(10)).success());

    let times: Vec<f64> = read_jsonl(&dir.join("survivor.jsonl"))
        .iter()
        .filter(|r| r["accepted"] == true)
        .map(|r| r["time"].as_f64().expect("t"))
        .collect();
    assert!(times.iter().any(|&t| t > killed + 1.0), "the survivor kept streaming");
    let worst_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(worst_gap < 2.5, "no stall in the survivor's stream: worst gap {worst_gap:.3} s");
    assert!(server.0.try_wait().expect("wait").is_none(), "the server is still running");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());
}

#[test]
fn an_unwritable_log_is_a_clear_error_at_start_up() {
    for (name, extra) in
        [("nvt-server", vec!["--listen", "127.0.0.1:0"]), ("nvt-client", vec!["--source", "synthetic"])]
    {
        let out = Command::new(binary(name))
            .args(&extra)
            .args(["--log", "/nonexistent-dir/records.jsonl"])
            .output()
            .expect("run");
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot open log file") && err.contains("/nonexistent-dir/records.jsonl"),
            "{name}: {err}"
        );
    }
}

#[test]
fn log_records_stay_whole_through_sigterm_and_sigkill() {
    for sig in ["TERM", "KILL"] {
        let dir = temp_dir(&format!("fault-log-{sig}"));
        let log = dir.join("server.jsonl");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut server = spawn("nvt-server", &["--listen", &addr, "--log", log.to_str().expect("utf8")]);
        wait_for_port(addr.parse().expect("addr"), Duration::from_secs(10));
        let streams: Vec<_> = (0..2)
            .map(|_| {
                spawn("nvt-client", &["--connect", &addr, "--source", "synthetic", "--fps", "0", "--size", "320x240"])
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        signal(&server, sig);
        let status = wait_exit(&mut server, Duration::from_secs(10));
        if sig == "TERM" {
            assert!(status.success(), "SIGTERM: clean exit 0");
        }
        drop(streams);
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.ends_with('\n'), "{sig}: the last line is whole");
        let records = read_jsonl(&log); // panics on a torn line
        assert!(records.len() > 20, "{sig}: {} records", records.len());
    }
}
