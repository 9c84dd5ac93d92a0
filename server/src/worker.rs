//! `nvt-worker`: one of any number of detector processes, on any machine, serving a group's
//! queue on NATS. It decodes each frame it is sent and runs the model on it exactly as the server
//! does, then replies with the detections, its timings and the model's id. It loads the group's
//! model from the JetStream object store when one was pushed (that wins over `--model`), watches
//! it, and swaps to each new push between frames; a file that does not load is refused and the
//! old model keeps serving.

use crate::cli::{parse_group, parse_nats_url, ModelArgs, NatsAccessArgs};
use crate::detection::to_record;
use crate::record::ms;
use anyhow::Context;
use clap::builder::TypedValueParser;
use futures_util::StreamExt;
use nvt_capture::jpeg;
use nvt_detect::Detector;
use nvt_fleet::models::{ModelStore, StoredModel, READ_BUFFER};
use nvt_fleet::wire::{DetectReply, WorkerTimings, BUDGET_HEADER};
use nvt_fleet::{Group, Role};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Serves detection requests from a NATS queue group.
#[derive(Debug, clap::Parser)]
#[command(name = "nvt-worker", version)]
pub struct Args {
    /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
    #[arg(long, value_parser = parse_nats_url)]
    pub nats: String,
    /// TLS and credentials for NATS.
    #[command(flatten)]
    pub access: NatsAccessArgs,
    /// The worker group to join (its subject is nvt.detect.GROUP).
    #[arg(long, default_value = "default", value_parser = parse_group)]
    pub group: Group,
    /// The detector and its settings; `--model` is used until a model is pushed to the group
    /// (`nvt-fleet push`), and may be left out when one was.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Detector sessions in this process, each taking requests from the queue.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64).map(|n| n as usize))]
    pub workers: usize,
    /// Largest image decoded, in pixels (read from the JPEG header first).
    #[arg(long, default_value_t = jpeg::DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..=1 << 28))]
    pub max_pixels: u64,
}

/// Why `nvt-worker` stopped.
#[derive(Debug)]
pub enum Failure {
    /// A flag, the model or the broker's answer at start-up cannot be used.
    Setup(anyhow::Error),
    /// Running went wrong.
    Run(anyhow::Error),
}

/// One request, handed from the subscription to a detector thread, with when it arrived.
type Job = (async_nats::Message, Instant);

/// How long, once told to stop, the worker waits for its sessions to finish their frames.
const FINISH_WITHIN: Duration = Duration::from_secs(2);

/// How often a worker whose group has no model store yet looks for one.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Runs the worker until `stop` completes. Every wait (the broker, the model store, a model
/// read, a model load) gives way to `stop`.
pub async fn run(args: Args, stop: impl std::future::Future<Output = ()>) -> Result<(), Failure> {
    tokio::pin!(stop);
    let group = args.group.clone();
    // A --model or a TLS or credentials file that cannot be read is an error now, not once the
    // broker answers.
    if let Some(path) = &args.model.model {
        let readable = std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if !readable {
            return Err(Failure::Setup(anyhow::anyhow!("--model {}: not a readable file", path.display())));
        }
    }
    let access = args.access.access(&args.nats).map_err(|e| Failure::Setup(e.into()))?;
    let id = format!("{}:{}", host_name(), std::process::id());
    // Few requests wait in this process: past them the broker counts it a slow consumer and
    // drops, and the ingest's deadline sends the frame's successor to another worker.
    let buffered = 2 * args.workers;
    let nats = nvt_fleet::connect(&access, Role::Worker, &format!("nvt-worker {id}"), buffered)
        .await
        .map_err(|e| Failure::Setup(e.into()))?;
    // Models are read on a connection of their own, with room for their chunks: the requests'
    // small buffer would drop them.
    let store_nats = nvt_fleet::connect(&access, Role::Worker, &format!("nvt-worker {id} models"), READ_BUFFER)
        .await
        .map_err(|e| Failure::Setup(e.into()))?;
    let options = ModelArgs { threads: args.model.threads.max(1), ..args.model.clone() };
    let mut models = Models {
        nats: store_nats,
        group: group.clone(),
        folder: PrivateFolder::new().map_err(Failure::Setup)?,
        options,
        sessions: args.workers,
        loaded: None,
    };
    let (detectors, store) = tokio::select! {
        () = &mut stop => return Ok(()),
        first = models.first() => first?,
    };

    let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(args.workers);
    let queue = Arc::new(Mutex::new(queue));
    let runtime = tokio::runtime::Handle::current();
    let mut swaps = Vec::new();
    let mut threads = Vec::new();
    for (index, detector) in detectors.into_iter().enumerate() {
        let (swap, swapped) = mpsc::channel::<Detector>();
        swaps.push(swap);
        let thread = Session {
            id: format!("{id}/{index}"),
            detector,
            swapped,
            queue: Arc::clone(&queue),
            nats: nats.clone(),
            runtime: runtime.clone(),
            max_pixels: args.max_pixels,
        };
        let handle = std::thread::Builder::new()
            .name(format!("detector {index}"))
            .spawn(move || thread.serve())
            .map_err(|e| Failure::Setup(e.into()))?;
        threads.push(handle);
    }
    let mut requests = nats
        .queue_subscribe(group.detect_subject(), group.name().to_owned())
        .await
        .map_err(|e| Failure::Setup(anyhow::anyhow!("cannot join the queue: {e}")))?;
    tracing::info!(worker = %id, group = group.name(), subject = %group.detect_subject(), sessions = swaps.len(), "worker ready");
    // Pushes are read and loaded on the side: requests keep flowing to the old model meanwhile.
    let watcher = tokio::spawn(models.watch(store, swaps));
    loop {
        tokio::select! {
            () = &mut stop => break,
            request = requests.next() => match request {
                Some(request) => if jobs.send((request, Instant::now())).await.is_err() { break },
                None => break,
            },
        }
    }
    watcher.abort();
    // A broker that is frozen must not hold the exit up.
    let _ = tokio::time::timeout(Duration::from_millis(500), requests.unsubscribe()).await;
    drop(jobs);
    // Each session finishes the frame in hand; one that takes longer is left to the exit.
    let joined = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    });
    if tokio::time::timeout(FINISH_WITHIN, joined).await.is_err() {
        tracing::warn!("a detector session did not finish its frame in time; leaving it");
    }
    Ok(())
}

