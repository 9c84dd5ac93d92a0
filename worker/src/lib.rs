//! `nvt-worker`: one of any number of detector processes, on any machine, serving a group's
//! queue on NATS. It decodes each frame it is sent and runs the model on it exactly as the server
//! does, then replies with the detections, its timings and the model's id. It loads the group's
//! model from the JetStream object store when one was pushed (that wins over `--model`), watches
//! it, and swaps to each new push between frames; a file that does not load is refused and the
//! old model keeps serving.

mod models;

use clap::builder::TypedValueParser;
use futures_util::StreamExt;
use models::{Models, PrivateFolder};
use nvt_capture::jpeg;
use nvt_detect::Detector;
use nvt_detect::ModelArgs;
use nvt_fleet::flags::{parse_group, parse_nats_url, NatsAccessArgs};
use nvt_fleet::models::READ_BUFFER;
use nvt_fleet::wire::{DetectReply, WorkerTimings, BUDGET_HEADER};
use nvt_fleet::{Group, Role};
use nvt_pipeline::record::{ms, to_record};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Flags people type for `nvt-worker` that it does not take, with what they mean (clap's own
/// suggestion for `--out` is `--output`, the model's output tensor).
pub const FLAG_HINTS: &[nvt_support::flag_hints::Hint] = &[nvt_support::flag_hints::Hint {
    typed: &["--out", "--outdir", "--out-dir", "--output-dir", "--log"],
    tip: "nvt-worker writes no files: its detections go back over NATS to the server, whose '--log FILE' \
          records them ('--output' names the model's output tensor)",
}];

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
    let folder = PrivateFolder::new().map_err(Failure::Setup)?;
    let mut models = Models::new(store_nats, group.clone(), folder, options, args.workers);
    let (detectors, store) = tokio::select! {
        () = &mut stop => {
            tracing::info!(worker = %id, "worker stopped before it was ready (stop asked while it loaded its model)");
            return Ok(());
        }
        first = models.first() => first.map_err(Failure::Setup)?,
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
    let why = loop {
        tokio::select! {
            () = &mut stop => break "stop asked",
            request = requests.next() => match request {
                Some(request) => if jobs.send((request, Instant::now())).await.is_err() { break "its sessions ended" },
                None => break "the broker ended its subscription",
            },
        }
    };
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
    tracing::info!(worker = %id, group = group.name(), "worker stopped ({why})");
    Ok(())
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

/// This machine's name, for worker ids.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}
