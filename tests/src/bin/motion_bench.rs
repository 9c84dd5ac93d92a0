//! `motion-bench`: what detecting only where something moves saves. Four recorded cameras (an
//! empty hall; a door that one visitor walks through every five minutes, `Scene::Door`; a
//! hall that shapes visit in turn, `synthetic:visits`; and a busy one where three shapes always
//! move, `synthetic`), each run through nvt-detect with `--detect always` and
//! `--detect motion` on one inference thread: detector runs and CPU seconds per camera-hour at
//! the camera's rate, and the cameras of that rate one core serves in each mode, with the events
//! each mode made. Then nvt-server itself, a camera streaming to it over loopback: its CPU per
//! frame on the empty hall and the busy scene in both modes and on the door with motion on (its
//! whole five-minute period), and what those cost a camera-hour. `make bench` runs it in release
//! mode.
//!
//! The model is `models/shapes-heavy.onnx`: the shapes detector's detections (so that what it
//! finds is right and the tracker and events behave as they do on a real camera) at the cost of
//! a whole YOLOv8n at 640 (so that a detector run costs what a real one does).

use anyhow::Context;
use clap::Parser;
use nvt_capture::synthetic::{Scene, Synthetic, DOOR};
use nvt_tests::fake_camera::write_video;
use nvt_tests::harness::{binary, cpu_seconds, free_port, read_jsonl, spawn, temp_dir, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Frames per recording (1800 at 10 frames/s: 3 minutes; the visits scene repeats every 1800;
    /// the door's recording is at least its period, 3000).
    #[arg(long, default_value_t = 1800)]
    frames: u64,
    /// The cameras' frame rate.
    #[arg(long, default_value_t = 10.0)]
    fps: f64,
    /// Frame size, WxH.
    #[arg(long, default_value = "1280x720", value_parser = nvt_capture::source::parse_size)]
    size: (u32, u32),
    /// The model.
    #[arg(long, default_value = "models/shapes-heavy.onnx")]
    model: PathBuf,
    /// The scenes recorded: empty, visits, busy.
    #[arg(long, value_delimiter = ',', default_value = "empty,door,visits,busy")]
    scenes: Vec<String>,
    /// The `--detect` modes each recording goes through.
    #[arg(long, value_delimiter = ',', default_value = "always,motion")]
    modes: Vec<String>,
    /// Keep the recordings and logs (their folder is printed).
    #[arg(long)]
    keep: bool,
    /// Seconds each nvt-server run streams (0: no server runs).
    #[arg(long, default_value_t = 30)]
    server_seconds: u64,
}

/// What nvt-server did with one camera.
struct Served {
    frames: usize,
    runs: u64,
    cpu: f64,
}

/// Detector runs in a frame's record: its regions, 1 for the whole frame (or no `looked`: the
/// detector runs on every frame), 0 when it did not run.
fn runs_of(record: &serde_json::Value) -> u64 {
    match record["looked"]["detector"].as_str() {
        None | Some("frame") => 1,
        Some("regions") => record["looked"]["regions"].as_array().map_or(0, |a| a.len() as u64),
        Some(_) => 0,
    }
}

/// nvt-server with `--detect mode` and one camera streaming `video` at its own rate over
/// loopback (nvt-client at its defaults: JPEG quality 100 on a link this fast): the server's
/// CPU and the frames it processed over `seconds`, the first 3 s and the last 2 left out.
fn serve(model: &Path, video: &Path, mode: &str, seconds: u64, dir: &Path) -> anyhow::Result<Served> {
    let listen = format!("127.0.0.1:{}", free_port());
    let log = dir.join(format!("server-{mode}.jsonl"));
    let _ = std::fs::remove_file(&log);
    let (model, video, log_path) = (model.to_string_lossy(), video.to_string_lossy(), log.to_string_lossy());
    let server = spawn(
        "nvt-server",
        &["--listen", &listen, "--model", &model, "--workers", "1", "--threads", "1", "--detect", mode]
            .into_iter()
            .chain(["--db", "off", "--log", &log_path])
            .collect::<Vec<_>>(),
    );
    wait_for_port(listen.parse()?, std::time::Duration::from_secs(60));
    let duration = format!("{seconds}s");
    let _client = spawn("nvt-client", &["--connect", &listen, "--source", &video, "--duration", &duration]);
    let pid = server.0.id().to_string();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (cpu, from) = (cpu_seconds(&pid), read_jsonl(&log).len());
    std::thread::sleep(std::time::Duration::from_secs(seconds.saturating_sub(5).max(1)));
    let cpu = cpu_seconds(&pid) - cpu;
    let records = read_jsonl(&log);
    let measured = records.get(from..).unwrap_or_default();
    Ok(Served { frames: measured.len(), runs: measured.iter().map(runs_of).sum(), cpu })
}

/// CPU seconds (user and system) of the children waited for so far: fields 16 and 17 of
/// `/proc/self/stat`, in clock ticks.
fn children_cpu() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(fields.get(i).context("/proc/self/stat")?.parse::<f64>()?) };
    let per_second: f64 = String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?.trim().parse()?;
    // After the name come field 3 (state) onwards: cutime is field 16, cstime 17.
    Ok((ticks(16 - 3)? + ticks(17 - 3)?) / per_second)
}

struct Run {
    frames: usize,
    runs: u64,
    cpu: f64,
    wall: f64,
    events: usize,
}