/// Where the worker's models come from: the group's pushed model in the store (read on a
/// connection of its own), or `--model`.
struct Models {
    nats: async_nats::Client,
    group: Group,
    folder: PrivateFolder,
    options: ModelArgs,
    sessions: usize,
    /// The upload now serving (a push seen twice, as after a reconnect, is not loaded twice).
    loaded: Option<String>,
}

impl Models {
    /// The model to start with: the group's pushed model when there is one (it wins over
    /// `--model`), else `--model`; a pushed model that does not load leaves `--model` serving.
    /// Also the store, when it is there yet (a worker never makes it: `nvt-fleet push` does).
    async fn first(&mut self) -> Result<(Vec<Detector>, Option<ModelStore>), Failure> {
        let mut failures = 0u32;
        let store = loop {
            match ModelStore::open(&self.nats, &self.group).await {
                Ok(store) => break store,
                Err(error) => {
                    if failures.is_multiple_of(30) {
                        tracing::warn!(%error, "cannot open the model store yet (is the NATS server up, with JetStream, and may this user read the store?); retrying");
                    }
                    failures += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stored = match &store {
            Some(store) => match store.current().await {
                Ok(stored) => stored,
                // Read again once the worker serves (its watch starts with a read).
                Err(error) if self.options.model.is_some() => {
                    tracing::error!(%error, "cannot read the group's model; serving --model meanwhile");
                    None
                }
                Err(error) => return Err(Failure::Setup(error.into())),
            },
            None => None,
        };
        if let Some(stored) = stored {
            tracing::info!(file = %stored.file_name, bytes = stored.bytes.len(), group = self.group.name(), "the group's model from the store");
            let nuid = stored.nuid.clone();
            match self.load(stored).await {
                Ok(detectors) => {
                    self.loaded = Some(nuid);
                    return Ok((detectors, store));
                }
                Err(error) if self.options.model.is_some() => {
                    self.loaded = Some(nuid);
                    tracing::error!(
                        error = format!("{error:#}"),
                        "the group's stored model does not load; serving --model"
                    );
                }
                Err(error) => return Err(Failure::Setup(error)),
            }
        }
        if self.options.model.is_none() {
            return Err(Failure::Setup(anyhow::anyhow!("no model: give --model, or push one with `nvt-fleet push`")));
        }
        let (options, sessions) = (self.options.clone(), self.sessions);
        let detectors = tokio::task::spawn_blocking(move || options.load(sessions))
            .await
            .map_err(|e| Failure::Setup(e.into()))?
            .map_err(Failure::Setup)?;
        Ok((detectors, store))
    }

    /// Writes a stored model into the private folder, loads it once per session and removes the
    /// file again, loaded or not: nothing piles up in the folder.
    async fn load(&self, stored: StoredModel) -> anyhow::Result<Vec<Detector>> {
        let (folder, options, sessions) = (self.folder.path.clone(), self.options.clone(), self.sessions);
        tokio::task::spawn_blocking(move || {
            let path = write_model(&folder, &stored.file_name, &stored.bytes)?;
            drop(stored);
            let loaded = ModelArgs { model: Some(path.clone()), ..options }.load(sessions);
            let _ = std::fs::remove_file(&path);
            loaded
        })
        .await?
    }

    /// Watches the group's model for good: opens the store once it is there, and swaps to each
    /// push (and to one that came before the watch began).
    async fn watch(mut self, mut store: Option<ModelStore>, swaps: Vec<mpsc::Sender<Detector>>) {
        loop {
            let opened = match store.take() {
                Some(opened) => opened,
                None => match ModelStore::open(&self.nats, &self.group).await {
                    Ok(Some(opened)) => opened,
                    Ok(None) | Err(_) => {
                        tokio::time::sleep(STORE_RETRY).await;
                        continue;
                    }
                },
            };
            let mut changes = match opened.changes().await {
                Ok(changes) => changes,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch the group's model; retrying");
                    tokio::time::sleep(STORE_RETRY).await;
                    store = Some(opened);
                    continue;
                }
            };
            // A push between the first read and the watch is not missed.
            self.swap(&opened, &swaps).await;
            while let Some(()) = changes.next().await {
                self.swap(&opened, &swaps).await;
            }
            store = Some(opened);
        }
    }

    /// A push: read it, load and warm it up once per session, and hand one to each; a model that
    /// does not load changes nothing.
    async fn swap(&mut self, store: &ModelStore, swaps: &[mpsc::Sender<Detector>]) {
        let stored = match store.current().await {
            Ok(Some(stored)) => stored,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "cannot read the pushed model; the old one keeps serving");
                return;
            }
        };
        if self.loaded.as_deref() == Some(stored.nuid.as_str()) {
            return;
        }
        let nuid = stored.nuid.clone();
        tracing::info!(file = %stored.file_name, bytes = stored.bytes.len(), "a model was pushed; loading it");
        // Refused or not, this upload is not read again.
        self.loaded = Some(nuid);
        match self.load(stored).await {
            Ok(detectors) => {
                let id = detectors.first().map(|d| d.info().id.clone()).unwrap_or_default();
                for (swap, detector) in swaps.iter().zip(detectors) {
                    let _ = swap.send(detector);
                }
                tracing::info!(model = %id, "swapped to the pushed model");
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the pushed model was refused; the old one keeps serving"
                );
            }
        }
    }
}

