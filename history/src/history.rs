//! The history of one process: the store, its media folder, the clip recorder, and the task that
//! writes. Events come in from the events hub's thread ([`crate::output`]), which only queues
//! them (a bounded queue: when it is full an event is dropped and counted, never waited for);
//! the writer task writes what is queued in one transaction at a time, keeps what a failed
//! write could not store and tries it again, makes thumbnails off the async threads, and applies
//! the retention rules at the start and every `--retain-every` (a minute by default).

use crate::clips::{ClipSettings, Recorder};
use crate::error::HistoryError;
pub use crate::jobs::HistoryCounts;
use crate::jobs::Job;
use crate::media::{Kind, Media};
use crate::query::Query;
use crate::retention::{self, Files, Rules};
use crate::row::EventRow;
use crate::store::{Change, Location, Mode, Store};
use nvt_capture::Mat;
use nvt_events::EventObject;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Changes waiting for the writer, at most.
pub const MAX_QUEUED: usize = 10_000;

/// Changes kept for another try after a failed write, at most (the oldest go first).
const MAX_PENDING: usize = 10_000;

/// Changes written in one transaction, at most.
const MAX_BATCH: usize = 1_000;

/// How long after a failed write the writer tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Frigate's thumbnail: cropped to the object, 175 pixels high, JPEG quality 70, nothing drawn.
const THUMBNAIL: nvt_events::pictures::MqttPicture =
    nvt_events::pictures::MqttPicture { crop: true, height: 175, quality: 70, bounding_box: false, timestamp: false };

/// What the history is told to keep, and where.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store.
    pub location: Location,
    /// The folder of clips and thumbnails; `None` keeps neither.
    pub media: Option<PathBuf>,
    /// How clips are cut.
    pub clips: ClipSettings,
    /// What is kept how long.
    pub retention: Rules,
    /// How often the retention rules are applied (`--retain-every`; a minute by default).
    pub retain_every: Duration,
    /// `--snapshots DIR`, whose files go with their events.
    pub snapshots: Option<PathBuf>,
    /// Ends, at the start, the events a crash left in progress: for the one process that makes
    /// the store's events (a server), not for a fleet's history.
    pub close_open: bool,
}

/// The history: query it, hand it events ([`History::output`]), frames ([`History::frame`]).
pub struct History {
    store: Store,
    files: Files,
    recorder: Option<Arc<Recorder>>,
    jobs: mpsc::Sender<Job>,
    /// What it did.
    pub counts: Arc<HistoryCounts>,
    clip_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl History {
    /// Opens the store and the media folder, closes what a crash left open (when told to), and
    /// starts the writer on the current runtime and the clip recorder's thread; `clock` gives the
    /// events' time (Unix seconds), for clips and retention.
    pub async fn open(settings: Settings, clock: Arc<dyn Fn() -> f64 + Send + Sync>) -> Result<Self, HistoryError> {
        let store = Store::open(&settings.location, Mode::Write).await?;
        if settings.close_open {
            let closed = store.close_open().await?;
            if closed > 0 {
                tracing::info!(closed, "ended the events a stop without warning left in progress");
            }
        }
        let media = match &settings.media {
            Some(dir) => Some(Media::open(dir).map_err(|e| HistoryError::io("clips folder", dir, e))?),
            None => None,
        };
        let files = Files { media: media.clone(), snapshots: settings.snapshots.clone() };
        let (jobs, queue) = mpsc::channel(MAX_QUEUED);
        let (clips_done, clips) = mpsc::unbounded_channel::<String>();
        let recorder = media.map(|media| {
            Arc::new(Recorder::new(settings.clips, media, move |id| {
                let _ = clips_done.send(id.to_owned());
            }))
        });
        let counts: Arc<HistoryCounts> = Arc::default();
        let writer = Writer {
            store: store.clone(),
            files: files.clone(),
            rules: settings.retention,
            retain_every: settings.retain_every.max(Duration::from_millis(100)),
            counts: Arc::clone(&counts),
            clock: Arc::clone(&clock),
            pending: Vec::new(),
            warned: false,
        };
        let task = tokio::spawn(writer.run(queue, clips));
        let clip_thread = match &recorder {
            Some(recorder) => {
                Some(recorder.start(clock).map_err(|e| HistoryError::io("clip thread", std::path::Path::new("."), e))?)
            }
            None => None,
        };
        Ok(Self {
            store,
            files,
            recorder,
            jobs,
            counts,
            clip_thread: Mutex::new(clip_thread),
            task: Mutex::new(Some(task)),
        })
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clip recorder, when clips are kept.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.recorder.as_ref()
    }

    /// An output for the events hub: every event goes to the store.
    pub fn output(&self) -> crate::output::HistoryOutput {
        crate::output::HistoryOutput::new(
            self.jobs.clone(),
            self.recorder.clone(),
            Arc::clone(&self.counts),
            self.files.media.is_some(),
        )
    }

    /// A fresh frame of `camera` arrived at `time` (the events' clock), its bytes as they came:
    /// kept for clips.
    pub fn frame(&self, camera: &str, time: f64, jpeg: bytes::Bytes) {
        if let Some(recorder) = &self.recorder {
            recorder.frame(camera, time, jpeg);
        }
    }

    /// The events that answer `query`.
    pub async fn query(&self, query: &Query) -> Result<Vec<EventRow>, HistoryError> {
        self.store.query(query).await
    }

    /// One event.
    pub async fn get(&self, id: &str) -> Result<Option<EventRow>, HistoryError> {
        self.store.get(id).await
    }

    /// Where an event's clip or thumbnail file is, if it exists.
    pub fn file(&self, id: &str, kind: Kind) -> Option<PathBuf> {
        self.files.media.as_ref()?.path(id, kind).filter(|p| p.is_file())
    }

    /// Where an event's snapshot is, if it exists.
    pub fn snapshot(&self, row: &EventRow) -> Option<PathBuf> {
        self.files.snapshot(row).filter(|p| p.is_file())
    }

    /// Waits until every change queued before now is written (or failed).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// Finishes the clips being written (with the frames they have), writes what is queued, and
    /// stops, within about `patience`.
    pub async fn stop(&self, patience: Duration) {
        if let Some(recorder) = &self.recorder {
            recorder.stop();
        }
        let thread = self.clip_thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(patience, joined).await.is_err() {
                tracing::warn!("the clip thread did not finish in time; leaving it");
            }
        }
        let (done, stopped) = oneshot::channel();
        let sent = tokio::time::timeout(patience, self.jobs.send(Job::Stop(done))).await;
        if matches!(sent, Ok(Ok(()))) && tokio::time::timeout(patience, stopped).await.is_err() {
            tracing::warn!("the history did not finish writing in time");
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = tokio::time::timeout(patience, task).await;
        }
        self.store.close().await;
    }
}

