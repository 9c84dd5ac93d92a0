//! Clips: every camera's frames go into its [`Ring`] as they arrive (an `Arc` pushed under a
//! lock, nothing more on the frame path); an event's start opens a clip from `--clip-pre` seconds
//! before it, its end closes it `--clip-post` seconds after; a thread of the recorder's own takes
//! the frames from the rings into the clip files a few times a second and finishes each clip when
//! its time is up, so that a slow or full disk holds up no frame and no event.
//!
//! Bounds: at most [`MAX_PER_CAMERA`] clips at once per camera and [`MAX_CLIPS`] in all, a clip
//! at most `--clip-max` long (past it the clip is finished there) and below the AVI limit, each
//! ring at most [`MAX_RING_BYTES`]. A write that fails removes the clip; a full disk stops new
//! clips for [`FULL_DISK_PAUSE`], with a warning, and detection goes on.

use super::avi::AviWriter;
use super::ring::{Frame, Ring};
use crate::media::{Kind, Media};
use bytes::Bytes;
use nvt_support::sync::lock;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most clips written at once for one camera.
pub const MAX_PER_CAMERA: usize = 8;

/// Most clips written at once.
pub const MAX_CLIPS: usize = 64;

/// Most bytes of frames a camera's ring holds.
pub const MAX_RING_BYTES: usize = 64 << 20;

/// How long new clips wait after the disk was found full.
pub const FULL_DISK_PAUSE: f64 = 30.0;

/// How long after a clip's end its last frames may still come in (frames are timed on arrival,
/// events on detection, a little later).
const GRACE: f64 = 0.5;

/// How often the recorder's thread writes.
const TICK: Duration = Duration::from_millis(200);

/// How a clip is cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipSettings {
    /// Seconds of frames before the event started (`--clip-pre`).
    pub pre: f64,
    /// Seconds of frames after it ended (`--clip-post`).
    pub post: f64,
    /// The longest clip, in seconds (`--clip-max`).
    pub max_length: f64,
}

impl Default for ClipSettings {
    fn default() -> Self {
        Self { pre: 5.0, post: 5.0, max_length: 300.0 }
    }
}

/// What the recorder did, for `/metrics`.
#[derive(Debug, Default)]
pub struct ClipCounts {
    /// Clips written.
    pub written: AtomicU64,
    /// Their bytes.
    pub bytes: AtomicU64,
    /// Clips given up because a write failed.
    pub failed: AtomicU64,
    /// Clips not started: too many at once, or the disk was full.
    pub skipped: AtomicU64,
    /// Frames a clip wanted that its ring had pushed out.
    pub frames_lost: AtomicU64,
    /// Bytes of frames the rings hold now.
    pub ring_bytes: AtomicU64,
}

enum Command {
    Start { id: String, camera: String, from: f64 },
    End { id: String, until: f64 },
}

/// A clip being written.
struct Clip {
    id: String,
    camera: String,
    from: f64,
    until: Option<f64>,
    /// The time of the last frame taken.
    taken_to: f64,
    first: Option<f64>,
    writer: Option<(AviWriter<BufWriter<File>>, PathBuf)>,
}

/// Keeps every camera's recent frames and writes each event's clip.
pub struct Recorder {
    settings: ClipSettings,
    media: Media,
    rings: Mutex<HashMap<String, Ring>>,
    commands: Mutex<Vec<Command>>,
    clips: Mutex<Vec<Clip>>,
    /// Until when new clips are not started (the events' clock), after a full disk.
    paused_until: Mutex<f64>,
    done: Box<dyn Fn(&str) + Send + Sync>,
    /// What it did.
    pub counts: Arc<ClipCounts>,
    stopping: AtomicBool,
}