fn detect(model: &Path, video: &Path, mode: &str, dir: &Path) -> anyhow::Result<Run> {
    let (log, events) = (dir.join(format!("{mode}.jsonl")), dir.join(format!("{mode}-events.jsonl")));
    // nvt-detect appends to its log: each run starts from none.
    for file in [&log, &events] {
        let _ = std::fs::remove_file(file);
    }
    let before = children_cpu()?;
    let started = Instant::now();
    let status = Command::new(binary("nvt-detect"))
        .args(["--model".as_ref(), model.as_os_str()])
        .args(["--workers", "1", "--threads", "1", "--detect", mode, "--progress-every", "1h"])
        .args(["--log".as_ref(), log.as_os_str(), "--events".as_ref(), events.as_os_str()])
        .arg(video)
        .env("RUST_LOG", "warn")
        .status()?;
    anyhow::ensure!(status.success(), "nvt-detect {mode}: {status}");
    let (wall, cpu) = (started.elapsed().as_secs_f64(), children_cpu()? - before);
    let records = read_jsonl(&log);
    let runs = records.iter().map(runs_of).sum();
    let events = read_jsonl(&events).iter().filter(|e| e["type"] == "new").count();
    Ok(Run { frames: records.len(), runs, cpu, wall, events })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = temp_dir("motion-bench");
    let (w, h) = args.size;
    println!(
        "{w}x{h} recordings of {} frames at {} frames/s ({:.0} s), sensor noise σ 2, {}, one inference thread.\n",
        args.frames,
        args.fps,
        args.frames as f64 / args.fps,
        args.model.display()
    );
    println!("| scene | --detect | detector runs / frames | runs per camera-hour | CPU s per camera-hour | {} fps cameras per core | objects (events `new`) | wall s |", args.fps);
    println!("|---|---|---|---|---|---|---|---|");
    let scenes = [
        ("empty", "empty hall", Scene::Empty),
        ("door", "door (12 visits an hour)", Scene::Door),
        ("visits", "visited hall", Scene::Visits),
        ("busy", "busy (always moving)", Scene::Moving),
    ];
    let mut videos = Vec::new();
    for (key, name, scene) in scenes {
        if !args.scenes.iter().any(|s| s == key) {
            continue;
        }
        let dir = dir.join(key);
        std::fs::create_dir_all(&dir)?;
        let video = dir.join("camera.avi");
        // The door's recording is a whole period of it: one visit in five minutes.
        let frames = if scene == Scene::Door { args.frames.max(DOOR.period) } else { args.frames };
        write_video(&video, &Synthetic::new(w, h)?.with_scene(scene), frames, args.fps, 2.0);
        for mode in &args.modes {
            let run = detect(&args.model, &video, mode, &dir)?;
            let per_hour = 3600.0 * args.fps / run.frames.max(1) as f64;
            let cpu_hour = run.cpu * per_hour;
            println!(
                "| {name} | {mode} | {} / {} | {:.0} | {:.0} | {:.1} | {} | {:.1} |",
                run.runs,
                run.frames,
                run.runs as f64 * per_hour,
                cpu_hour,
                3600.0 / cpu_hour,
                run.events,
                run.wall
            );
        }
        videos.push((scene, video));
    }
    if args.server_seconds > 0 {
        serve_table(&args, &videos)?;
    }
    if args.keep {
        println!("\nrecordings and logs: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// nvt-server's own table: the empty hall and the busy scene in both modes, and the door with
/// motion on, streamed for the whole of its period (a visit in five minutes). With the detector
/// on every frame a camera costs the same whatever it shows (a whole frame decoded and detected
/// each time), so the empty hall's `always` row is the door's too.
fn serve_table(args: &Args, videos: &[(Scene, PathBuf)]) -> anyhow::Result<()> {
    let video = |wanted: Scene| videos.iter().find(|(scene, _)| *scene == wanted).map(|(_, video)| video);
    println!(
        "\nnvt-server, one camera streaming the recording over loopback (nvt-client at its defaults: \
         JPEG quality 100), `--workers 1 --threads 1 --db off`, {} s a run (the door: its whole recording):\n",
        args.server_seconds
    );
    println!("| scene | --detect | frames processed | detector runs | server CPU ms per frame | CPU s per camera-hour | {} fps cameras per core |", args.fps);
    println!("|---|---|---|---|---|---|---|");
    // The door's recording streams whole, with a few seconds on either side of the measure.
    let door_seconds = (args.frames.max(DOOR.period) as f64 / args.fps).ceil() as u64 + 5;
    for (scene, name, mode) in [
        (Scene::Empty, "empty hall", "always"),
        (Scene::Empty, "empty hall", "motion"),
        (Scene::Door, "door (12 visits an hour)", "motion"),
        (Scene::Moving, "busy (always moving)", "always"),
        (Scene::Moving, "busy (always moving)", "motion"),
    ] {
        let Some(video) = video(scene) else { continue };
        if !args.modes.iter().any(|m| m == mode) {
            continue;
        }
        let dir = video.parent().context("a recording's folder")?;
        let seconds = if scene == Scene::Door { door_seconds.max(args.server_seconds) } else { args.server_seconds };
        let served = serve(&args.model, video, mode, seconds, dir)?;
        let per_frame = served.cpu / served.frames.max(1) as f64;
        let per_hour = per_frame * 3600.0 * args.fps;
        println!(
            "| {name} | {mode} | {} | {} | {:.1} | {per_hour:.0} | {:.1} |",
            served.frames,
            served.runs,
            per_frame * 1000.0,
            3600.0 / per_hour
        );
    }
    Ok(())
}
