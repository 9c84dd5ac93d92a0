//! The accept loop: many clients at once, each independent, capped by `--max-clients`.

use crate::admission::{Admission, Refusal};
use crate::config::Config;
use crate::session::{self, Shared};
use crate::stats::Connections;
use crate::web;
use nvt_pipeline::display::Display;
use nvt_pipeline::local::DetectorStage;
use nvt_pipeline::sinks::{EventSink, LogSink, ReplySink, Sink, StageMetricsSink, ViewerSink, WindowSink};
use nvt_pipeline::stage::{DecodeOnly, FrameStage};
use nvt_pipeline::swap::Reloader;
use nvt_pipeline::Metrics;
use nvt_pipeline::Output;
use nvt_pipeline::{CounterValues, Counters};
use nvt_support::Throttle;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest the server takes, once told to stop, for everything: its sessions, viewers,
/// loader and workers, the log, and the events with their outputs (MQTT, NATS). Whatever a peer,
/// a broker or a pipe does, `run` returns within about this long; the binary then gives its
/// threads half a second, so SIGTERM ends the process within about 3.5 s.
pub const SHUTDOWN_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// The part of [`SHUTDOWN_BUDGET`] kept for the log and the events once sessions are done.
const AFTER_SESSIONS: std::time::Duration = std::time::Duration::from_secs(1);

/// How often objects gone for longer than the event timeout are ended, on cameras that have
/// stopped sending frames as well as on those still streaming.
const EXPIRY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// What a run of the server did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Connections served.
    pub accepted: u64,
    /// Connections refused at the client limit.
    pub refused: u64,
    /// Connections ended by an error.
    pub failed: u64,
    /// Frame counters over all clients.
    pub frames: CounterValues,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let f_ = &self.frames;
        write!(f, "{} connections served", self.accepted)?;
        if self.refused > 0 {
            write!(f, ", {} refused at the limits", self.refused)?;
        }
        if self.failed > 0 {
            write!(f, ", {} ended by an error", self.failed)?;
        }
        write!(f, "; {} frames accepted, {} processed", f_.fresh, f_.processed)?;
        for (count, what) in [(f_.repeated, "repeated"), (f_.stale, "late"), (f_.refused, "refused")] {
            if count > 0 {
                write!(f, ", {count} {what}")?;
            }
        }
        Ok(())
    }
}

/// Serves clients on `listener` until `shutdown` completes, then stops accepting, lets each
/// worker finish its frame, flushes the log and returns what happened.
pub async fn run(listener: TcpListener, mut config: Config, shutdown: impl Future<Output = ()>) -> Summary {
    let admission = Admission::new(config.max_clients, config.max_clients_per_ip);
    let http = config.http.take();
    let fleet = match config.fleet.take() {
        Some(settings) => Some(connect_fleet(settings, &config.events).await),
        None => None,
    };
    let shared = handlers(config, fleet, Arc::clone(&admission));
    let stop = CancellationToken::new();
    let web = http.and_then(|listener| match web::start(listener, Arc::clone(&shared), stop.clone()) {
        Ok(task) => Some(task),
        Err(error) => {
            tracing::error!(%error, "cannot serve the web view");
            None
        }
    });
    let mut accept =
        Listener { listener, admission, shared, stop, sessions: JoinSet::new(), timing: Default::default() };
    accept.run(shutdown).await;
    accept.shut_down(web).await
}

