//! `transport-bench`: the transport measured end to end on loopback, printed as a Markdown table
//! for docs/benchmarks.md. `make bench` runs it in release mode.
//!
//! Scenarios: the JPEG codec bound at 640x480 q100; our client and server unpaced; our client
//! against an original-style server at 30 fps; an original-style client against our server at
//! 30 fps; and the original pair itself, as the baseline.

use clap::Parser;
use nvt_capture::synthetic::Synthetic;
use nvt_capture::{jpeg, SourceSpec};
use nvt_support::JsonLines;
use nvt_tests::harness::{cpu_model, quantiles, read_jsonl, temp_dir, TestServer};
use nvt_tests::original::{self, ClientOptions, OriginalServer};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Seconds per streaming scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = Duration::from_secs(args.seconds);
    println!(
        "Machine: {}, {} cores. {} s per scenario, 640x480 synthetic frames, JPEG quality 100.\n",
        cpu_model(),
        num_cpus(),
        args.seconds
    );
    println!("| scenario | exchanges/s | accepted/s | decoded by the server/s | timeouts | RTT p50 / p95 (ms) |");
    println!("|---|---|---|---|---|---|");

    let (encode_ms, decode_ms, bytes) = codec_cost()?;
    let bound = 1000.0 / encode_ms.max(decode_ms);
    println!(
        "| codec bound: encode {encode_ms:.2} ms, decode {decode_ms:.2} ms, {} KB/frame | — | — | {bound:.1} | — | — |",
        bytes / 1000
    );

    let (rate, accepted, decoded, timeouts, p50, p95) = ours_to_ours(run, Some(0.0)).await?;
    println!(
        "| nvt-client → nvt-server, `--fps 0` | {rate:.1} | {accepted:.1} ({:.0}% of codec bound) | {decoded:.1} ({:.0}% of codec bound) | {timeouts} | {p50:.2} / {p95:.2} |",
        100.0 * accepted / bound,
        100.0 * decoded / bound
    );
    let (unpaced_accepted, unpaced_decoded) = (accepted, decoded);
    let mut python = Vec::new();
    let frames = python_frames()?;
    for (label, nodelay) in [("TCP_NODELAY on both sides", true), ("as published, no TCP_NODELAY", false)] {
        match python_pair(&frames, run, nodelay)? {
            Some(counts) => {
                let secs = counts["seconds"].as_f64().unwrap_or(1.0);
                let per_s = |key: &str| counts[key].as_f64().unwrap_or(0.0) / secs;
                println!(
                    "| the article's Python server and client, unpaced, {label} | {:.1} | {:.1} | {:.1} | {} | — |",
                    per_s("exchanges"),
                    per_s("accepted"),
                    per_s("decoded"),
                    counts["timeouts"]
                );
                python.push((label, per_s("accepted"), per_s("decoded")));
            }
            None => println!("| the article's Python pair, {label} | skipped: no .venv (run `make setup`) | | | | |"),
        }
    }
    let (rate, accepted, decoded, timeouts, p50, p95) = ours_to_ours(run, Some(30.0)).await?;
    println!("| nvt-client → nvt-server, 30 fps | {rate:.1} | {accepted:.1} | {decoded:.1} | {timeouts} | {p50:.2} / {p95:.2} |");

    let (rate, accepted, timeouts, p50, p95) = ours_to_original(run).await?;
    println!("| nvt-client → original-style server, 30 fps | {rate:.1} | {accepted:.1} | {accepted:.1} | {timeouts} | {p50:.2} / {p95:.2} |");

    let python_nodelay = python.first().map_or(f64::NAN, |p| p.1);
    let python_decoded = python.first().map_or(f64::NAN, |p| p.2);
    println!(
        "\nTarget 1: unpaced, nvt accepts {:.2}× and decodes {:.2}× the frames/s of the article's Python pair with \
         TCP_NODELAY (target ≥ 1), and decodes at {:.0}% of the codec bound (target ≥ 90%).\n",
        unpaced_accepted / python_nodelay,
        unpaced_decoded / python_decoded,
        100.0 * unpaced_decoded / bound
    );
    println!("| scenario | exchanges/s | accepted/s | decoded by the server/s | timeouts | RTT p50 / p95 (ms) |");
    println!("|---|---|---|---|---|---|");
    for (label, target_ours, nodelay) in [
        ("original-style client → nvt-server, 30 fps", true, false),
        ("original-style client → original-style server, 30 fps (baseline)", false, false),
        ("same, TCP_NODELAY on both sides", false, true),
    ] {
        let report = original_client(run, target_ours, nodelay).await?;
        let secs = report.elapsed.as_secs_f64();
        let (p50, p95) = percentiles(report.rtts.iter().map(|d| d.as_secs_f64() * 1000.0).collect());
        println!(
            "| {label} | {:.1} | {:.1} | — | {} ({:.0}%) | {p50:.2} / {p95:.2} |",
            report.exchanges as f64 / secs,
            report.accepted as f64 / secs,
            report.timeouts,
            100.0 * report.timeouts as f64 / report.exchanges.max(1) as f64
        );
    }
    Ok(())
}

