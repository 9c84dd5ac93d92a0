//! `camera-bench`: the camera page in headless Chromium (a fake camera playing the synthetic
//! scene at 30 frames/s) against nvt-client streaming the same scene at 30 frames/s, each alone
//! against nvt-server with models/shapes.onnx on loopback, at 640x480 and 1280x720. Frames/s is
//! what the server accepted (its `/api/clients`), the same count for both; the round trip is
//! each sender's own (the page's, frame sent to verdict read; nvt-client's log, `rtt_ms`: the
//! same span). With `--with-4g`, each also over the emulated 4G uplink, where both fit their
//! frames to the link. Printed as Markdown for docs/benchmarks.md.

use clap::Parser;
use nvt_capture::SourceSpec;
use nvt_detect::{Detector, DetectorOptions};
use nvt_support::JsonLines;
use nvt_tests::browser::{fake_camera, Browser};
use nvt_tests::harness::{cpu_model, http_get, read_jsonl, temp_dir, TestServer};
use nvt_tests::link::{Link, LinkSpec, LINKS};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Seconds measured per run (after 4 s of warming up).
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// Also run each over the emulated 4G uplink (5 Mbit/s, 60 ms; `nvt_tests::link`).
    #[arg(long)]
    with_4g: bool,
}

/// What one run measured.
struct Outcome {
    /// The JPEG quality and width of the last frame sent.
    sent: String,
    fps: f64,
    rtt_p50: f64,
    rtt_p95: f64,
    latency_p50: f64,
    stale: u64,
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx")
}

async fn server() -> anyhow::Result<(TestServer, SocketAddr)> {
    let http = std::net::TcpListener::bind("127.0.0.1:0")?;
    let web = http.local_addr()?;
    let config = nvt_server::Config {
        detectors: vec![Detector::load(&model(), DetectorOptions::default())?],
        http: Some(http),
        ..nvt_server::Config::default()
    };
    Ok((TestServer::start(config).await, web))
}

