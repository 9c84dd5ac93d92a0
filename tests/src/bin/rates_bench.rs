//! `rates-bench`: nvt-client at every source rate from 0.5 to 60 frames/s against three servers:
//! nvt-server, an original-style server (Rust, the article's `server.py` exchange byte for byte)
//! and the article's own Python `server.py`. For each: the share of the source's distinct frames
//! that were accepted, repeats per second, the round trip, and the bytes per second on the wire
//! against the source's own JPEG bytes per second. Printed as Markdown for docs/benchmarks.md.

use clap::Parser;
use nvt_capture::SourceSpec;
use nvt_client::Summary;
use nvt_support::JsonLines;
use nvt_tests::harness::{cpu_model, free_port, quantiles, read_jsonl, temp_dir, TestServer};
use nvt_tests::original::OriginalServer;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Frames per run, at least (a run also lasts at least --min-seconds).
    #[arg(long, default_value_t = 20.0)]
    frames: f64,
    /// Shortest run.
    #[arg(long, default_value_t = 10.0)]
    min_seconds: f64,
    /// Source rates to run.
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,2,5,10,15,30,60")]
    rates: Vec<f64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nvt,
    OriginalStyle,
    ArticlePython,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Nvt => "nvt-server",
            Kind::OriginalStyle => "original-style server (Rust)",
            Kind::ArticlePython => "the article's server.py (Python)",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "Machine: {}, {} cores. nvt-client, synthetic 640x480 source, JPEG quality 100; each run lasts \
         max({}, {} frames) seconds.\n",
        cpu_model(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.min_seconds,
        args.frames
    );
    println!(
        "| server | source fps | distinct frames | accepted share | repeats/s | stale | RTT p50 / p99 (ms) | wire MB/s | source MB/s | wire ÷ source |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for kind in [Kind::Nvt, Kind::OriginalStyle, Kind::ArticlePython] {
        if kind == Kind::ArticlePython && !std::path::Path::new(".venv/bin/python").is_file() {
            println!("| {} | skipped: no .venv (run `make setup`) | | | | | | | | |", kind.label());
            continue;
        }
        for &fps in &args.rates {
            let seconds = (args.frames / fps).max(args.min_seconds);
            let (summary, rtts) = run(kind, fps, Duration::from_secs_f64(seconds)).await?;
            let q = if rtts.is_empty() { vec![0.0, 0.0] } else { quantiles(rtts, &[0.5, 0.99]) };
            let mb = |bytes: u64| bytes as f64 / seconds / 1e6;
            println!(
                "| {} | {fps} | {} | {:.1}% | {:.2} | {} | {:.2} / {:.2} | {:.2} | {:.2} | {:.2} |",
                kind.label(),
                summary.captured,
                100.0 * summary.accepted as f64 / summary.captured.max(1) as f64,
                summary.repeats as f64 / seconds,
                summary.stale,
                q[0],
                q[1],
                mb(summary.wire_bytes),
                mb(summary.captured_bytes),
                summary.wire_bytes as f64 / summary.captured_bytes.max(1) as f64
            );
        }
    }
    Ok(())
}

/// One run of nvt-client at `fps` for `length` against a server of `kind`.
async fn run(kind: Kind, fps: f64, length: Duration) -> anyhow::Result<(Summary, Vec<f64>)> {
    let dir = temp_dir("rates-bench");
    let log = dir.join(format!("client-{fps}.jsonl"));
    let client = |addr: SocketAddr| -> anyhow::Result<nvt_client::Config> {
        let mut config = nvt_client::Config::new(addr.to_string(), SourceSpec::Synthetic);
        config.fps = Some(fps);
        config.jpeg_quality = 100;
        config.duration = Some(length);
        config.log = Some(Arc::new(JsonLines::open(log.to_str().unwrap_or("-"))?));
        Ok(config)
    };
    let summary = match kind {
        Kind::Nvt => {
            let server = TestServer::start(nvt_server::Config::default()).await;
            let summary = nvt_client::run(client(server.addr)?, CancellationToken::new()).await?;
            server.stop().await;
            summary
        }
        Kind::OriginalStyle => {
            let server = OriginalServer::start(false)?;
            let summary = nvt_client::run(client(server.addr)?, CancellationToken::new()).await?;
            let _ = tokio::task::spawn_blocking(move || server.stop()).await?;
            summary
        }
        Kind::ArticlePython => {
            let port = free_port();
            let mut server = Command::new(".venv/bin/python")
                .args(["tests/python/original_pair.py", "--role", "server", "--frames", "unused"])
                .args(["--port", &port.to_string(), "--seconds", &(length.as_secs_f64() + 2.0).to_string()])
                .stdout(Stdio::piped())
                .spawn()?;
            let mut lines = std::io::BufReader::new(server.stdout.take().expect("piped")).lines();
            anyhow::ensure!(lines.next().transpose()?.as_deref() == Some("ready"), "server.py did not start");
            let summary = nvt_client::run(client(([127, 0, 0, 1], port).into())?, CancellationToken::new()).await?;
            let _ = server.kill();
            let _ = server.wait();
            summary
        }
    };
    let rtts = read_jsonl(&log).iter().filter_map(|r| r["rtt_ms"].as_f64()).collect();
    Ok((summary, rtts))
}