fn codec_cost() -> anyhow::Result<(f64, f64, usize)> {
    let scene = Synthetic::new(640, 480)?;
    let frame = scene.render(0, SystemTime::now())?;
    let bytes = jpeg::encode(&frame.image, 100)?;
    for _ in 0..20 {
        jpeg::decode(&jpeg::encode(&frame.image, 100)?, jpeg::DEFAULT_MAX_PIXELS)?;
    }
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        jpeg::encode(&frame.image, 100)?;
    }
    let encode = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        jpeg::decode(&bytes, jpeg::DEFAULT_MAX_PIXELS)?;
    }
    let decode = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    Ok((encode, decode, bytes.len()))
}

async fn ours_to_ours(run: Duration, fps: Option<f64>) -> anyhow::Result<(f64, f64, f64, u64, f64, f64)> {
    let dir = temp_dir("bench-ours");
    let server = TestServer::start(nvt_server::Config::default()).await;
    let log = dir.join("client.jsonl");
    let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    config.fps = fps;
    config.duration = Some(run);
    config.log = Some(Arc::new(JsonLines::open(log.to_str().unwrap_or("-"))?));
    let summary = nvt_client::run(config, CancellationToken::new()).await?;
    let served = server.stop().await;
    let (p50, p95) = percentiles(read_jsonl(&log).iter().filter_map(|r| r["rtt_ms"].as_f64()).collect());
    let secs = run.as_secs_f64();
    let decoded = served.frames.processed as f64 / secs;
    Ok((summary.sent as f64 / secs, summary.accepted as f64 / secs, decoded, summary.stale, p50, p95))
}

async fn ours_to_original(run: Duration) -> anyhow::Result<(f64, f64, u64, f64, f64)> {
    let dir = temp_dir("bench-orig-server");
    let server = OriginalServer::start(false)?;
    let log = dir.join("client.jsonl");
    let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    config.fps = Some(30.0);
    config.duration = Some(run);
    config.log = Some(Arc::new(JsonLines::open(log.to_str().unwrap_or("-"))?));
    let summary = nvt_client::run(config, CancellationToken::new()).await?;
    let _ = tokio::task::spawn_blocking(move || server.stop()).await?;
    let (p50, p95) = percentiles(read_jsonl(&log).iter().filter_map(|r| r["rtt_ms"].as_f64()).collect());
    let secs = run.as_secs_f64();
    Ok((summary.sent as f64 / secs, summary.accepted as f64 / secs, summary.stale, p50, p95))
}

async fn original_client(run: Duration, ours: bool, nodelay: bool) -> anyhow::Result<original::ClientReport> {
    let options = ClientOptions { duration: run, nodelay, ..ClientOptions::default() };
    if ours {
        let server = TestServer::start(nvt_server::Config::default()).await;
        let addr = server.addr;
        let report = tokio::task::spawn_blocking(move || original::run_client(addr, &options)).await??;
        server.stop().await;
        Ok(report)
    } else {
        let server = OriginalServer::start(nodelay)?;
        let addr = server.addr;
        let report = tokio::task::spawn_blocking(move || original::run_client(addr, &options)).await??;
        let _ = tokio::task::spawn_blocking(move || server.stop()).await?;
        Ok(report)
    }
}

/// 30 frames of nvt's synthetic scene as PNG files, the camera of the article's Python client.
fn python_frames() -> anyhow::Result<std::path::PathBuf> {
    let dir = temp_dir("bench-python-frames");
    let scene = Synthetic::new(640, 480)?;
    for i in 0..30 {
        let frame = scene.render(i, SystemTime::now())?;
        opencv::imgcodecs::imwrite(dir.join(format!("{i:03}.png")), &frame.image, &opencv::core::Vector::new())?;
    }
    Ok(dir)
}

/// Runs the article's Python server and client (tests/python/original_pair.py) against each
/// other, unpaced, on the PNG frames in `frames`; `None` without the project's Python.
fn python_pair(frames: &std::path::Path, run: Duration, nodelay: bool) -> anyhow::Result<Option<serde_json::Value>> {
    let python = std::path::Path::new(".venv/bin/python");
    if !python.is_file() {
        return Ok(None);
    }
    let mut command = std::process::Command::new(python);
    command.arg("tests/python/original_pair.py").arg("--frames").arg(frames);
    command.args(["--seconds", &run.as_secs().to_string()]);
    if nodelay {
        command.arg("--nodelay");
    }
    let output = command.output()?;
    anyhow::ensure!(output.status.success(), "original_pair.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or("{}");
    Ok(Some(serde_json::from_str(line)?))
}

fn percentiles(values: Vec<f64>) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let q = quantiles(values, &[0.5, 0.95]);
    (q[0], q[1])
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
