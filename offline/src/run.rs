//! `nvt-detect`: the detector over image files, folders of images and video files, offline and
//! headless, writing the same JSON Lines records as the server and, with `--annotate`, copies
//! with the boxes drawn. In videos, objects are tracked (each detection carries a `track_id`),
//! and `--events` / `--snapshots` make the same events as the server, timed in seconds into the
//! video, with the video's file name as the camera.

use crate::pool;
use crate::progress::Progress;
use anyhow::Context;
use clap::builder::TypedValueParser;
use nvt_capture::draw;
use nvt_capture::media::{self, VideoReader, VideoWriter};
use nvt_capture::source::is_image_file;
use nvt_capture::{jpeg, Mat};
use nvt_detect::ModelArgs;
use nvt_detect::{Detection, Detector, Prepared, Timings as DetectTimings};
use nvt_events::flags::{EventArgs, TrackArgs};
use nvt_motion::LookSettings;
use nvt_pipeline::looking::{self, FramePlan, Looking};
use nvt_pipeline::record::{ms, to_record, FrameRecord, Measured};
use nvt_support::JsonLines;
use opencv::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Runs a model over images, folders and videos, offline and headless.
#[derive(Debug, clap::Parser)]
#[command(name = "nvt-detect", version)]
pub struct Args {
    /// The detector and its settings (`--model` is required here).
    #[command(flatten)]
    pub model: ModelArgs,
    /// Detector sessions run side by side, each on frames and images of its own (0: one per
    /// core, at most four, the cores shared among them; one with `--detect motion`, where each
    /// frame's plan waits for the frame before). The records keep the inputs' order.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64).map(|n| n as usize))]
    pub workers: usize,
    /// JSON Lines output, one record per image or video frame ('-' for standard output, the
    /// default unless `--events -` takes it).
    #[arg(long)]
    pub log: Option<String>,
    /// Write copies with the boxes drawn into this folder (videos as Motion-JPEG .avi).
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// The tracker (videos).
    #[command(flatten)]
    pub track: TrackArgs,
    /// Events and snapshots (videos).
    #[command(flatten)]
    pub events: EventArgs,
    /// Where the detector looks in videos: on every frame (the default), or only where
    /// something moved (`--detect motion`, as nvt-server does).
    #[command(flatten)]
    pub look: nvt_motion::LookArgs,
    /// Largest image decoded, in pixels (JPEG and PNG headers are checked before decoding).
    #[arg(long, default_value_t = jpeg::DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..=1 << 28))]
    pub max_pixels: u64,
    /// How often a progress line is logged through a video when standard error is not a
    /// terminal (on a terminal a progress bar shows instead).
    #[arg(long, default_value = "5s", value_parser = nvt_support::units::duration_in(std::time::Duration::from_millis(1), std::time::Duration::from_secs(3600)))]
    pub progress_every: std::time::Duration,
    /// Image files, folders of images, video files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Flags people type for `nvt-detect` that it does not take, with the ones they mean (clap's own
/// suggestions for them name other things: `--output` is the model's output tensor).
pub const FLAG_HINTS: &[nvt_support::flag_hints::Hint] = &[
    nvt_support::flag_hints::Hint {
        typed: &["--out", "--outdir", "--out-dir", "--output-dir", "--save", "--save-dir", "--dir"],
        tip: "for a folder of copies with the boxes drawn, give '--annotate DIR'; the records go to '--log FILE' \
              ('--output' names the model's output tensor)",
    },
    nvt_support::flag_hints::Hint {
        typed: &["--input", "--inputs", "--source", "--image", "--images", "--video", "--folder", "--file"],
        tip: "give images, folders and videos without a flag, after the others: \
              nvt-detect --model MODEL clip.mp4 photos/",
    },
];

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Images and video frames processed.
    pub frames: u64,
    /// Inputs that could not be read.
    pub failed: u64,
}

impl Summary {
    /// Counts an input that could not be read, and says why.
    fn failed(&mut self, input: &Path, error: &anyhow::Error) {
        self.failed += 1;
        tracing::error!(input = %input.display(), "{}", nvt_support::errors::sentence(error.as_ref()));
    }
}

/// Why `nvt-detect` stopped.
#[derive(Debug)]
pub enum Failure {
    /// A flag or a file it names (the model, the log, the annotation folder) cannot be used.
    Setup(anyhow::Error),
    /// Running went wrong.
    Run(anyhow::Error),
}

