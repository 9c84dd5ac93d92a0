//! `nvt-worker`: one of any number of detector processes, on any machine, serving a group's
//! queue on NATS. It decodes each frame it is sent and runs the model on it exactly as the server
//! does, then replies with the detections, its timings and the model's id. It loads the group's
//! model from the JetStream object store when one was pushed (that wins over `--model`), watches
//! it, and swaps to each new push between frames; a file that does not load is refused and the
//! old model keeps serving.

use anyhow::Context;
use clap::builder::TypedValueParser;
use futures_util::StreamExt;
use nvt_capture::jpeg;
use nvt_detect::Detector;
use nvt_detect::ModelArgs;
use nvt_fleet::models::ModelStore;
use nvt_fleet::wire::{DetectReply, WorkerTimings, BUDGET_HEADER};
use nvt_fleet::Group;
use nvt_pipeline::record::{ms, to_record};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Serves detection requests from a NATS queue group.
#[derive(Debug, clap::Parser)]
#[command(name = "nvt-worker", version)]
pub struct Args {
    /// The NATS server: nats://HOST:PORT.
    #[arg(long)]
    pub nats: String,
    /// The worker group to join (its subject is nvt.detect.GROUP).
    #[arg(long, default_value = "default")]
    pub group: String,
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

/// What a swap needs: the store, our folder, the model flags, each session's hand-over, and the
/// upload now loaded (a push seen twice, as after a reconnect, is not loaded twice).
struct Swapper {
    store: ModelStore,
    folder: PrivateFolder,
    options: ModelArgs,
    swaps: Vec<mpsc::Sender<Detector>>,
    loaded: Option<String>,
}

/// Runs the worker until `stop` completes.
pub async fn run(args: Args, stop: impl std::future::Future<Output = ()>) -> Result<(), Failure> {
    tokio::pin!(stop);
    let group = Group::new(&args.group).map_err(|e| Failure::Setup(e.into()))?;
    // A --model that cannot be read is an error now, not once the broker answers.
    if let Some(path) = &args.model.model {
        let readable = std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if !readable {
            return Err(Failure::Setup(anyhow::anyhow!("--model {}: not a readable file", path.display())));
        }
    }
    let id = format!("{}:{}", host_name(), std::process::id());
    // Few requests wait in this process: past them the broker counts it a slow consumer and
    // drops, and the ingest's deadline sends the frame's successor to another worker.
    let buffered = 2 * args.workers;
    let nats = nvt_fleet::connect(&args.nats, &format!("nvt-worker {id}"), buffered)
        .await
        .map_err(|e| Failure::Setup(e.into()))?;
    let folder = PrivateFolder::new().map_err(Failure::Setup)?;
    // The broker may not be up yet: wait for it (and for JetStream) as long as it takes.
    let store = loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            opened = ModelStore::open(&nats, &group) => match opened {
                Ok(store) => break store,
                Err(error) => {
                    tracing::warn!(%error, "cannot open the model store yet (is the NATS server up, with JetStream?); retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            },
        }
    };
    // Watching starts before the current model is read, so that no push is missed between.
    let mut changes = store.changes().await.map_err(|e| Failure::Setup(e.into()))?;
    let options = ModelArgs { threads: args.model.threads.max(1), ..args.model.clone() };
    let (detectors, loaded) = first_model(&store, &folder, &options, args.workers, &group).await?;

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
    let swapper = Arc::new(tokio::sync::Mutex::new(Swapper { store, folder, options, swaps, loaded }));
    loop {
        tokio::select! {
            () = &mut stop => break,
            request = requests.next() => match request {
                Some(request) => if jobs.send((request, Instant::now())).await.is_err() { break },
                None => break,
            },
            // A push is read and loaded on the side: requests keep flowing to the old model
            // meanwhile, and pushes are taken one at a time, in order.
            Some(()) = changes.next() => {
                let swapper = Arc::clone(&swapper);
                tokio::spawn(async move { swapper.lock().await.swap().await });
            }
        }
    }
    let _ = requests.unsubscribe().await;
    drop(jobs);
    tokio::task::block_in_place(|| {
        for thread in threads {
            let _ = thread.join();
        }
    });
    Ok(())
}

/// The model to start with: the group's pushed model when there is one (it wins over
/// `--model`), else `--model`; a pushed model that does not load leaves `--model` serving.
async fn first_model(
    store: &ModelStore,
    folder: &PrivateFolder,
    options: &ModelArgs,
    sessions: usize,
    group: &Group,
) -> Result<(Vec<Detector>, Option<String>), Failure> {
    if let Some(stored) = store.current().await.map_err(|e| Failure::Setup(e.into()))? {
        tracing::info!(file = %stored.file_name, group = group.name(), "the group's model from the store");
        let loaded = tokio::task::block_in_place(|| {
            let path = folder.write(&stored.file_name, &stored.bytes)?;
            ModelArgs { model: Some(path), ..options.clone() }.load(sessions)
        });
        match loaded {
            Ok(detectors) => return Ok((detectors, Some(stored.nuid))),
            Err(error) if options.model.is_some() => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the group's stored model does not load; serving --model"
                );
            }
            Err(error) => return Err(Failure::Setup(error)),
        }
    }
    if options.model.is_none() {
        return Err(Failure::Setup(anyhow::anyhow!("no model: give --model, or push one with `nvt-fleet push`")));
    }
    let detectors = tokio::task::block_in_place(|| options.load(sessions)).map_err(Failure::Setup)?;
    Ok((detectors, None))
}

impl Swapper {
    /// A push: read it, load and warm it up once per session, and hand one to each; a model that
    /// does not load changes nothing.
    async fn swap(&mut self) {
        let stored = match self.store.current().await {
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
        let (folder, options, sessions) = (self.folder.path.clone(), self.options.clone(), self.swaps.len());
        let loaded = tokio::task::spawn_blocking(move || {
            let path = write_model(&folder, &stored.file_name, &stored.bytes)?;
            ModelArgs { model: Some(path), ..options }.load(sessions)
        })
        .await;
        match loaded {
            Ok(Ok(detectors)) => {
                let id = detectors.first().map(|d| d.info().id.clone()).unwrap_or_default();
                for (swap, detector) in self.swaps.iter().zip(detectors) {
                    let _ = swap.send(detector);
                }
                self.loaded = Some(stored.nuid);
                tracing::info!(model = %id, "swapped to the pushed model");
            }
            Ok(Err(error)) => {
                self.loaded = Some(stored.nuid);
                tracing::error!(
                    error = format!("{error:#}"),
                    "the pushed model was refused; the old one keeps serving"
                );
            }
            Err(error) => tracing::error!(%error, "the model loader failed; the old one keeps serving"),
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

    fn write(&self, file_name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        write_model(&self.path, file_name, bytes)
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
fn write_model(folder: &std::path::Path, file_name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
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
