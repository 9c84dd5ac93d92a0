//! Events at an MQTT subscriber: `cargo run --release -p nvt-tests --bin events-bench`.
//!
//! Starts mosquitto and nvt-server (the shapes model, `--mqtt`, a log), streams the synthetic
//! scene from `--cameras` clients at `--fps` for `--seconds`, and reports:
//! - the time from a frame's detections being ready (the event's `frame_time`) to the event
//!   arriving at a real MQTT subscriber, p50 and p99, over every `new` and `update` event;
//! - what tracking adds to each frame: the tracker's time against the frame's whole processing.

use clap::Parser;
use nvt_tests::broker::{events, Mosquitto, Subscriber};
use nvt_tests::harness::{binary, cpu_model, free_port, quantiles, read_jsonl, spawn, temp_dir, wait_for_port};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Cameras streaming at once.
    #[arg(long, default_value_t = 8)]
    cameras: usize,
    /// Each camera's frame rate.
    #[arg(long, default_value_t = 10.0)]
    fps: f64,
    /// How long they stream.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The model.
    #[arg(long, default_value = "models/shapes.onnx")]
    model: String,
}

fn main() {
    let args = Args::parse();
    let dir = temp_dir("events-bench");
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["nvt/events"]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("server.jsonl");
    let log_arg = log.display().to_string();
    let mut server = spawn(
        "nvt-server",
        &["--listen", &listen, "--model", &args.model, "--mqtt", &broker.url(), "--log", &log_arg, "--workers", "1"],
    );
    wait_for_port(listen.parse().expect("addr"), Duration::from_secs(60));
    let fps = args.fps.to_string();
    let seconds = format!("{}s", args.seconds);
    let clients: Vec<_> = (0..args.cameras)
        .map(|_| {
            std::process::Command::new(binary("nvt-client"))
                .args(["--connect", &listen, "--source", "synthetic", "--fps", &fps, "--duration", &seconds])
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("client")
        })
        .collect();
    for mut client in clients {
        let _ = client.wait();
    }
    std::thread::sleep(Duration::from_secs(1));
    stop_cleanly(&mut server);
    let received = subscriber.messages();
    let mut latencies_ms = Vec::new();
    for (message, event) in received.iter().filter(|m| m.topic == "nvt/events").zip(events(&received, "nvt")) {
        if event["type"] == "end" {
            continue;
        }
        let at = message.at.duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
        latencies_ms.push((at - event["after"]["frame_time"].as_f64().expect("frame_time")) * 1000.0);
    }
    let records = read_jsonl(&log);
    let track: Vec<f64> = records.iter().map(|r| r["timings_ms"]["track"].as_f64().unwrap_or(0.0)).collect();
    let whole: Vec<f64> = records
        .iter()
        .map(|r| {
            let t = &r["timings_ms"];
            ["decode", "preprocess", "infer", "postprocess", "track"]
                .iter()
                .map(|k| t[*k].as_f64().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let detections: f64 = records.iter().map(|r| r["detections"].as_array().map_or(0, Vec::len) as f64).sum::<f64>()
        / records.len().max(1) as f64;
    let lat = quantiles(latencies_ms.clone(), &[0.5, 0.99]);
    let tr = quantiles(track.clone(), &[0.5, 0.99]);
    let wh = quantiles(whole, &[0.5, 0.99]);
    println!("machine: {} ({} cores)", cpu_model(), std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "{} cameras at {} fps for {} s, model {}: {} frames processed, {:.1} detections per frame",
        args.cameras,
        args.fps,
        args.seconds,
        args.model,
        records.len(),
        detections
    );
    println!(
        "frame's detections -> event at the MQTT subscriber: p50 {:.2} ms, p99 {:.2} ms over {} new/update events",
        lat[0],
        lat[1],
        latencies_ms.len()
    );
    println!(
        "tracking per frame: p50 {:.3} ms, p99 {:.3} ms; the whole frame (decode to tracked): p50 {:.2} ms, p99 {:.2} ms; tracking is {:.2}% of the median frame",
        tr[0], tr[1], wh[0], wh[1], 100.0 * tr[0] / wh[0].max(1e-9)
    );
}

/// Stops the server with SIGTERM (a clean stop) and waits for it.
fn stop_cleanly(server: &mut nvt_tests::harness::ChildGuard) {
    let _ = std::process::Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status();
    let _ = server.0.wait();
}
