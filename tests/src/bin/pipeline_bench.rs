//! `pipeline-bench`: the server with a model, under load, on loopback; `make bench` runs it and
//! its Markdown goes into docs/benchmarks.md. The server is the real `nvt-server` binary in a
//! process of its own (so its memory is its own); clients stream the synthetic scene at 30 fps.
//!
//! - Overload: one client against a detector that manages about 20 frames/s. Latency (last byte
//!   in → detections ready) per minute against the median inference time, and the share of
//!   time the inference worker spent waiting for a frame.
//! - Many clients: one client, then eight at once; processed frames/s per client and in total.
//! - Memory: the server's resident memory with the model loaded, with one client and with
//!   eight, and so the cost of each client beyond the first.

use clap::Parser;
use nvt_capture::SourceSpec;
use nvt_tests::harness::{
    binary, cpu_model, cpu_seconds, free_port, http_get, quantiles, read_jsonl, temp_dir, wait_for_port, ChildGuard,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Seconds of the overload run (reported minute by minute).
    #[arg(long, default_value_t = 180)]
    overload_seconds: u64,
    /// Model of the overload run: about 20 frames/s here.
    #[arg(long, default_value = "models/yolov8n-448-random.onnx")]
    overload_model: PathBuf,
    /// Seconds of each many-clients run.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Model of the many-clients and memory runs.
    #[arg(long, default_value = "models/yolov8n-random.onnx")]
    model: PathBuf,
    /// Server flags to compare in the many-clients runs, one string each.
    #[arg(long, default_values_t = ["".to_owned(), "--workers 2 --threads 1".to_owned()])]
    configs: Vec<String>,
    /// Run only these parts: overload, clients.
    #[arg(long, default_values_t = ["overload".to_owned(), "clients".to_owned()])]
    parts: Vec<String>,
}

/// Records of the first seconds (sessions warming up, clients connecting) are left out.
const SETTLE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Machine: {}, {cores} cores. Clients stream 640x480 synthetic frames at 30 fps, JPEG quality 100.",
        cpu_model()
    );
    if args.parts.iter().any(|p| p == "overload") {
        overload(&args.overload_model, Duration::from_secs(args.overload_seconds)).await?;
    }
    if args.parts.iter().any(|p| p == "clients") {
        for flags in &args.configs {
            many_clients(&args.model, flags, Duration::from_secs(args.seconds)).await?;
        }
    }
    Ok(())
}

/// A `nvt-server` process with a model, a log and `/metrics`.
struct Server {
    process: ChildGuard,
    addr: SocketAddr,
    http: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(model: &Path, flags: &str, dir: &Path) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = dir.join("server.jsonl");
        let child = Command::new(binary("nvt-server"))
            .args(["--listen", &addr.to_string(), "--http", &http.to_string(), "--no-watch"])
            .args(["--stats-every", "1h", "--log"])
            .arg(&log)
            .arg("--model")
            .arg(model)
            .args(flags.split_whitespace())
            .env("RUST_LOG", "warn")
            .spawn()?;
        let process = ChildGuard(child);
        wait_for_port(addr, Duration::from_secs(60));
        Ok(Self { process, addr, http, log })
    }

    fn rss_mib(&self) -> f64 {
        let (kib, _) = nvt_server::stats::process_usage_of(&self.process.0.id().to_string());
        kib as f64 / 1024.0
    }

    /// The sum of a series in `/metrics` (every label).
    async fn metric(&self, name: &str) -> f64 {
        let (_, _, body) = http_get(self.http, "/metrics", Duration::from_secs(2)).await;
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Time the inference workers spent waiting and busy so far, in seconds.
    async fn idle_busy(&self) -> (f64, f64) {
        (self.metric("nvt_detector_idle_seconds_total").await, self.metric("nvt_detector_busy_seconds_total").await)
    }
}

