//! `swap-bench`: what a live model swap costs. Loads each model several times to time load plus
//! warm-up, then streams at 30 fps through a server while its model file is swapped back and
//! forth (shapes ↔ YOLOv8n-sized) by rename, and reports the longest gap in the client's replies
//! and how long each swap took to show in the server's records.

use nvt_capture::SourceSpec;
use nvt_detect::{Detector, DetectorOptions};
use nvt_pipeline::swap::ModelSource;
use nvt_support::JsonLines;
use nvt_tests::harness::{read_jsonl, temp_dir, TestServer};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let models = Path::new("models");
    let pair = [models.join("shapes.onnx"), models.join("yolov8n-random.onnx")];
    println!("| model | load + warm-up (median of 5) | of which warm-up |");
    println!("|---|---|---|");
    for path in &pair {
        let mut totals = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..5 {
            let d = Detector::load(path, DetectorOptions::default())?;
            totals.push(d.load_time().as_secs_f64() * 1000.0);
            warm.push(d.warm_up_time().as_secs_f64() * 1000.0);
        }
        totals.sort_by(f64::total_cmp);
        warm.sort_by(f64::total_cmp);
        println!("| {} | {:.1} ms | {:.1} ms |", path.display(), totals[2], warm[2]);
    }

    let dir = temp_dir("swap-bench");
    let model = dir.join("model.onnx");
    std::fs::copy(&pair[0], &model)?;
    let log = dir.join("server.jsonl");
    let config = nvt_server::Config {
        log: Some(Arc::new(JsonLines::open(log.to_str().unwrap_or("-"))?)),
        detectors: vec![Detector::load(&model, DetectorOptions::default())?],
        model_source: Some(ModelSource {
            path: model.clone(),
            options: DetectorOptions::default(),
            watch: true,
            workers: 1,
        }),
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let stop = CancellationToken::new();
    let client_log = dir.join("client.jsonl");
    let mut client = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    client.log = Some(Arc::new(JsonLines::open(client_log.to_str().unwrap_or("-"))?));
    let client = tokio::spawn(nvt_client::run(client, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut swap_times = Vec::new();
    for i in 0..6 {
        let next = &pair[(i + 1) % 2];
        let last_model = |log: &Path| read_jsonl(log).last().and_then(|r| r["model"].as_str().map(str::to_owned));
        let before = last_model(&log);
        let staging = dir.join("staging.onnx");
        std::fs::copy(next, &staging)?;
        let started = Instant::now();
        std::fs::rename(&staging, &model)?;
        while last_model(&log) == before && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        swap_times.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    stop.cancel();
    let summary = client.await??;
    server.stop().await;
    let times: Vec<f64> =
        read_jsonl(&client_log).iter().filter(|r| r["accepted"] == true).filter_map(|r| r["time"].as_f64()).collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    println!(
        "\n6 swaps by rename while streaming at 30 fps: file renamed → first record from the new model: {}",
        swap_times.iter().map(|t| format!("{t:.0} ms")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "longest gap between replies: {:.1} ms; connections: {}; frames accepted: {}; stale: {}",
        gap * 1000.0,
        summary.connections,
        summary.accepted,
        summary.stale
    );
    Ok(())
}
