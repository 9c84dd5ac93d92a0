//! A client and a server on the two ends of an emulated [`link`](crate::link), for a while, and
//! what came of it: the accepted frame rate, the share answered stale, the JPEG quality and size
//! the client chose, the age of processed frames and the bytes on the wire. The link tests and
//! `links-bench` both run their pairings through here.

use crate::harness::{free_port, quantiles, read_jsonl, TestServer};
use crate::link::{Link, LinkSpec};
use crate::original::{self, OriginalServer};
use nvt_capture::SourceSpec;
use nvt_support::JsonLines;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Who talks to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// nvt-client to nvt-server, both at their defaults.
    Nvt,
    /// The original client (as `user.py` behaves) to nvt-server.
    OriginalClient,
    /// nvt-client to an original server (as `server.py` behaves: the fixed 80 ms rule).
    OriginalServer,
    /// The article's own Python server and client.
    Article,
}

impl Pairing {
    /// Every pairing, in report order.
    pub const ALL: [Pairing; 4] = [Pairing::Nvt, Pairing::OriginalClient, Pairing::OriginalServer, Pairing::Article];

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Pairing::Nvt => "nvt-client → nvt-server",
            Pairing::OriginalClient => "original client → nvt-server",
            Pairing::OriginalServer => "nvt-client → original server",
            Pairing::Article => "article's server.py ↔ user.py",
        }
    }
}

/// What a run over a link did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The run's length in seconds.
    pub seconds: f64,
    /// Frames sent (every send, repeats included).
    pub sends: u64,
    /// Distinct frames accepted.
    pub accepted: u64,
    /// Distinct frames accepted per second after the first second (connection and learning),
    /// from the client's log (nvt-client only).
    pub steady_fps: Option<f64>,
    /// Sends answered stale.
    pub stale: u64,
    /// Median JPEG quality the client chose (nvt-client only).
    pub quality_p50: Option<f64>,
    /// Median frame width it chose (nvt-client only).
    pub width_p50: Option<f64>,
    /// Median JPEG size in bytes.
    pub bytes_p50: Option<f64>,
    /// Capture to detections (nvt-server) or to decoding (original server), in ms: p50, p95.
    pub age_ms: Option<(f64, f64)>,
    /// Bytes the link carried client to server, per second.
    pub up_bytes_per_s: f64,
    /// The client's own log records (nvt-client only).
    pub client_log: Option<PathBuf>,
    /// The server's log records (nvt-server only).
    pub server_log: Option<PathBuf>,
}

impl Outcome {
    /// Distinct frames accepted per second.
    pub fn accepted_fps(&self) -> f64 {
        self.accepted as f64 / self.seconds.max(1e-9)
    }

    /// The share of sends answered stale.
    pub fn stale_share(&self) -> f64 {
        self.stale as f64 / self.sends.max(1) as f64
    }

    /// One row of a Markdown table (see [`Outcome::HEADER`]).
    pub fn row(&self, link: &str) -> String {
        let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
        let (p50, p95) = self.age_ms.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        format!(
            "| {link} | {:.1} | {}/{} ({:.1}%) | {} | {} | {} | {} / {} | {:.2} |",
            self.accepted_fps(),
            self.stale,
            self.sends,
            100.0 * self.stale_share(),
            opt(self.quality_p50, 0),
            opt(self.width_p50, 0),
            opt(self.bytes_p50.map(|b| b / 1000.0), 1),
            opt(p50, 0),
            opt(p95, 0),
            self.up_bytes_per_s * 8.0 / 1e6,
        )
    }

    /// The header of [`Outcome::row`]'s table.
    pub const HEADER: &'static str = "| link | accepted frames/s | stale / sent | quality | width | JPEG KB | age p50 / p95 ms | upload Mbit/s |\n|---|---|---|---|---|---|---|---|";
}

/// Where a run finds its model and scratch space.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The detector nvt-server runs.
    pub model: PathBuf,
    /// A folder for logs and frames.
    pub dir: PathBuf,
    /// The repository's top, for the article's Python pair.
    pub root: PathBuf,
}