/// The one client's entry in `/api/clients`.
async fn client(web: SocketAddr) -> Value {
    let (_, _, body) = http_get(web, "/api/clients", Duration::from_secs(3)).await;
    serde_json::from_slice::<Vec<Value>>(&body).ok().and_then(|list| list.into_iter().next()).unwrap_or_default()
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// Frames accepted per second over `seconds`, after a warm-up, from the server's count; and the
/// server's entry at the end.
async fn window(web: SocketAddr, seconds: f64) -> (f64, Value) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let start = client(web).await["frames_in"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let end = client(web).await;
    let frames = end["frames_in"].as_u64().unwrap_or(0).saturating_sub(start);
    (frames as f64 / seconds, end)
}

async fn page(dir: &Path, (w, h): (u32, u32), seconds: f64, link: Option<LinkSpec>) -> anyhow::Result<Outcome> {
    let scene = dir.join(format!("scene-{w}x{h}.mjpeg"));
    let frames = ((seconds + 10.0) * 30.0) as u64;
    nvt_tests::fake_camera::write_scene(&scene, (w, h), frames)?;
    let (server, web) = server().await?;
    // Through the link, on 127.0.0.2 with the web view's own port, so that the Host the
    // browser sends names this server.
    let near = SocketAddr::from(([127, 0, 0, 2], web.port()));
    let _link = match link {
        Some(spec) => Some(Link::start_at(near, web, spec).await?),
        None => None,
    };
    let at = if link.is_some() { near } else { web };
    let browser = Browser::launch(dir, &fake_camera(&scene));
    let mut page = browser.open(&format!("http://{at}/camera?name=bench&size={w}x{h}")).await;
    // The page's round trips, every exchange's (the page keeps its last 30), gathered in the page
    // once the warm-up is over.
    page.wait_for("document.body.dataset.state === 'streaming'", Duration::from_secs(20)).await;
    page.eval(
        "window.rtts = []; setTimeout(() => { let seen = stats.exchanges; setInterval(() => { \
         const fresh = Math.min(stats.exchanges - seen, stats.rtts.length); seen = stats.exchanges; \
         if (fresh > 0) window.rtts.push(...stats.rtts.slice(-fresh)); }, 100); }, 4000);",
    )
    .await;
    let (fps, end) = window(web, seconds).await;
    let rtts: Vec<f64> = serde_json::from_value(page.eval("window.rtts").await).unwrap_or_default();
    let shown = page.eval("({...document.body.dataset})").await;
    drop(browser);
    server.stop().await;
    let _ = std::fs::remove_file(&scene);
    let sent_width = shown["width"].as_str().and_then(|v| v.parse::<u32>().ok());
    anyhow::ensure!(
        link.is_some() || sent_width == Some(w),
        "the page sent frames {sent_width:?} wide, not {w}: {shown}"
    );
    let mut rtts = rtts;
    Ok(Outcome {
        sent: format!("q{} {}", shown["quality"].as_str().unwrap_or("?"), sent_width.unwrap_or(0)),
        fps,
        rtt_p50: percentile(&mut rtts, 0.5),
        rtt_p95: percentile(&mut rtts, 0.95),
        latency_p50: end["latency_ms_p50"].as_f64().unwrap_or(f64::NAN),
        stale: end["stale"].as_u64().unwrap_or(0),
    })
}

async fn nvt_client(dir: &Path, (w, h): (u32, u32), seconds: f64, link: Option<LinkSpec>) -> anyhow::Result<Outcome> {
    let (server, web) = server().await?;
    let proxy = match link {
        Some(spec) => Some(Link::start(server.addr, spec).await?),
        None => None,
    };
    let target = proxy.as_ref().map_or(server.addr, |l| l.addr);
    let log_path = dir.join(format!("client-{w}x{h}.jsonl"));
    let _ = std::fs::remove_file(&log_path);
    let mut config = nvt_client::Config::new(target.to_string(), SourceSpec::Synthetic);
    config.size = Some((w, h));
    config.fps = Some(30.0);
    config.log = Some(Arc::new(JsonLines::open(log_path.to_str().unwrap_or("client.jsonl"))?));
    let stop = CancellationToken::new();
    let running = tokio::spawn(nvt_client::run(config, stop.clone()));
    let (fps, end) = window(web, seconds).await;
    stop.cancel();
    running.await??;
    server.stop().await;
    let records = read_jsonl(&log_path);
    // The records of the measured window: those after the warm-up.
    let first = records.first().and_then(|r| r["time"].as_f64()).unwrap_or(0.0);
    let mut rtts: Vec<f64> = records
        .iter()
        .filter(|r| r["time"].as_f64().is_some_and(|t| t >= first + 4.0))
        .filter_map(|r| r["rtt_ms"].as_f64())
        .collect();
    let last = records.last().cloned().unwrap_or_default();
    Ok(Outcome {
        sent: format!("q{} {}", last["quality"], last["width"]),
        fps,
        rtt_p50: percentile(&mut rtts, 0.5),
        rtt_p95: percentile(&mut rtts, 0.95),
        latency_p50: end["latency_ms_p50"].as_f64().unwrap_or(f64::NAN),
        stale: end["stale"].as_u64().unwrap_or(0),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = temp_dir("camera-bench");
    println!(
        "Machine: {}, {} cores. The synthetic scene at 30 frames/s, nvt-server with models/shapes.onnx on \
         loopback, {} s measured per run after 4 s of warming up; the page in headless Chromium.\n",
        cpu_model(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.seconds
    );
    println!(
        "| link | size | sender | frames/s accepted | round trip p50 | p95 | server latency p50 | late | last sent |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let links: Vec<Option<LinkSpec>> = if args.with_4g { vec![None, Some(LINKS[4])] } else { vec![None] };
    for link in links {
        let link_name = link.map_or("loopback", |l| l.name);
        for size in [(640, 480), (1280, 720)] {
            for (name, outcome) in [
                ("camera page", page(&dir, size, args.seconds, link).await),
                ("nvt-client", nvt_client(&dir, size, args.seconds, link).await),
            ] {
                match outcome {
                    Ok(o) => println!(
                        "| {link_name} | {}x{} | {name} | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} |",
                        size.0, size.1, o.fps, o.rtt_p50, o.rtt_p95, o.latency_p50, o.stale, o.sent
                    ),
                    Err(error) => println!("| {link_name} | {}x{} | {name} | failed: {error:#} |", size.0, size.1),
                }
            }
        }
    }
    Ok(())
}