/// Streams `n` synthetic clients at `fps` for `run`.
async fn stream(addr: SocketAddr, n: usize, fps: f64, run: Duration) -> anyhow::Result<()> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let mut config = nvt_client::Config::new(addr.to_string(), SourceSpec::Synthetic);
            config.fps = Some(fps);
            config.duration = Some(run);
            tokio::spawn(nvt_client::run(config, CancellationToken::new()))
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn field(record: &Value, path: &[&str]) -> f64 {
    path.iter().fold(record, |v, key| &v[*key]).as_f64().unwrap_or(f64::NAN)
}

fn quantile(values: Vec<f64>, q: f64) -> f64 {
    quantiles(values, &[q])[0]
}

async fn overload(model: &Path, run: Duration) -> anyhow::Result<()> {
    let dir = temp_dir("pipeline-bench-overload");
    let server = Server::start(model, "", &dir)?;
    let started = now();
    let measure = async {
        tokio::time::sleep(SETTLE).await;
        let first = server.idle_busy().await;
        tokio::time::sleep(run.saturating_sub(SETTLE + Duration::from_secs(1))).await;
        let last = server.idle_busy().await;
        (last.0 - first.0, last.1 - first.1)
    };
    let (streamed, (idle, busy)) = tokio::join!(stream(server.addr, 1, 30.0, run), measure);
    streamed?;
    drop(server.process);
    let records: Vec<Value> =
        read_jsonl(&server.log).into_iter().filter(|r| field(r, &["time"]) >= started + SETTLE.as_secs_f64()).collect();
    println!("\n### Overload: one 30 fps client, `{}`, default flags\n", model.display());
    println!("| minute | frames processed/s | inference median (ms) | latency p50 (ms) | latency p99 (ms) | p99 / median inference (target ≤ 3) |");
    println!("|---|---|---|---|---|---|");
    let mut minutes: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        minutes.entry(((field(r, &["time"]) - started) / 60.0) as u64).or_default().push(r);
    }
    let row = |label: String, rs: &[&Value], seconds: f64| {
        let infer = quantile(rs.iter().map(|r| field(r, &["timings_ms", "infer"])).collect(), 0.5);
        let latency: Vec<f64> = rs.iter().map(|r| field(r, &["latency_ms"])).collect();
        let (p50, p99) = (quantile(latency.clone(), 0.5), quantile(latency, 0.99));
        println!(
            "| {label} | {:.1} | {infer:.1} | {p50:.1} | {p99:.1} | {:.2} |",
            rs.len() as f64 / seconds,
            p99 / infer
        );
    };
    let span = |rs: &[&Value]| {
        let times: Vec<f64> = rs.iter().map(|r| field(r, &["time"])).collect();
        times.iter().copied().fold(f64::MIN, f64::max) - times.iter().copied().fold(f64::MAX, f64::min)
    };
    for (minute, rs) in &minutes {
        row(format!("{}", minute + 1), rs, span(rs).max(1.0));
    }
    let all: Vec<&Value> = records.iter().collect();
    row("all".into(), &all, span(&all).max(1.0));
    let decode = quantile(records.iter().map(|r| field(r, &["timings_ms", "decode"])).collect(), 0.5);
    let prep = quantile(records.iter().map(|r| field(r, &["timings_ms", "preprocess"])).collect(), 0.5);
    println!(
        "\nInference worker: busy {busy:.1} s, waiting {idle:.2} s ({:.2}% idle) over the measured span; \
         decode {decode:.2} ms and preprocess {prep:.2} ms (median) ran on the preparer thread, overlapped.",
        100.0 * idle / (idle + busy).max(1e-9)
    );
    Ok(())
}

