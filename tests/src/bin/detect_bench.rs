//! `detect-bench`: milliseconds per frame for each stage of detection (JPEG decode, letterbox,
//! inference, output decoding + NMS) at 640x480, per model, as a Markdown table for
//! docs/benchmarks.md. `make bench` runs it in release mode.

use clap::Parser;
use nvt_capture::jpeg;
use nvt_capture::synthetic::Synthetic;
use nvt_detect::{Detector, DetectorOptions};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

#[derive(Parser)]
struct Args {
    /// Frames measured per model (after 10 warm-up frames).
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Models to measure.
    #[arg(default_values = ["models/shapes.onnx", "models/yolov8n-random.onnx"])]
    models: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scene = Synthetic::new(640, 480)?;
    let jpegs: Vec<Vec<u8>> =
        (0..30).map(|i| jpeg::encode(&scene.render(i * 7, SystemTime::now())?.image, 100)).collect::<Result<_, _>>()?;
    println!(
        "640x480 synthetic frames, JPEG quality 100, {} frames per model, threads {}.\n",
        args.frames, args.threads
    );
    println!("| model | decode | preprocess | inference | postprocess | total (median) | frames/s |");
    println!("|---|---|---|---|---|---|---|");
    for model in &args.models {
        let options = DetectorOptions { threads: args.threads, ..DetectorOptions::default() };
        let mut detector = Detector::load(model, options)?;
        let mut stages: [Vec<f64>; 5] = Default::default();
        for i in 0..args.frames + 10 {
            let started = Instant::now();
            let image = jpeg::decode(&jpegs[i % jpegs.len()], jpeg::DEFAULT_MAX_PIXELS)?;
            let decode = started.elapsed().as_secs_f64() * 1000.0;
            let (_, t) = detector.detect(&image)?;
            let total = started.elapsed().as_secs_f64() * 1000.0;
            if i >= 10 {
                for (stage, v) in stages.iter_mut().zip([decode, t.preprocess, t.infer, t.postprocess, total]) {
                    stage.push(v);
                }
            }
        }
        let cell = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            format!("{:.2} (p95 {:.2})", at(0.5), at(0.95))
        };
        let [d, p, n, o, t] = &mut stages;
        let median_total = {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} |",
            detector.info().id,
            cell(d),
            cell(p),
            cell(n),
            cell(o),
            cell(t),
            1000.0 / median_total
        );
    }
    Ok(())
}
