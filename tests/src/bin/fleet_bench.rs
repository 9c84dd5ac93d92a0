//! The fleet on NATS: `cargo run --release -p nvt-tests --bin fleet-bench`.
//!
//! Starts its own nats-server (JetStream, 8 MB payloads) on a free loopback port, an ingest
//! nvt-server with `--nats`, single-thread nvt-workers and nvt-client processes streaming the
//! synthetic scene (640x480, JPEG quality 100), and reports:
//! - the NATS hop's cost per frame: the ingest's round trip minus the worker's own time (decode,
//!   fit, infer, post-process), p50 and p99, one camera at 10 fps, one worker;
//! - frames/s processed in all by 1, 2 and 3 workers, four unpaced cameras;
//! - the failover gap: three workers, four cameras at 10 fps, one worker killed (SIGKILL); the
//!   longest a camera then went without a processed frame, against the request deadline.

use clap::Parser;
use nvt_tests::harness::{
    binary, cpu_model, free_port, quantiles, read_jsonl, spawn, temp_dir, wait_for_port, ChildGuard,
};
use nvt_tests::nats::NatsServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Seconds each measurement streams.
    #[arg(long, default_value_t = 15)]
    seconds: u32,
    /// The model the workers run.
    #[arg(long, default_value = "models/shapes.onnx")]
    model: String,
}

struct Setup {
    dir: PathBuf,
    _nats: NatsServer,
    url: String,
    server: ChildGuard,
    listen: String,
    workers: Vec<ChildGuard>,
}

impl Setup {
    fn start(name: &str, workers: usize, model: &str) -> Self {
        let dir = temp_dir(name);
        let nats = NatsServer::start(&dir.join("nats"), 8 << 20);
        let url = nats.url();
        let listen = format!("127.0.0.1:{}", free_port());
        let log = dir.join("server.jsonl").display().to_string();
        let server = spawn("nvt-server", &["--listen", &listen, "--nats", &url, "--log", &log]);
        wait_for_port(listen.parse().expect("addr"), Duration::from_secs(30));
        let workers = (0..workers)
            .map(|_| spawn("nvt-worker", &["--nats", &url, "--model", model, "--threads", "1", "--workers", "1"]))
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        Self { dir, _nats: nats, url, server, listen, workers }
    }

    fn stream(&self, cameras: usize, fps: &str, seconds: u32) -> Vec<std::process::Child> {
        (0..cameras)
            .map(|_| {
                std::process::Command::new(binary("nvt-client"))
                    .args(["--connect", &self.listen, "--source", "synthetic", "--fps", fps])
                    .args(["--duration", &format!("{seconds}s")])
                    .env("RUST_LOG", "error")
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("client")
            })
            .collect()
    }

    fn records(&self) -> Vec<Value> {
        read_jsonl(&self.dir.join("server.jsonl"))
    }

    fn stop(mut self) -> Vec<Value> {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.server.0.id().to_string()]).status();
        let _ = self.server.0.wait();
        drop(std::mem::take(&mut self.workers));
        let _ = &self.url;
        self.records()
    }
}

fn wait_all(children: Vec<std::process::Child>) {
    for mut child in children {
        let _ = child.wait();
    }
}

fn main() {
    let args = Args::parse();
    let model = Path::new(&args.model).canonicalize().expect("model").display().to_string();
    println!("machine: {} ({} cores)", cpu_model(), std::thread::available_parallelism().map_or(1, |n| n.get()));

    // The hop: one camera at 10 fps, one worker, nothing queued.
    let setup = Setup::start("fleet-bench-hop", 1, &model);
    wait_all(setup.stream(1, "10", args.seconds));
    let records = setup.stop();
    let hop: Vec<f64> = records
        .iter()
        .filter_map(|r| Some(r["remote"]["round_trip_ms"].as_f64()? - r["remote"]["worker_ms"].as_f64()?))
        .collect();
    let worker: Vec<f64> = records.iter().filter_map(|r| r["remote"]["worker_ms"].as_f64()).collect();
    let (h, w) = (quantiles(hop.clone(), &[0.5, 0.99]), quantiles(worker, &[0.5, 0.99]));
    println!(
        "NATS hop per 640x480 q100 frame (round trip minus the worker's time), {} frames: p50 {:.2} ms, p99 {:.2} ms (the worker's own time: p50 {:.2} ms, p99 {:.2} ms)",
        hop.len(), h[0], h[1], w[0], w[1]
    );

    // Throughput: four unpaced cameras, 1, 2 and 3 workers.
    for workers in 1..=3 {
        let setup = Setup::start(&format!("fleet-bench-{workers}"), workers, &model);
        let settle = 2;
        wait_all(setup.stream(4, "0", args.seconds + settle));
        let records = setup.stop();
        let start = records.first().and_then(|r| r["time"].as_f64()).unwrap_or(0.0) + f64::from(settle);
        let end = records.last().and_then(|r| r["time"].as_f64()).unwrap_or(0.0);
        let counted = records.iter().filter(|r| r["time"].as_f64().is_some_and(|t| t >= start)).count();
        let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
        for r in &records {
            *per_worker.entry(r["remote"]["worker"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        println!(
            "{workers} single-thread worker(s), 4 unpaced cameras: {:.1} frames/s processed in all (shares: {:?})",
            counted as f64 / (end - start).max(1e-9),
            per_worker.values().collect::<Vec<_>>()
        );
    }

    // Failover: three workers, four cameras at 10 fps, one worker killed mid-stream.
    let mut setup = Setup::start("fleet-bench-failover", 3, &model);
    let clients = setup.stream(4, "10", args.seconds);
    std::thread::sleep(Duration::from_secs(u64::from(args.seconds) / 2));
    let killed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    drop(setup.workers.remove(0));
    wait_all(clients);
    let records = setup.stop();
    let mut by_camera: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &records {
        by_camera
            .entry(r["source"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(r["time"].as_f64().unwrap_or(0.0));
    }
    let gap_of = |times: &Vec<f64>, from: f64, to: f64| {
        let window: Vec<f64> = times.iter().copied().filter(|t| (from..to).contains(t)).collect();
        window.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
    };
    let after: Vec<f64> = by_camera.values().map(|t| gap_of(t, killed_at - 1.0, killed_at + 5.0)).collect();
    let before: Vec<f64> = by_camera.values().map(|t| gap_of(t, killed_at - 6.0, killed_at - 1.0)).collect();
    let deadlines: Vec<f64> = records
        .iter()
        .filter(|r| r["time"].as_f64().is_some_and(|t| (killed_at - 5.0..killed_at + 5.0).contains(&t)))
        .filter_map(|r| r["remote"]["deadline_ms"].as_f64())
        .collect();
    let deadline = quantiles(deadlines, &[0.5])[0];
    println!(
        "failover: a worker killed mid-stream; the longest gap between processed frames of a camera in the 5 s after: {:.0} ms (cameras: {:?} ms); in the 5 s before: {:.0} ms; the request deadline then (median): {:.0} ms",
        after.iter().copied().fold(0.0, f64::max) * 1000.0,
        after.iter().map(|g| (g * 1000.0).round()).collect::<Vec<_>>(),
        before.iter().copied().fold(0.0, f64::max) * 1000.0,
        deadline
    );
}