async fn many_clients(model: &Path, flags: &str, run: Duration) -> anyhow::Result<()> {
    let dir = temp_dir("pipeline-bench-clients");
    // Clients below 12.5 fps fail the classic 80 ms freshness check by design (the echo waits for
    // the next frame), so the slow clients here need a longer one.
    let server = Server::start(model, &format!("--max-lag 1s {flags}"), &dir)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = server.rss_mib();
    let single = measure(&server, 1, 30.0, run).await?;
    let eight = measure(&server, 8, 30.0, run).await?;
    let shared = measure(&server, 8, 30.0 / 8.0, run).await?;
    drop(server.process);

    let label = if flags.is_empty() { "default flags".to_owned() } else { format!("`{flags}`") };
    println!("\n### Many clients: `{}`, {label}\n", model.display());
    println!("| clients × fps each | processed frames/s per client | mean | largest deviation from the mean (target ≤ 15%) | total | total / one client's (target ≥ 90%) | CPU: server / clients (cores) | processed per server CPU-second | server RSS: median / peak (MiB) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let one = single.rates.first().copied().unwrap_or(0.0);
    for (label, m) in [("1 × 30", &single), ("8 × 30", &eight), ("8 × 3.75", &shared)] {
        let total: f64 = m.rates.iter().sum();
        let mean = total / m.rates.len().max(1) as f64;
        let spread = m.rates.iter().map(|r| (r - mean).abs() / mean * 100.0).fold(0.0, f64::max);
        println!(
            "| {label} | {} | {mean:.2} | {spread:.1}% | {total:.2} | {:.0}% | {:.2} / {:.2} | {:.2} | {:.0} / {:.0} |",
            m.rates.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
            100.0 * total / one,
            m.server_cores,
            m.client_cores,
            total / m.server_cores,
            m.rss_median,
            m.rss_peak
        );
    }
    println!(
        "\nServer memory: {loaded:.0} MiB with the model loaded and no client; with clients, the median of \
         samples every 0.5 s, and the peak (VmHWM) so far. Eight clients cost {:.1} MiB more than one \
         (median to median): {:.1} MiB per client beyond the first.",
        eight.rss_median - single.rss_median,
        (eight.rss_median - single.rss_median) / 7.0
    );
    Ok(())
}

/// What one many-clients run measured.
struct Measured {
    /// Processed frames/s of each client over the measured span.
    rates: Vec<f64>,
    /// CPU time over the run divided by its length: the server's, and this process's (the clients).
    server_cores: f64,
    client_cores: f64,
    rss_median: f64,
    rss_peak: f64,
}

/// Streams `n` clients at `fps` for `run`, sampling the server's memory as it goes.
async fn measure(server: &Server, n: usize, fps: f64, run: Duration) -> anyhow::Result<Measured> {
    let started = now();
    let pid = server.process.0.id().to_string();
    let cpu_before = (cpu_seconds(&pid), cpu_seconds("self"));
    let sample = async {
        let mut samples = Vec::new();
        tokio::time::sleep(SETTLE).await;
        while now() < started + run.as_secs_f64() - 1.0 {
            samples.push(server.rss_mib());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        samples
    };
    let (streamed, samples) = tokio::join!(stream(server.addr, n, fps, run), sample);
    streamed?;
    let elapsed = now() - started;
    let (from, to) = (started + SETTLE.as_secs_f64(), started + run.as_secs_f64() - 1.0);
    let mut per: BTreeMap<String, f64> = BTreeMap::new();
    for r in read_jsonl(&server.log) {
        let t = field(&r, &["time"]);
        if t >= from && t < to {
            *per.entry(r["source"].as_str().unwrap_or("?").to_owned()).or_default() += 1.0;
        }
    }
    Ok(Measured {
        rates: per.into_values().map(|count| count / (to - from)).collect(),
        server_cores: (cpu_seconds(&pid) - cpu_before.0) / elapsed,
        client_cores: (cpu_seconds("self") - cpu_before.1) / elapsed,
        rss_median: quantile(samples, 0.5),
        rss_peak: status_kib(&pid, "VmHWM:") as f64 / 1024.0,
    })
}

fn status_kib(pid: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