/// The writer task's state.
struct Writer {
    store: Store,
    files: Files,
    rules: Rules,
    retain_every: Duration,
    counts: Arc<HistoryCounts>,
    clock: Arc<dyn Fn() -> f64 + Send + Sync>,
    /// Changes a failed write left, to try again.
    pending: Vec<Change>,
    /// Whether the failing writes were warned about.
    warned: bool,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>, mut clips: mpsc::UnboundedReceiver<String>) {
        let mut retention = tokio::time::interval(self.retain_every);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(RETRY_AFTER);
        loop {
            tokio::select! {
                job = queue.recv() => {
                    let Some(job) = job else { break };
                    let mut batch = vec![job];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    while let Ok(id) = clips.try_recv() {
                        self.pending.push(Change::Clip(id));
                    }
                    if self.handle(batch).await {
                        break;
                    }
                }
                Some(id) = clips.recv() => {
                    self.pending.push(Change::Clip(id));
                    self.write().await;
                }
                _ = retention.tick() => self.retain().await,
                _ = retry.tick(), if !self.pending.is_empty() => self.write().await,
            }
        }
    }

    /// Handles a batch of jobs; true when told to stop.
    async fn handle(&mut self, batch: Vec<Job>) -> bool {
        let mut replies = Vec::new();
        let mut stop = false;
        for job in batch {
            match job {
                Job::Change(change) => self.pending.push(change),
                Job::Thumbnail { object, image } => self.thumbnail(*object, image).await,
                Job::Flush(reply) => replies.push(reply),
                Job::Stop(reply) => {
                    replies.push(reply);
                    stop = true;
                }
            }
        }
        self.write().await;
        for reply in replies {
            let _ = reply.send(());
        }
        stop
    }

    /// Writes what is pending in one transaction; on failure keeps it for another try.
    async fn write(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match self.store.write(&self.pending).await {
            Ok(()) => {
                self.counts.written.fetch_add(self.pending.len() as u64, Relaxed);
                self.pending.clear();
                if std::mem::take(&mut self.warned) {
                    tracing::info!("the event store takes writes again");
                }
            }
            Err(error) => {
                self.counts.write_errors.fetch_add(1, Relaxed);
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(%error, "cannot write to the event store; events wait and are written once it can take them");
                }
                if self.pending.len() > MAX_PENDING {
                    let excess = self.pending.len() - MAX_PENDING;
                    self.pending.drain(..excess);
                    self.counts.dropped.fetch_add(excess as u64, Relaxed);
                }
            }
        }
    }

    async fn thumbnail(&self, object: EventObject, image: Arc<Mat>) {
        let Some(media) = self.files.media.clone() else { return };
        let saved = tokio::task::spawn_blocking(move || {
            let jpeg = nvt_events::pictures::mqtt(&object, &image, &THUMBNAIL)
                .ok_or_else(|| std::io::Error::other("cannot make the thumbnail"))?;
            media.save_thumbnail(&object.id, &jpeg)
        })
        .await;
        if !matches!(saved, Ok(Ok(_))) {
            self.counts.thumbnail_errors.fetch_add(1, Relaxed);
        }
    }

    async fn retain(&mut self) {
        if self.pending.is_empty() {
            match retention::orphans(&self.store, &self.files).await {
                Ok(0) => {}
                Ok(removed) => {
                    self.counts.orphans_removed.fetch_add(removed, Relaxed);
                    tracing::info!(removed, "removed clips and thumbnails whose event was gone");
                }
                Err(error) => tracing::warn!(%error, "cannot look for clips without an event"),
            }
        }
        match retention::apply(&self.store, &self.files, &self.rules, (self.clock)()).await {
            Ok(removed) => {
                self.counts.removed_age.fetch_add(removed.by_age, Relaxed);
                self.counts.removed_size.fetch_add(removed.by_size, Relaxed);
                self.counts.bytes.store(removed.bytes_left, Relaxed);
                if removed.by_age + removed.by_size > 0 {
                    tracing::info!(by_age = removed.by_age, by_size = removed.by_size, "old events removed");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot apply the retention rules"),
        }
        if let Ok(events) = self.store.count().await {
            self.counts.events.store(events, Relaxed);
        }
    }
}