/// Runs `nvt-detect`. An input that cannot be read is reported and skipped; the others go on.
pub fn run(args: Args) -> Result<Summary, Failure> {
    let look = args.look.settings(nvt_motion::DetectMode::Always, args.track.track_buffer).map(Arc::new);
    let setup = || -> anyhow::Result<_> {
        // A batch job over files owns its cores: ONNX Runtime's threads spin between operators,
        // and sessions of a thread each share the frames.
        let mut model = args.model.clone().spinning_by_default();
        anyhow::ensure!(model.model.is_some(), "--model is required");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (workers, threads) = pool::plan(args.workers, model.threads, cores, look.is_some());
        if look.is_some() && args.workers > 1 {
            tracing::info!(
                "--workers {}: one session runs with --detect motion (each frame's plan waits for the one before)",
                args.workers
            );
        }
        model.threads = threads;
        let detectors = model.load(workers)?;
        let log = records_log(args.log.as_deref(), &args.events)?;
        if let Some(dir) = &args.annotate {
            std::fs::create_dir_all(dir).with_context(|| format!("--annotate {}", dir.display()))?;
        }
        // Events only when asked for: otherwise no frame is copied for them.
        let wanted = args.events.events.is_some() || args.events.snapshots.is_some();
        let objects = args.track.objects()?;
        let hub = wanted.then(|| nvt_events::flags::hub(&args.events, &objects, None, true)).transpose()?;
        Ok((detectors, log, hub, objects))
    };
    let (mut detectors, log, hub, objects) = setup().map_err(Failure::Setup)?;
    let inputs = expand(&args.inputs);
    if hub.is_some() {
        say_images_make_no_events(&args.events, &inputs);
    }
    let mut run = Run {
        model_id: detectors[0].info().id.clone(),
        detectors: &mut detectors,
        log: &log,
        track: args.track.settings(&objects),
        look,
        hub: hub.as_ref(),
        video: None,
        annotate: args.annotate.as_deref(),
        annotated: std::collections::HashSet::new(),
        max_pixels: args.max_pixels,
        progress_every: args.progress_every,
    };
    let mut summary = Summary::default();
    let mut inputs = inputs.into_iter().peekable();
    while let Some(input) = inputs.next() {
        if is_image_file(&input) {
            // Images in a row are detected side by side.
            let mut images = vec![input];
            images.extend(std::iter::from_fn(|| inputs.next_if(|next| is_image_file(next))));
            run.images(images, &mut summary);
            continue;
        }
        match run.video(&input) {
            Ok(frames) => summary.frames += frames,
            Err(error) => summary.failed(&input, &error),
        }
    }
    log.flush().map_err(|e| Failure::Run(e.into()))?;
    if let Some(hub) = &hub {
        hub.stop(std::time::Duration::from_secs(60));
    }
    Ok(summary)
}

/// The records' log: `--log`, or standard output when it is not given, unless `--events -`
/// writes there: two kinds of lines on one stream would be one a reader must sort.
fn records_log(log: Option<&str>, events: &EventArgs) -> anyhow::Result<JsonLines> {
    events.check_standard_output(log)?;
    match (log, events.events.as_deref()) {
        (None, Some("-")) => {
            tracing::info!("the records are not written: --events - has standard output (--log FILE writes them)");
            Ok(JsonLines::to_writer(Box::new(std::io::sink())))
        }
        (log, _) => JsonLines::open(log.unwrap_or("-")).context("--log"),
    }
}

/// Events follow an object through a video's frames; a still image is no such sequence (an
/// image has no time, and a folder of them is not known to be frames of one scene). Said once,
/// when images are among the inputs, rather than leaving the events file empty without a word.
fn say_images_make_no_events(events: &EventArgs, inputs: &[PathBuf]) {
    let images = inputs.iter().filter(|input| is_image_file(input)).count();
    if images == 0 {
        return;
    }
    let flags = match (&events.events, &events.snapshots) {
        (Some(_), Some(_)) => "--events and --snapshots",
        (Some(_), None) => "--events",
        _ => "--snapshots",
    };
    if images == inputs.len() {
        tracing::warn!(
            "{flags}: no events will come, as the inputs are images only: an event follows an object \
             through a video's frames over time (give a video file)"
        );
    } else {
        tracing::info!("{flags}: the {images} image(s) make no events; events come from the videos' frames");
    }
}