/// Runs `pairing` over `spec` for `length`.
pub async fn run(pairing: Pairing, spec: LinkSpec, length: Duration, setup: &Setup) -> anyhow::Result<Outcome> {
    match pairing {
        Pairing::Nvt => nvt_to_nvt(spec, length, setup).await,
        Pairing::OriginalClient => original_to_nvt(spec, length, setup).await,
        Pairing::OriginalServer => nvt_to_original(spec, length, setup).await,
        Pairing::Article => article(spec, length, setup).await,
    }
}

fn log_at(path: &Path) -> anyhow::Result<Arc<JsonLines>> {
    let _ = std::fs::remove_file(path);
    Ok(Arc::new(JsonLines::open(path.to_str().unwrap_or("-"))?))
}

async fn nvt_server(setup: &Setup, log: &Path) -> anyhow::Result<TestServer> {
    let detector = nvt_detect::Detector::load(&setup.model, nvt_detect::DetectorOptions::default())?;
    let config = nvt_server::Config { log: Some(log_at(log)?), detectors: vec![detector], ..Default::default() };
    Ok(TestServer::start(config).await)
}

fn nvt_client(addr: std::net::SocketAddr, length: Duration, log: &Path) -> anyhow::Result<nvt_client::Config> {
    let mut config = nvt_client::Config::new(addr.to_string(), SourceSpec::Synthetic);
    config.duration = Some(length);
    config.log = Some(log_at(log)?);
    Ok(config)
}

/// The client's choices, from its log: median quality, width and JPEG size of what it sent.
fn client_choices(log: &Path, outcome: &mut Outcome) {
    let records = read_jsonl(log);
    let pick = |key: &str| -> Option<f64> {
        let values: Vec<f64> = records.iter().filter_map(|r| r[key].as_f64()).collect();
        (!values.is_empty()).then(|| quantiles(values, &[0.5])[0])
    };
    outcome.quality_p50 = pick("quality");
    outcome.width_p50 = pick("width");
    outcome.bytes_p50 = pick("bytes");
    outcome.client_log = Some(log.to_owned());
    let start = records.first().and_then(|r| r["time"].as_f64()).unwrap_or(0.0) + 1.0;
    let end = records.last().and_then(|r| r["time"].as_f64()).unwrap_or(0.0);
    let mut frames: Vec<u64> = records
        .iter()
        .filter(|r| r["accepted"] == true && r["time"].as_f64().is_some_and(|t| t >= start))
        .filter_map(|r| r["frame"].as_u64())
        .collect();
    frames.dedup();
    if end > start + 1.0 {
        outcome.steady_fps = Some(frames.len() as f64 / (end - start));
    }
}

/// Capture-to-detections ages from nvt-server's log, skipping the first second (connection
/// start and learning).
fn server_ages(log: &Path, outcome: &mut Outcome) {
    let records = read_jsonl(log);
    let start = records.first().and_then(|r| r["time"].as_f64()).unwrap_or(0.0);
    let ages: Vec<f64> = records
        .iter()
        .filter(|r| r["time"].as_f64().is_some_and(|t| t - start >= 1.0))
        .filter_map(|r| r["stamp"]["age_ms"].as_f64())
        .collect();
    if !ages.is_empty() {
        let q = quantiles(ages, &[0.5, 0.95]);
        outcome.age_ms = Some((q[0], q[1]));
    }
    outcome.server_log = Some(log.to_owned());
}

async fn nvt_to_nvt(spec: LinkSpec, length: Duration, setup: &Setup) -> anyhow::Result<Outcome> {
    let (server_log, client_log) = (setup.dir.join("server.jsonl"), setup.dir.join("client.jsonl"));
    let server = nvt_server(setup, &server_log).await?;
    let link = Link::start(server.addr, spec).await?;
    let summary = nvt_client::run(nvt_client(link.addr, length, &client_log)?, CancellationToken::new()).await?;
    server.stop().await;
    let mut outcome = Outcome::of_client(&summary, length, &link);
    client_choices(&client_log, &mut outcome);
    server_ages(&server_log, &mut outcome);
    Ok(outcome)
}

impl Outcome {
    /// What nvt-client's run of `length` through `link` counted.
    fn of_client(summary: &nvt_client::Summary, length: Duration, link: &Link) -> Self {
        Outcome {
            seconds: length.as_secs_f64(),
            sends: summary.sent + summary.repeats,
            accepted: summary.accepted,
            stale: summary.stale,
            up_bytes_per_s: link.carried.up.load(Ordering::Relaxed) as f64 / length.as_secs_f64(),
            ..Outcome::default()
        }
    }
}