impl Recorder {
    /// A recorder writing clips into `media`; `done` is told each clip written.
    pub fn new(settings: ClipSettings, media: Media, done: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            settings,
            media,
            rings: Mutex::default(),
            commands: Mutex::default(),
            clips: Mutex::default(),
            paused_until: Mutex::new(f64::MIN),
            done: Box::new(done),
            counts: Arc::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Starts the thread that writes, every [`TICK`], at the time `clock` gives (the events'
    /// clock); it finishes every clip and ends once [`Recorder::stop`] is called.
    pub fn start(
        self: &Arc<Self>,
        clock: Arc<dyn Fn() -> f64 + Send + Sync>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let recorder = Arc::clone(self);
        std::thread::Builder::new().name("clips".into()).spawn(move || {
            while !recorder.stopping.load(Relaxed) {
                std::thread::sleep(TICK);
                recorder.tick(clock());
            }
            recorder.finish_all(clock());
        })
    }

    /// Asks the thread to finish every clip with the frames it has, and end.
    pub fn stop(&self) {
        self.stopping.store(true, Relaxed);
    }

    /// A frame of `camera` arrived at `time`: its bytes as they came.
    pub fn frame(&self, camera: &str, time: f64, jpeg: Bytes) {
        let keep = self.settings.pre + 1.0;
        let mut rings = lock(&self.rings);
        match rings.get_mut(camera) {
            Some(ring) => ring.push(Frame { time, jpeg }, keep, MAX_RING_BYTES),
            None => {
                let mut ring = Ring::default();
                ring.push(Frame { time, jpeg }, keep, MAX_RING_BYTES);
                rings.insert(camera.to_owned(), ring);
            }
        }
    }

    /// An event started at `start` (the events' clock): its clip begins `--clip-pre` before.
    pub fn event_started(&self, id: &str, camera: &str, start: f64) {
        let from = start - self.settings.pre;
        lock(&self.commands).push(Command::Start { id: id.to_owned(), camera: camera.to_owned(), from });
    }

    /// An event ended at `end`: its clip ends `--clip-post` after.
    pub fn event_ended(&self, id: &str, end: f64) {
        lock(&self.commands).push(Command::End { id: id.to_owned(), until: end + self.settings.post });
    }

    /// Clips being written now.
    pub fn active(&self) -> usize {
        lock(&self.clips).len()
    }

    /// One round at `now`: takes the new commands, writes the frames each clip is owed, and
    /// finishes the clips whose time is up.
    pub fn tick(&self, now: f64) {
        let mut clips = lock(&self.clips);
        for command in std::mem::take(&mut *lock(&self.commands)) {
            match command {
                Command::Start { id, camera, from } => self.open(&mut clips, id, camera, from, now),
                Command::End { id, until } => {
                    if let Some(clip) = clips.iter_mut().find(|c| c.id == id) {
                        clip.until = Some(until);
                    }
                }
            }
        }
        let mut finished = Vec::new();
        for (at, clip) in clips.iter_mut().enumerate() {
            let frames = {
                let rings = lock(&self.rings);
                let until = clip.until.unwrap_or(f64::INFINITY).min(clip.from + self.settings.max_length);
                rings.get(&clip.camera).map(|ring| ring.between(clip.taken_to, until)).unwrap_or_default()
            };
            let mut outcome = Outcome::Writing;
            for frame in frames {
                if let Err(error) = self.write(clip, &frame) {
                    outcome =
                        if error.kind() == ErrorKind::FileTooLarge { Outcome::Done } else { Outcome::Failed(error) };
                    break;
                }
            }
            let full_length = clip.taken_to >= clip.from + self.settings.max_length - 1e-9;
            let over = clip.until.is_some_and(|until| now >= until + GRACE);
            if matches!(outcome, Outcome::Writing) && (full_length || over) {
                outcome = Outcome::Done;
            }
            if !matches!(outcome, Outcome::Writing) {
                finished.push((at, outcome));
            }
        }
        for (at, outcome) in finished.into_iter().rev() {
            let clip = clips.remove(at);
            self.close(clip, outcome, now);
        }
        self.mark_wanted(&clips, now);
    }

    /// Finishes every clip with the frames it has (the server is stopping).
    fn finish_all(&self, now: f64) {
        self.tick(now);
        let clips = std::mem::take(&mut *lock(&self.clips));
        for clip in clips {
            self.close(clip, Outcome::Done, now);
        }
    }

    fn open(&self, clips: &mut Vec<Clip>, id: String, camera: String, from: f64, now: f64) {
        let paused = now < *lock(&self.paused_until);
        let crowded = clips.len() >= MAX_CLIPS || clips.iter().filter(|c| c.camera == camera).count() >= MAX_PER_CAMERA;
        if paused || crowded {
            self.counts.skipped.fetch_add(1, Relaxed);
            if crowded {
                tracing::warn!(%camera, event = %id, "too many clips at once; this event gets none");
            }
            return;
        }
        clips.push(Clip { id, camera, from, until: None, taken_to: from - 1e-6, first: None, writer: None });
    }

    fn write(&self, clip: &mut Clip, frame: &Frame) -> std::io::Result<()> {
        if clip.writer.is_none() {
            let Ok(size) = nvt_capture::jpeg::dimensions(&frame.jpeg) else {
                clip.taken_to = frame.time;
                return Ok(());
            };
            let (file, part) = self.media.create_part(&clip.id, Kind::Clip)?;
            let writer = AviWriter::start(BufWriter::with_capacity(256 << 10, file), size);
            match writer {
                Ok(writer) => clip.writer = Some((writer, part)),
                Err(error) => {
                    let _ = std::fs::remove_file(&part);
                    return Err(error);
                }
            }
        }
        if let Some((writer, _)) = clip.writer.as_mut() {
            writer.frame(&frame.jpeg)?;
        }
        clip.first.get_or_insert(frame.time);
        clip.taken_to = frame.time;
        Ok(())
    }

    fn close(&self, clip: Clip, outcome: Outcome, now: f64) {
        let (result, part) = match (outcome, clip.writer) {
            (Outcome::Failed(error), writer) => (Err(error), writer.map(|(_, part)| part)),
            // No frame came: no clip.
            (_, None) => return,
            (_, Some((writer, part))) => {
                let seconds = clip.taken_to - clip.first.unwrap_or(clip.taken_to);
                let written = writer
                    .finish(seconds)
                    .and_then(|out| out.into_inner().map_err(std::io::IntoInnerError::into_error))
                    .and_then(|file| file.sync_data())
                    .and_then(|()| self.media.commit(&part, &clip.id, Kind::Clip));
                (written, Some(part))
            }
        };
        match result {
            Ok(bytes) => {
                self.counts.written.fetch_add(1, Relaxed);
                self.counts.bytes.fetch_add(bytes, Relaxed);
                (self.done)(&clip.id);
            }
            Err(error) => {
                if let Some(part) = part {
                    let _ = std::fs::remove_file(part);
                }
                self.counts.failed.fetch_add(1, Relaxed);
                if error.kind() == ErrorKind::StorageFull || error.raw_os_error() == Some(28) {
                    *lock(&self.paused_until) = now + FULL_DISK_PAUSE;
                    tracing::warn!(
                        folder = %self.media.dir().display(),
                        event = %clip.id,
                        "the disk is full: this clip is lost and no clip is written for {FULL_DISK_PAUSE} s; detection and events go on"
                    );
                } else {
                    tracing::warn!(event = %clip.id, %error, "cannot write a clip; it is lost");
                }
            }
        }
    }

    /// Tells each ring what its clips still want; forgets the rings of cameras gone quiet.
    fn mark_wanted(&self, clips: &[Clip], now: f64) {
        let mut rings = lock(&self.rings);
        let quiet = self.settings.pre + self.settings.post + 60.0;
        rings.retain(|camera, ring| {
            ring.wanted_from = clips.iter().filter(|c| &c.camera == camera).map(|c| c.taken_to).reduce(f64::min);
            ring.wanted_from.is_some() || ring.newest().is_some_and(|t| now - t < quiet)
        });
        let lost: u64 = rings.values_mut().map(|r| std::mem::take(&mut r.lost)).sum();
        self.counts.frames_lost.fetch_add(lost, Relaxed);
        let bytes: usize = rings.values().map(Ring::bytes).sum();
        self.counts.ring_bytes.store(bytes as u64, Relaxed);
    }
}

enum Outcome {
    Writing,
    Done,
    Failed(std::io::Error),
}