/// Folders become their image files, sorted by name.
fn expand(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut images: Vec<PathBuf> = std::fs::read_dir(input)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && is_image_file(p))
                        .collect()
                })
                .unwrap_or_default();
            images.sort();
            files.extend(images);
        } else {
            files.push(input.clone());
        }
    }
    files
}

/// A video as a camera: its name (the file name), its frame rate, its tracker, and where the
/// detector looks (`--detect motion`).
struct Video {
    camera: String,
    fps: f64,
    tracker: nvt_events::Tracker,
    looking: Option<Looking>,
}

/// A file's stem as a camera name: characters a name may not hold (anything but ASCII letters,
/// digits, `_` and `-`) become `_`.
fn camera_name(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name: String = stem
        .chars()
        .take(nvt_transport::protect::NAME_LEN)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    if name.is_empty() {
        "video".into()
    } else {
        name
    }
}

/// A video frame as the reader thread hands it over, decoded.
struct ReadFrame {
    image: Mat,
    started: Instant,
    read_ms: f64,
}

/// An image or video frame, and what the detector found on it.
struct Detected {
    image: Mat,
    found: anyhow::Result<Found>,
    started: Instant,
    read_ms: f64,
}

/// Where a video's frames go once detected: its record's index, its annotated copy, its
/// progress.
struct VideoOut<'p> {
    path: &'p Path,
    /// The next frame's index.
    index: u64,
    fps: f64,
    writer: Option<VideoWriter>,
    progress: Progress,
}

/// What the detector found on a frame, and where it looked (`--detect motion`).
struct Found {
    detections: Vec<Detection>,
    timings: DetectTimings,
    plan: Option<FramePlan>,
}

struct Run<'a> {
    /// The detector workers (one with `--detect motion`).
    detectors: &'a mut [Detector],
    /// The model's id, for the records.
    model_id: String,
    log: &'a JsonLines,
    track: nvt_events::TrackSettings,
    look: Option<Arc<LookSettings>>,
    hub: Option<&'a nvt_events::Hub>,
    /// The video being read: its camera name, rate and tracker.
    video: Option<Video>,
    annotate: Option<&'a Path>,
    /// The annotated copies written so far, so that two inputs of one name (`a/x.jpg`,
    /// `b/x.jpg`) do not overwrite each other's.
    annotated: std::collections::HashSet<PathBuf>,
    max_pixels: u64,
    progress_every: std::time::Duration,
}