/// One detector session's thread.
struct Session {
    id: String,
    detector: Detector,
    swapped: mpsc::Receiver<Detector>,
    queue: Arc<Mutex<tokio::sync::mpsc::Receiver<Job>>>,
    nats: async_nats::Client,
    runtime: tokio::runtime::Handle,
    max_pixels: u64,
}

impl Session {
    fn serve(mut self) {
        loop {
            let next = nvt_support::sync::lock(&self.queue).blocking_recv();
            let Some((request, arrived)) = next else { break };
            if expired(&request, arrived) {
                continue;
            }
            // A new model takes over between two frames.
            while let Ok(detector) = self.swapped.try_recv() {
                self.detector = detector;
            }
            let reply = self.detect(&request.payload);
            let Some(to) = request.reply else { continue };
            let bytes = serde_json::to_vec(&reply).unwrap_or_default();
            let nats = self.nats.clone();
            let sent = self.runtime.block_on(async move { nats.publish(to, bytes.into()).await });
            if let Err(error) = sent {
                tracing::warn!(%error, "cannot send a reply");
            }
        }
    }

    /// Decodes and detects; a frame that cannot be is answered with why.
    fn detect(&mut self, payload: &[u8]) -> DetectReply {
        let model = self.detector.info().id.clone();
        let failed = |error: String| DetectReply {
            worker: self.id.clone(),
            model: model.clone(),
            detections: Vec::new(),
            timings: WorkerTimings::default(),
            error: Some(error),
        };
        let started = Instant::now();
        let image =
            match jpeg::check_header(payload, self.max_pixels).and_then(|_| jpeg::decode(payload, self.max_pixels)) {
                Ok(image) => image,
                Err(error) => return failed(error.to_string()),
            };
        let decode = ms(started.elapsed());
        match self.detector.detect(&image) {
            Ok((detections, t)) => DetectReply {
                worker: self.id.clone(),
                model,
                detections: detections.iter().map(to_record).collect(),
                timings: WorkerTimings { decode, preprocess: t.preprocess, infer: t.infer, postprocess: t.postprocess },
                error: None,
            },
            Err(error) => failed(error.to_string()),
        }
    }
}

/// Whether a request waited here longer than its budget: the ingest has given up on it, so it
/// is dropped unanswered instead of taking a session's time.
fn expired(request: &async_nats::Message, arrived: Instant) -> bool {
    let budget =
        request.headers.as_ref().and_then(|h| h.get(BUDGET_HEADER)).and_then(|v| v.as_str().parse::<u64>().ok());
    budget.is_some_and(|ms| arrived.elapsed() > std::time::Duration::from_millis(ms))
}

/// A folder only this process uses (mode 700), for the models it reads from the store; removed
/// when the worker ends, however it ends.
struct PrivateFolder {
    path: PathBuf,
}

impl PrivateFolder {
    fn new() -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("nvt-worker-{}-{:08x}", std::process::id(), fastrand_u32()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot make {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for PrivateFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id()
}

/// Writes a model into our folder under its own (cleaned) file name, so that its id reads as
/// the file that was pushed.
fn write_model(folder: &Path, file_name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = folder.join(file_name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// This machine's name, for worker ids.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}
