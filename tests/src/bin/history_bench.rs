//! The event history's costs: `cargo run --release -p nvt-tests --bin history-bench`.
//!
//! - events written per second into SQLite (a file in a temporary folder) and a real PostgreSQL
//!   (started by the bench on a free port), in transactions of 1000 as the history's writer does;
//! - the time to ask for 1 and for 100 events out of `--events` (100,000 by default): newest
//!   first, and one camera and label;
//! - the frame path's cost of keeping the pre-roll: one `Recorder::frame` call (a lock and a
//!   push of shared bytes), over 8 cameras;
//! - the CPU a clip of `--clip-frames` synthetic 640x480 frames costs in each container: MJPEG
//!   in AVI (the frames as they came) and H.264 in MP4 (each frame decoded, then encoded by
//!   OpenCV's FFmpeg writer).

use clap::Parser;
use nvt_history::clips::avi::AviWriter;
use nvt_history::clips::{ClipSettings, Recorder};
use nvt_history::media::Media;
use nvt_history::store::{Change, Mode};
use nvt_history::{EventRow, Location, Query, Store};
use nvt_tests::harness::{cpu_model, quantiles, synthetic_jpeg, temp_dir};
use nvt_tests::postgres::Postgres;
use opencv::core::{Mat, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, videoio};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Events in the store.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Frames in the clip written in each container.
    #[arg(long, default_value_t = 300)]
    clip_frames: u64,
}

fn row(n: usize) -> EventRow {
    let start = 1_700_000_000.0 + n as f64 * 3.0;
    let (cameras, labels) = (["door", "yard", "garage", "drive"], ["person", "car", "dog", "cat", "bicycle"]);
    EventRow {
        id: format!("{start:.6}-{:06}", n % 1_000_000),
        label: labels[n % labels.len()].into(),
        sub_label: None,
        camera: cameras[(n / 7) % cameras.len()].into(),
        start_time: start,
        end_time: Some(start + 12.0),
        false_positive: false,
        zones: Vec::new(),
        thumbnail: String::new(),
        has_clip: n.is_multiple_of(2),
        has_snapshot: true,
        retain_indefinitely: false,
        plus_id: None,
        model_hash: None,
        detector_type: None,
        model_type: None,
        data: serde_json::json!({ "type": "object", "box": [0.1, 0.2, 0.3, 0.4], "region": [0.0, 0.0, 1.0, 1.0],
            "score": 0.83, "top_score": 0.86, "track_id": n, "frame_time": start + 11.5,
            "snapshot_file": format!("door-{start:.6}-{:06}.jpg", n % 1_000_000) }),
    }
}

/// Writes `events` rows and asks for some; prints the rates and times.
async fn store_bench(name: &str, location: &Location, events: usize) {
    let store = Store::open(location, Mode::Write).await.expect("store");
    let started = Instant::now();
    for chunk in (0..events).collect::<Vec<_>>().chunks(1000) {
        let changes: Vec<Change> = chunk.iter().map(|&n| Change::Event(Box::new(row(n)))).collect();
        store.write(&changes).await.expect("write");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{name}: {events} events written in {seconds:.2} s: {:.0} events/s", events as f64 / seconds);
    let cases = [
        ("1 event, newest", Query { limit: 1, ..Query::default() }),
        ("100 events, newest", Query::default()),
        (
            "100 events, camera=yard label=dog",
            Query { cameras: vec!["yard".into()], labels: vec!["dog".into()], ..Query::default() },
        ),
    ];
    for (what, query) in cases {
        let mut times = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let rows = store.query(&query).await.expect("query");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(rows.len(), query.limit);
        }
        let q = quantiles(times, &[0.5, 0.99]);
        println!("{name}: {what} of {events}: p50 {:.2} ms, p99 {:.2} ms", q[0], q[1]);
    }
    store.close().await;
}

/// This process's CPU seconds (user and system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("comm").1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn clip_bench(dir: &std::path::Path, frames: &[Vec<u8>]) {
    let seconds_of_video = frames.len() as f64 / 10.0;
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let file = std::io::BufWriter::new(std::fs::File::create(dir.join("clip.avi")).expect("avi"));
    let mut avi = AviWriter::start(file, (640, 480)).expect("avi");
    for jpeg in frames {
        avi.frame(jpeg).expect("frame");
    }
    let file = avi.finish(seconds_of_video).expect("finish").into_inner().expect("flush");
    file.sync_data().expect("sync");
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let bytes = std::fs::metadata(dir.join("clip.avi")).map_or(0, |m| m.len());
    println!(
        "clip of {} frames ({seconds_of_video:.0} s at 10 fps), MJPEG in AVI: {cpu:.2} s CPU, {wall:.2} s, {:.1} MB",
        frames.len(),
        bytes as f64 / 1e6
    );
    let path = dir.join("clip.mp4");
    let fourcc = videoio::VideoWriter::fourcc('a', 'v', 'c', '1').expect("fourcc");
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let mut writer = videoio::VideoWriter::new(path.to_str().expect("utf8"), fourcc, 10.0, Size::new(640, 480), true)
        .expect("writer");
    if !writer.is_opened().unwrap_or(false) {
        println!("clip, H.264 in MP4: OpenCV's FFmpeg writer cannot encode H.264 here");
        return;
    }
    for jpeg in frames {
        let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(jpeg), imgcodecs::IMREAD_COLOR).expect("decode");
        let image: Mat = image;
        writer.write(&image).expect("encode");
    }
    writer.release().expect("finish");
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "clip of {} frames, H.264 in MP4 (decode + encode): {cpu:.2} s CPU, {wall:.2} s, {:.1} MB",
        frames.len(),
        bytes as f64 / 1e6
    );
}

fn preroll_bench(dir: &std::path::Path, frames: &[Vec<u8>]) {
    let media = Media::open(&dir.join("clips")).expect("media");
    let recorder = Recorder::new(ClipSettings::default(), media, |_| {});
    let frames: Vec<bytes::Bytes> = frames.iter().map(|f| bytes::Bytes::from(f.clone())).collect();
    let cameras: Vec<String> = (0..8).map(|c| format!("camera{c}")).collect();
    let mut times = Vec::new();
    for i in 0..20_000usize {
        let jpeg = frames[i % frames.len()].clone();
        let camera = &cameras[i % cameras.len()];
        let time = 1_700_000_000.0 + i as f64 / 80.0;
        let started = Instant::now();
        recorder.frame(camera, time, jpeg);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let q = quantiles(times, &[0.5, 0.99]);
    println!("pre-roll, 8 cameras at 10 fps, 5 s each: one frame kept in p50 {:.2} µs, p99 {:.2} µs", q[0], q[1]);
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!("{}", cpu_model());
    let dir = temp_dir("history-bench");
    store_bench("SQLite", &Location::Sqlite(dir.join("events.db")), args.events).await;
    let postgres = Postgres::start(&dir.join("postgres"));
    store_bench("PostgreSQL", &Location::Postgres(postgres.url()), args.events).await;
    let frames: Vec<Vec<u8>> = (0..args.clip_frames).map(synthetic_jpeg).collect();
    preroll_bench(&dir, &frames);
    clip_bench(&dir, &frames);
}