impl Run<'_> {
    /// Images in a row, read, decoded and detected on the workers side by side, then recorded
    /// and drawn in the order given. One that cannot be read is reported and counted, and the
    /// others go on.
    fn images(&mut self, paths: Vec<PathBuf>, summary: &mut Summary) {
        let max_pixels = self.max_pixels;
        let detectors = std::mem::take(&mut self.detectors);
        let outcome = pool::in_order(
            detectors,
            paths.into_iter(),
            |detector, path| {
                let started = Instant::now();
                let image = media::read_image(&path, max_pixels)
                    .with_context(|| format!("{} is not an image nvt can read", path.display()));
                let read_ms = ms(started.elapsed());
                let (image, found) = match image {
                    Ok(image) => {
                        let found = detector.detect(&image).map_err(anyhow::Error::from);
                        (image, found.map(|(detections, timings)| Found { detections, timings, plan: None }))
                    }
                    Err(error) => (Mat::default(), Err(error)),
                };
                (path, Detected { image, found, started, read_ms })
            },
            |(path, detected)| {
                match self.image(&path, detected) {
                    Ok(()) => summary.frames += 1,
                    Err(error) => summary.failed(&path, &error),
                }
                Ok::<(), std::convert::Infallible>(())
            },
        );
        self.detectors = detectors;
        let Ok(()) = outcome;
    }

    /// Records an image's detections, and writes its annotated copy.
    fn image(&mut self, path: &Path, detected: Detected) -> anyhow::Result<()> {
        let Detected { mut image, found, started, read_ms } = detected;
        self.frame(path, 0, &mut image, found?, started, read_ms)?;
        if let Some(dir) = self.annotate {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let out = self.annotation(dir, &name, path);
            media::write_image(&out, &image)?;
        }
        Ok(())
    }

    /// Where the annotated copy of `input` goes: `dir/name`, or, when an earlier input of this
    /// run took that name, `dir/STEM-2.EXT` (then `-3`, ...), said in the log.
    fn annotation(&mut self, dir: &Path, name: &str, input: &Path) -> PathBuf {
        let first = dir.join(name);
        let mut out = first.clone();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
            _ => (name, String::new()),
        };
        let mut n = 1;
        while self.annotated.contains(&out) {
            n += 1;
            out = dir.join(format!("{stem}-{n}{ext}"));
        }
        if out != first {
            tracing::warn!(
                "{} has the name of an earlier input: its annotated copy is {}, not {}",
                input.display(),
                out.display(),
                first.display()
            );
        }
        self.annotated.insert(out.clone());
        out
    }

    /// A video, frame by frame: read and decoded on a thread of its own, detected (side by side
    /// on the workers, or in turn with `--detect motion`), then tracked, recorded and drawn in
    /// order.
    fn video(&mut self, path: &Path) -> anyhow::Result<u64> {
        let video = VideoReader::open(path)?;
        let fps = video.fps;
        let announced = video.frames;
        let camera = camera_name(path);
        let video_fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        self.video = Some(Video {
            camera: camera.clone(),
            fps: video_fps,
            tracker: nvt_events::Tracker::new(&self.track, &camera),
            looking: self.look.as_ref().map(|settings| Looking::new(&camera, Arc::clone(settings))),
        });
        let mut out = VideoOut {
            path,
            index: 0,
            fps,
            writer: None,
            progress: Progress::start(&path.display().to_string(), video.frames, self.progress_every),
        };
        let result = if self.look.is_some() {
            self.frames_in_turn(video, &mut out)
        } else {
            self.frames_side_by_side(video, &mut out)
        };
        out.progress.finish();
        let index = out.index;
        self.video = None;
        if let Some(hub) = self.hub {
            // The video ends with its last frame: its objects end then.
            hub.camera_left(&camera, index.saturating_sub(1) as f64 / video_fps);
        }
        result?;
        anyhow::ensure!(index > 0, "{} has no frames OpenCV can read", path.display());
        // FFmpeg's own word for this (`overread`) is quieted (`nvt_capture::library_log`); a
        // count estimated from the duration may be one off, so one frame short is let be.
        if let Some(announced) = announced.filter(|&announced| index + 1 < announced) {
            tracing::warn!(
                "{} ended after {index} of the {announced} frames it announces: the file may be cut short",
                path.display()
            );
        }
        Ok(index)
    }

    /// `--detect always`: frames are prepared for the model as they are read, and detected on
    /// the workers side by side. The input tensors take turns: a few are filled, run and handed
    /// back, and none is allocated again.
    fn frames_side_by_side(&mut self, mut video: VideoReader, out: &mut VideoOut) -> anyhow::Result<()> {
        let preparer = self.detectors[0].preparer();
        let (spare, spares) = std::sync::mpsc::channel::<Prepared>();
        for _ in 0..self.detectors.len() + 2 {
            let _ = spare.send(Prepared::default());
        }
        let given_back = spare.clone();
        let frames = std::iter::from_fn(move || {
            let started = Instant::now();
            let image = video.read()?;
            let read_ms = ms(started.elapsed());
            let mut input = spares.recv().ok()?;
            let input = match preparer.prepare(&image, &mut input) {
                Ok(()) => Ok(input),
                Err(error) => {
                    let _ = given_back.send(input);
                    Err(error)
                }
            };
            Some((ReadFrame { image, started, read_ms }, input))
        });
        let detectors = std::mem::take(&mut self.detectors);
        let outcome = pool::in_order(
            detectors,
            frames,
            |detector, (frame, input)| {
                let found = input.map_err(anyhow::Error::from).and_then(|input| {
                    let found = detector.run(&input);
                    let _ = spare.send(input);
                    let (detections, timings) = found?;
                    Ok(Found { detections, timings, plan: None })
                });
                Detected { image: frame.image, found, started: frame.started, read_ms: frame.read_ms }
            },
            |detected| self.video_frame(detected, out),
        );
        self.detectors = detectors;
        outcome
    }

    /// `--detect motion`: each frame's plan is made once the frame before it is tracked, so the
    /// frames are detected in turn, on this thread, while the next is read and decoded.
    fn frames_in_turn(&mut self, mut video: VideoReader, out: &mut VideoOut) -> anyhow::Result<()> {
        let (ready, frames) = std::sync::mpsc::sync_channel::<ReadFrame>(1);
        let reader = std::thread::Builder::new().name("video reader".into()).spawn(move || loop {
            let started = Instant::now();
            let Some(image) = video.read() else { break };
            let read_ms = ms(started.elapsed());
            if ready.send(ReadFrame { image, started, read_ms }).is_err() {
                break;
            }
        })?;
        let mut input = Prepared::default();
        let mut result = Ok(());
        for ReadFrame { image, started, read_ms } in frames.iter() {
            let at = out.index as f64 / self.video.as_ref().map_or(30.0, |v| v.fps);
            let found = self.looked(&image, at, &mut input);
            result = self.video_frame(Detected { image, found, started, read_ms }, out);
            if result.is_err() {
                break;
            }
        }
        drop(frames);
        let _ = reader.join();
        result
    }

    /// Records, tracks and draws a video's next frame.
    fn video_frame(&mut self, detected: Detected, out: &mut VideoOut) -> anyhow::Result<()> {
        let Detected { mut image, found, started, read_ms } = detected;
        self.frame(out.path, out.index, &mut image, found?, started, read_ms)?;
        if let Some(dir) = self.annotate {
            if out.writer.is_none() {
                let stem = out.path.file_stem().unwrap_or_default().to_string_lossy();
                let copy = self.annotation(dir, &format!("{stem}.avi"), out.path);
                out.writer = Some(VideoWriter::create(&copy, out.fps, (image.cols(), image.rows()))?);
            }
            if let Some(writer) = out.writer.as_mut() {
                writer.write(&image)?;
            }
        }
        out.index += 1;
        out.progress.frame();
        Ok(())
    }

    /// Plans where the detector looks on a video frame at `at` seconds into the video
    /// (`--detect motion`), and runs it there, preparing on this thread into `input`.
    fn looked(&mut self, image: &Mat, at: f64, input: &mut Prepared) -> anyhow::Result<Found> {
        let preparer = self.detectors[0].preparer();
        let looking = self.video.as_mut().and_then(|v| v.looking.as_mut()).context("a video with --detect motion")?;
        let mut plan = looking.plan(image, at, preparer.input_size);
        looking.carry(&mut plan);
        let (detections, timings, _) =
            looking::detect_regions(&mut self.detectors[0], image, &plan.rects, input, false).context("detecting")?;
        Ok(Found { detections, timings, plan: Some(plan) })
    }

    /// Writes the record of a frame's detections, and draws the boxes on `image` when annotating
    /// (otherwise the events may take it, leaving an empty picture).
    fn frame(
        &mut self,
        path: &Path,
        seq: u64,
        image: &mut Mat,
        found: Found,
        started: Instant,
        read_ms: f64,
    ) -> anyhow::Result<()> {
        let measured = Measured { decode_ms: read_ms, detect: found.timings, since: started, lag: None };
        let model = Some(self.model_id.clone());
        let mut records: Vec<_> = found.detections.iter().map(to_record).collect();
        if let Some(plan) = &found.plan {
            plan.place(&mut records);
        }
        let track_started = Instant::now();
        if let Some(video) = self.video.as_mut() {
            let size = (u32::try_from(image.cols()).unwrap_or(0), u32::try_from(image.rows()).unwrap_or(0));
            video.tracker.update(&mut records, size);
            if let (Some(looking), Some(plan)) = (video.looking.as_mut(), &found.plan) {
                looking.learn(plan, &records);
            }
        }
        let track_ms = ms(track_started.elapsed());
        let mut record = FrameRecord::new(image, path.display().to_string(), seq, model, measured, records);
        record.timings_ms.track = nvt_pipeline::record::round2(track_ms);
        record.looked = found.plan.as_ref().map(FramePlan::record);
        self.log.write(&record)?;
        if let (Some(video), Some(hub)) = (&self.video, self.hub) {
            // The boxes are drawn on `image` afterwards when annotating; otherwise it is done with.
            let clean = if self.annotate.is_some() { image.try_clone()? } else { std::mem::take(image) };
            let clean = std::sync::Arc::new(clean);
            let size = (record.width, record.height);
            hub.frame(&video.camera, seq as f64 / video.fps, size, &record.detections, &clean);
        }
        if self.annotate.is_some() {
            for d in &record.detections {
                let label = match d.track_id {
                    Some(id) => format!("{} #{id}", d.label),
                    None => d.label.clone(),
                };
                draw::draw_box(image, d.bbox, d.class_id as usize, &label, d.score)?;
            }
        }
        Ok(())
    }
}