async fn original_to_nvt(spec: LinkSpec, length: Duration, setup: &Setup) -> anyhow::Result<Outcome> {
    let server_log = setup.dir.join("server.jsonl");
    let server = nvt_server(setup, &server_log).await?;
    let link = Link::start(server.addr, spec).await?;
    let options = original::ClientOptions { duration: length, ..original::ClientOptions::default() };
    let addr = link.addr;
    let report = tokio::task::spawn_blocking(move || original::run_client(addr, &options)).await??;
    server.stop().await;
    let mut outcome = Outcome {
        seconds: report.elapsed.as_secs_f64(),
        sends: report.exchanges,
        accepted: report.accepted,
        stale: report.timeouts,
        up_bytes_per_s: link.carried.up.load(Ordering::Relaxed) as f64 / report.elapsed.as_secs_f64().max(1e-9),
        ..Outcome::default()
    };
    server_ages(&server_log, &mut outcome);
    Ok(outcome)
}

async fn nvt_to_original(spec: LinkSpec, length: Duration, setup: &Setup) -> anyhow::Result<Outcome> {
    let client_log = setup.dir.join("client.jsonl");
    let server = OriginalServer::start(false)?;
    let link = Link::start(server.addr, spec).await?;
    let summary = nvt_client::run(nvt_client(link.addr, length, &client_log)?, CancellationToken::new()).await?;
    let seen = tokio::task::spawn_blocking(move || server.stop()).await?;
    let mut outcome = Outcome::of_client(&summary, length, &link);
    client_choices(&client_log, &mut outcome);
    if seen.ages_ms.len() > 2 {
        let q = quantiles(seen.ages_ms[2..].to_vec(), &[0.5, 0.95]);
        outcome.age_ms = Some((q[0], q[1]));
    }
    Ok(outcome)
}

/// The article's server.py and user.py (tests/python/original_pair.py) through the link; the
/// client's camera is a loop of PNG frames of the synthetic scene.
async fn article(spec: LinkSpec, length: Duration, setup: &Setup) -> anyhow::Result<Outcome> {
    let frames = setup.dir.join("frames");
    if !frames.is_dir() {
        std::fs::create_dir_all(&frames)?;
        let scene = nvt_capture::synthetic::Synthetic::new(640, 480)?;
        for i in 0..30u64 {
            let frame = scene.render(i, std::time::SystemTime::now())?;
            let path = frames.join(format!("{i:03}.png"));
            opencv::imgcodecs::imwrite(path.to_str().unwrap_or(""), &frame.image, &opencv::core::Vector::new())?;
        }
    }
    let python = setup.root.join(".venv/bin/python");
    let script = setup.root.join("tests/python/original_pair.py");
    let port = free_port();
    let secs = length.as_secs_f64().to_string();
    let mut server = Command::new(&python)
        .arg(&script)
        .args(["--role", "server", "--frames", "unused", "--port", &port.to_string(), "--seconds", &secs])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufReader::new(server.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
    anyhow::ensure!(lines.next().transpose()?.as_deref() == Some("ready"), "server.py did not start");
    let link = Link::start(([127, 0, 0, 1], port).into(), spec).await?;
    let mut client = Command::new(&python)
        .arg(&script)
        .args(["--role", "client", "--frames"])
        .arg(&frames)
        .args(["--port", &link.addr.port().to_string(), "--seconds", &secs])
        .stdout(Stdio::null())
        .spawn()?;
    let counts = tokio::task::spawn_blocking(move || lines.next().transpose()).await??;
    let _ = client.kill();
    let _ = client.wait();
    let _ = server.wait();
    let counts: serde_json::Value = serde_json::from_str(&counts.unwrap_or_default())?;
    let seconds = counts["seconds"].as_f64().unwrap_or(length.as_secs_f64());
    Ok(Outcome {
        seconds,
        sends: counts["exchanges"].as_u64().unwrap_or(0),
        accepted: counts["accepted"].as_u64().unwrap_or(0),
        stale: counts["timeouts"].as_u64().unwrap_or(0),
        up_bytes_per_s: link.carried.up.load(Ordering::Relaxed) as f64 / seconds.max(1e-9),
        ..Outcome::default()
    })
}