/// `--nats`: connects (retrying in the background while the broker is away), and sends events to
/// the fleet's JetStream stream as well.
async fn connect_fleet(
    settings: crate::config::FleetSettings,
    events: &nvt_events::Hub,
) -> (async_nats::Client, nvt_fleet::Group) {
    let name = format!("nvt-server {}", std::process::id());
    // The URL was checked with the flags; connecting retries for as long as it takes.
    let client = loop {
        match nvt_fleet::connect(&settings.access, nvt_fleet::Role::Ingest, &name, 1024).await {
            Ok(client) => break client,
            Err(error) => {
                tracing::warn!(%error, "cannot connect to NATS; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    events.add_output(Box::new(nvt_fleet::stream::EventStream::start(client.clone())));
    tracing::info!(url = %settings.access.url(), group = settings.group.name(), subject = %settings.group.detect_subject(), "frames go to the fleet's workers once NATS answers");
    (client, settings.group)
}

/// Builds what every connection's handler shares: metrics, the frame stage (a detector when
/// there is a model, the fleet's workers with `--nats`), the model loader, the window thread.
fn handlers(
    mut config: Config,
    fleet: Option<(async_nats::Client, nvt_fleet::Group)>,
    admission: Arc<Admission>,
) -> Arc<Shared> {
    let display = config.show.then(Display::start);
    let totals: Arc<Counters> = Arc::default();
    let connections: Arc<Connections> = Arc::default();
    let metrics = Arc::new(Metrics::new(Arc::clone(&totals)));
    metrics.register(Box::new(crate::stats::connection_metrics(Arc::clone(&connections))));
    metrics.watch_events(Arc::clone(&config.events));
    if let Some(history) = &config.history {
        let clips = history.recorder().map(|r| Arc::clone(&r.counts));
        metrics.register(Box::new(nvt_history::metrics::HistoryCollector::new(Arc::clone(&history.counts), clips)));
    }
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(ReplySink), Box::new(StageMetricsSink(Arc::clone(&metrics)))];
    // Without a detector there are no objects, so no events.
    if !config.detectors.is_empty() || fleet.is_some() {
        sinks.push(Box::new(EventSink(Arc::clone(&config.events))));
    }
    sinks.push(Box::new(ViewerSink));
    if let Some(log) = &config.log {
        sinks.push(Box::new(LogSink(Arc::clone(log))));
    }
    sinks.push(Box::new(WindowSink));
    let output = Arc::new(Output {
        sinks,
        metrics: Arc::clone(&metrics),
        track: config.track.clone(),
        look: config.look.clone(),
    });
    let had_model = !config.detectors.is_empty();
    let detector = detector_stage(std::mem::take(&mut config.detectors), &output, config.max_pixels);
    let reloader = match (config.model_source.take(), &detector) {
        (Some(source), Some(stage)) => match Reloader::start(source, Arc::clone(stage), Arc::clone(&metrics)) {
            Ok(reloader) => Some(Arc::new(reloader)),
            Err(error) => {
                tracing::error!(%error, "cannot start the model loader; the model cannot be swapped live");
                None
            }
        },
        _ => None,
    };
    if let Some(reloader) = reloader.clone() {
        let reload = Arc::clone(&config.reload);
        tokio::spawn(async move {
            loop {
                reload.notified().await;
                tracing::info!("reload requested");
                reloader.request(None);
            }
        });
    }
    let frames: Arc<dyn FrameStage> = match (detector, fleet) {
        (Some(detector), _) => detector,
        (None, Some((nats, group))) => Arc::new(nvt_pipeline::remote::RemoteStage::new(
            nats,
            &group,
            Arc::clone(&output),
            config.max_pixels,
            &metrics,
        )),
        (None, None) => Arc::new(DecodeOnly::new(Arc::clone(&output), config.max_pixels, no_detection(had_model))),
    };
    Arc::new(Shared {
        config,
        frames,
        output,
        display,
        totals,
        connections,
        clients: Mutex::default(),
        admission,
        outside: tokio_util::task::TaskTracker::new(),
        next_id: AtomicU64::new(1),
        metrics,
        reloader,
        lifecycle: Mutex::new(Throttle::new(std::time::Duration::from_millis(50))),
        hints: Mutex::new([(); 3].map(|()| Throttle::new(std::time::Duration::from_secs(1)))),
    })
}

/// Why a server without a detector stage does not detect: none was asked for, or its threads
/// could not start.
fn no_detection(had_model: bool) -> nvt_pipeline::Detection {
    use nvt_pipeline::{Detection, DetectionState::NoModel};
    if had_model {
        Detection::not(NoModel, "the detector could not start (see the log); frames are only decoded")
    } else {
        Detection::not(
            NoModel,
            "the server runs without a model: start it with --model FILE, or --nats URL to send frames to nvt-worker processes",
        )
    }
}

/// The detector stage around the loaded model, one session per worker; `None` without a model
/// (or when its threads cannot start: the server then serves without detection).
fn detector_stage(
    detectors: Vec<nvt_detect::Detector>,
    output: &Arc<Output>,
    max_pixels: u64,
) -> Option<Arc<DetectorStage>> {
    let (model, load_time) = detectors.first().map(|d| (d.info().id.clone(), d.load_time()))?;
    output.metrics.model_info.with_label_values(&[&model]).set(1.0);
    output.metrics.model_load_seconds.set(load_time.as_secs_f64());
    match DetectorStage::start(detectors, Arc::clone(output), max_pixels) {
        Ok(stage) => {
            tracing::info!(%model, workers = stage.workers(), "detector ready");
            Some(Arc::new(stage))
        }
        Err(error) => {
            tracing::error!(%error, "cannot start the detector thread; serving without detection");
            None
        }
    }
}

/// The accept loop: admits connections within the limits, spawns a handler for each, logs the
/// stats line, and on shutdown winds everything down within the grace period.
struct Listener {
    listener: TcpListener,
    admission: Arc<Admission>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    sessions: JoinSet<()>,
    /// The latency histogram's sum and count, and the detector's busy and idle seconds, at the
    /// last stats line.
    timing: (f64, u64, f64, f64),
}

impl Listener {
    /// Accepts until `shutdown` completes.
    async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        let mut stats_tick = tokio::time::interval(self.shared.config.stats_every);
        stats_tick.tick().await;
        let mut expiry_tick = tokio::time::interval(EXPIRY_EVERY);
        let mut last = CounterValues::default();
        let mut refusals = Throttle::new(std::time::Duration::from_secs(1));
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "listening");
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, addr)) => self.admit(stream, addr, &mut refusals),
                    Err(error) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        if let Some(held_back) = refusals.allow(std::time::Instant::now()) {
                            tracing::warn!(%error, failed_since_last_line = held_back, "accept failed");
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                _ = stats_tick.tick() => last = self.stats(last),
                _ = expiry_tick.tick() => self.shared.config.events.expire(),
                Some(ended) = self.sessions.join_next(), if !self.sessions.is_empty() => self.ended(ended),
            }
        }
    }

    /// Serves a new connection, or refuses it past the limits (one log line a second at most).
    fn admit(&mut self, stream: tokio::net::TcpStream, addr: std::net::SocketAddr, refusals: &mut Throttle) {
        let slot = match self.admission.admit(addr.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                Counters::bump(&self.shared.connections.refused);
                if let Some(held_back) = refusals.allow(std::time::Instant::now()) {
                    let why = match refusal {
                        Refusal::Full => "too many clients (--max-clients)",
                        Refusal::PerAddress => "too many clients from this address (--max-clients-per-ip)",
                    };
                    tracing::warn!(peer = %addr, refused_since_last_line = held_back, "connection refused: {why}");
                }
                return;
            }
        };
        Counters::bump(&self.shared.connections.accepted);
        let (shared, stop) = (Arc::clone(&self.shared), self.stop.clone());
        self.sessions.spawn(async move {
            session::serve(stream, addr.to_string(), shared, stop).await;
            drop(slot);
        });
    }

    /// Logs the stats line; returns the counters it was computed from.
    fn stats(&mut self, last: CounterValues) -> CounterValues {
        let now = self.shared.totals.snapshot();
        let secs = self.shared.config.stats_every.as_secs_f64();
        let (rss_kib, threads) = crate::stats::process_usage();
        let metrics = &self.shared.metrics;
        let timing = (
            metrics.latency_seconds.get_sample_sum(),
            metrics.latency_seconds.get_sample_count(),
            metrics.detector_busy_seconds.get(),
            metrics.detector_idle_seconds.get(),
        );
        let (frames, busy, idle) = (timing.1 - self.timing.1, timing.2 - self.timing.2, timing.3 - self.timing.3);
        let latency_ms = if frames > 0 { (timing.0 - self.timing.0) * 1000.0 / frames as f64 } else { 0.0 };
        let detector_busy = if busy + idle > 0.0 { busy * 100.0 / (busy + idle) } else { 0.0 };
        self.timing = timing;
        let line = crate::stats::StatsLine {
            time: nvt_pipeline::record::unix_now(),
            clients: self.admission.in_use(),
            tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks(),
            threads,
            rss_kib,
            fps_in: nvt_pipeline::record::round2((now.fresh - last.fresh) as f64 / secs),
            fps_processed: nvt_pipeline::record::round2((now.processed - last.processed) as f64 / secs),
            stale: now.stale - last.stale,
            repeated: now.repeated - last.repeated,
            latency_ms: nvt_pipeline::record::round2(latency_ms),
            detector_busy: nvt_pipeline::record::round2(detector_busy),
        };
        tracing::info!(
            clients = line.clients,
            tasks = line.tasks,
            threads = line.threads,
            rss_kib = line.rss_kib,
            fps_in = format!("{:.1}", line.fps_in),
            fps_processed = format!("{:.1}", line.fps_processed),
            stale = line.stale,
            repeated = line.repeated,
            "stats"
        );
        // Each client's link: where frames come late, the line says why.
        for view in crate::web::client_views(&self.shared) {
            tracing::info!(
                camera = %view.camera,
                peer = %view.peer,
                fps_in = format!("{:.1}", view.fps_in),
                rtt_ms = view.rtt_ms.map(|v| format!("{v:.1}")).unwrap_or_default(),
                upload_ms = view.upload_ms.map(|v| format!("{v:.1}")).unwrap_or_default(),
                wait_ms = view.wait_ms.map(|v| format!("{v:.1}")).unwrap_or_default(),
                stale = view.stale,
                stale_reason = stale_reason(view.stale, view.stale_link),
                "client link"
            );
        }
        if let Some(mqtt) = self.shared.config.events.mqtt() {
            match serde_json::to_vec(&line) {
                Ok(json) => mqtt.stats_line(json),
                Err(error) => tracing::warn!(%error, "cannot encode the stats line"),
            }
        }
        now
    }

    /// A session ended; a panic in it is counted, and the server carries on.
    fn ended(&self, ended: Result<(), tokio::task::JoinError>) {
        if let Err(error) = ended {
            if error.is_panic() {
                self.shared.metrics.panics.with_label_values(&["session"]).inc();
                tracing::error!(panic = %nvt_pipeline::panics::message(error.into_panic().as_ref()), "a session panicked; the server carries on");
            }
        }
    }

    /// Stops accepting and winds down sessions, viewers, the loader and the frame stage, seals
    /// the log and stops the events, all within [`SHUTDOWN_BUDGET`] counted from here.
    async fn shut_down(mut self, web: Option<tokio::task::JoinHandle<()>>) -> Summary {
        tracing::info!("shutting down");
        let until = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
        let left = || until.saturating_duration_since(tokio::time::Instant::now());
        self.stop.cancel();
        let shared = Arc::clone(&self.shared);
        let web_abort = web.as_ref().map(tokio::task::JoinHandle::abort_handle);
        let sessions = &mut self.sessions;
        let finish = async {
            while sessions.join_next().await.is_some() {}
            shared.outside.close();
            shared.outside.wait().await;
            if let Some(web) = web {
                let _ = web.await;
            }
            if let Some(reloader) = shared.reloader.clone() {
                let _ = tokio::task::spawn_blocking(move || reloader.stop()).await;
            }
            let frames = Arc::clone(&shared.frames);
            let _ = tokio::task::spawn_blocking(move || frames.stop()).await;
        };
        // A viewer that stopped reading, a peer that stopped answering or a model still loading
        // must not keep the process from ending: past their share, what is left is dropped.
        if tokio::time::timeout_at(until - AFTER_SESSIONS, finish).await.is_err() {
            tracing::warn!("shutdown: sessions did not finish in time; leaving the rest");
            self.sessions.abort_all();
            if let Some(web) = web_abort {
                web.abort();
            }
        }
        if let Some(log) = &shared.config.log {
            if let Err(error) = log.seal_within(left().min(std::time::Duration::from_millis(500))) {
                tracing::error!(%error, "cannot flush the log");
            }
        }
        // The sessions' ends have ended their objects; the events still buffered for MQTT get
        // what is left of the budget to go out, then `offline` is published. An events file into
        // a pipe nobody reads, or a frozen MQTT broker, is left behind when the budget is spent.
        let events = Arc::clone(&shared.config.events);
        let patience = left().saturating_sub(std::time::Duration::from_millis(300));
        let stopped = tokio::task::spawn_blocking(move || events.stop(patience));
        if tokio::time::timeout_at(until, stopped).await.is_err() {
            tracing::warn!("shutdown: the events did not stop in time; leaving them");
        }
        // What the events thread handed over is written, and the clips under way are finished
        // with the frames they have.
        if let Some(history) = &shared.config.history {
            history.stop(left().max(std::time::Duration::from_millis(700))).await;
        }
        let summary = summary(&shared);
        drop(self);
        if let Some(display) = Arc::into_inner(shared).and_then(|s| s.display) {
            display.stop();
        }
        summary
    }
}

/// Why a client's frames came late, in a word or two for the stats line.
fn stale_reason(stale: u64, link: u64) -> &'static str {
    match (stale, link) {
        (0, _) => "none",
        (_, 0) => "waited at the client",
        (s, l) if s == l => "the link (round trip and upload over --max-lag)",
        _ => "both the link and waits at the client",
    }
}

fn summary(shared: &Shared) -> Summary {
    Summary {
        accepted: shared.connections.accepted.load(Relaxed),
        refused: shared.connections.refused.load(Relaxed),
        failed: shared.connections.failed.load(Relaxed),
        frames: shared.totals.snapshot(),
    }
}
