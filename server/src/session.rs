//! One client connection: the classic exchange loop on the network side, over a camera-port
//! connection ([`serve`]) or any other stream that has passed its doors ([`serve_admitted`]: the
//! web view's camera page, over a WebSocket).

use crate::admission::Admission;
use crate::config::Config;
use crate::repeats::{LastFrame, Sent};
use crate::stats::Connections;
use nvt_capture::jpeg;
use nvt_pipeline::display::Display;
use nvt_pipeline::record::ms;
use nvt_pipeline::Counters;
use nvt_pipeline::FrameStage;
use nvt_pipeline::Metrics;
use nvt_pipeline::{Feed, Incoming};
use nvt_support::sync::lock;
use nvt_support::Throttle;
use nvt_transport::{Foreign, LinkReport, Pacer, ServerConnection, StaleReason, TransportError, Verdict};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// What every session shares.
pub struct Shared {
    /// The server's settings.
    pub config: Config,
    /// What happens to the clients' frames: decode only, or detect.
    pub frames: Arc<dyn FrameStage>,
    /// Where processed frames go; told of clients coming and going.
    pub output: Arc<nvt_pipeline::Output>,
    /// The window thread, with `--show`.
    pub display: Option<Display>,
    /// Counters over all clients.
    pub totals: Arc<Counters>,
    /// Connection counters.
    pub connections: Arc<Connections>,
    /// The clients connected now, for the web view.
    pub clients: Mutex<Vec<Arc<Feed>>>,
    /// Client slots (`--max-clients`, `--max-clients-per-ip`), for the camera port and the
    /// camera page alike.
    pub admission: Arc<Admission>,
    /// Sessions started outside the accept loop (the camera page's), which shutdown waits for
    /// as it waits for its own.
    pub outside: tokio_util::task::TaskTracker,
    /// The next client id.
    pub next_id: AtomicU64,
    /// What `/metrics` serves.
    pub metrics: Arc<Metrics>,
    /// Swaps the model live, when the server runs one.
    pub reloader: Option<Arc<nvt_pipeline::swap::Reloader>>,
    /// Connection comings and goings are logged at most 20 lines a second, so that a flood of
    /// short connections cannot flood the log.
    pub lifecycle: Mutex<Throttle>,
    /// A peer that speaks another protocol (a browser, a TLS client at a plain port) gets a hint
    /// in the log of its own, a line a second at most for each kind of peer (HTTP, TLS, plain),
    /// so that the connection lines around it cannot hold it back.
    pub hints: Mutex<[Throttle; 3]>,
}

impl Shared {
    /// Whether a connection's coming or going may be logged now; `Some(held)` counts the lines
    /// held back since the last, when there were any.
    pub fn may_log(&self) -> Option<Option<u64>> {
        lock(&self.lifecycle).allow(std::time::Instant::now())
    }

    /// Whether a hint about a peer that speaks `foreign` may be logged now.
    pub fn may_hint(&self, foreign: Foreign) -> Option<Option<u64>> {
        let kind = match foreign {
            Foreign::Http => 0,
            Foreign::Tls => 1,
            Foreign::Plain | Foreign::Other => 2,
        };
        lock(&self.hints)[kind].allow(std::time::Instant::now())
    }

    /// The clients connected now.
    pub fn clients(&self) -> Vec<Arc<Feed>> {
        lock(&self.clients).clone()
    }
}

/// Serves one client until it leaves, breaks the protocol, times out, or the server stops.
pub async fn serve(stream: TcpStream, peer: String, shared: Arc<Shared>, stop: CancellationToken) {
    // In protected mode nothing of the server (a listing, a counter, a detector turn) is spent on
    // a peer until its TLS handshake and token have checked out, within the read timeout.
    let config = &shared.config;
    let admitted = tokio::select! {
        admitted = config.guard.admit(stream, config.limits.read_timeout) => admitted,
        () = stop.cancelled() => return,
    };
    let (stream, given_name) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            Counters::bump(&shared.connections.failed);
            let may = match error {
                TransportError::ForeignClient(foreign) => shared.may_hint(foreign),
                _ => shared.may_log(),
            };
            if let Some(held_back) = may {
                tracing::warn!(%peer, held_back_since_last = held_back, "refused before the protocol began: {error}");
            }
            return;
        }
    };
    serve_admitted(stream, peer, given_name, shared, stop).await;
}

/// Serves a client whose stream has passed its doors (protected mode's, or the web view's), as
/// camera `given_name` when it named itself, until it leaves, breaks the protocol, times out, or
/// the server stops. `peer` is its address, `IP:PORT`.
pub async fn serve_admitted(
    stream: Box<dyn nvt_transport::Stream>,
    peer: String,
    given_name: Option<String>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let config = &shared.config;
    let ip = peer.parse::<std::net::SocketAddr>().map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let camera = tokio::select! {
        camera = config.cameras.claim(ip, given_name, crate::cameras::HANDOVER) => camera,
        () = stop.cancelled() => return,
    };
    let window = shared.display.as_ref().map(|d| d.window(&format!("{} ({peer})", camera.as_str())));
    let id = shared.next_id.fetch_add(1, Relaxed);
    let client =
        Arc::new(Feed::new(id, peer.clone(), camera.as_str().to_owned(), window.clone(), Arc::clone(&shared.totals)));
    if let Err(error) = shared.frames.register(&client) {
        tracing::error!(%peer, %error, "cannot start serving the client; dropping it");
        return;
    }
    shared.output.joined(&client);
    lock(&shared.clients).push(Arc::clone(&client));
    shared.metrics.connected.inc();
    if let Some(held_back) = shared.may_log() {
        tracing::info!(%peer, camera = %client.camera, id, held_back_since_last = held_back, "client connected");
    }

    let outcome = tokio::select! {
        outcome = exchange_loop(stream, &client, &shared) => outcome,
        () = stop.cancelled() => Ok(()),
    };
    // The same camera connecting again now waits for its name rather than taking another, while
    // its frames finish and its session is torn down.
    camera.leaving();
    match outcome {
        // A client that left cleanly, or one still streaming when the server stops: the frames
        // it was promised finish (an accepted frame is detected, logged and evented).
        Ok(()) => finish_frames(&client).await,
        Err(error) if error.is_clean_close() => finish_frames(&client).await,
        Err(error @ TransportError::ForeignClient(foreign)) => {
            Counters::bump(&shared.connections.failed);
            if let Some(held_back) = shared.may_hint(foreign) {
                tracing::warn!(%peer, held_back_since_last = held_back, "{error}");
            }
        }
        Err(error) => {
            Counters::bump(&shared.connections.failed);
            if let Some(held_back) = shared.may_log() {
                tracing::warn!(%peer, held_back_since_last = held_back, "connection dropped: {error}");
            }
        }
    }
    client.frames.close();
    let (frames, output, leaving) = (Arc::clone(&shared.frames), Arc::clone(&shared.output), Arc::clone(&client));
    let _ = tokio::task::spawn_blocking(move || {
        frames.unregister(&leaving);
        output.left(&leaving);
    })
    .await;
    // The camera's series go before its name is free for a new connection to claim.
    shared.metrics.forget_link(&client.camera);
    drop(camera);
    if let Some(window) = window {
        window.close();
    }
    lock(&shared.clients).retain(|c| !Arc::ptr_eq(c, &client));
    shared.metrics.connected.dec();
    let c = client.counters.snapshot();
    if let Some(held_back) = shared.may_log() {
        tracing::info!(
            %peer,
            camera = %client.camera,
            fresh = c.fresh,
            repeated = c.repeated,
            stale = c.stale,
            stale_link = c.stale_link,
            processed = c.processed,
            superseded = c.superseded,
            refused = c.refused,
            held_back_since_last = held_back,
            "client disconnected"
        );
    }
}

/// How long the frames a client left behind may take to finish.
const FINISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Lets the frames of a client that left cleanly (a `--frames` run, a file's end), or that was
/// streaming when the server stopped, finish their way through the frame path, so that its last
/// frame is logged too; within [`FINISH_LIMIT`]. The frame path stops only once the sessions
/// have ended, and the server's shutdown budget bounds the wait.
async fn finish_frames(client: &Feed) {
    let deadline = tokio::time::Instant::now() + FINISH_LIMIT;
    while client.counters.snapshot().in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn exchange_loop(
    stream: Box<dyn nvt_transport::Stream>,
    client: &Feed,
    shared: &Shared,
) -> Result<(), TransportError> {
    let config = &shared.config;
    let mut conn = ServerConnection::start(stream, config.limits.clone(), config.max_lag).await?;
    let mut seq = 0u64;
    let mut pacer = Pacer::new();
    let mut previous = LastFrame::default();
    loop {
        let frame = conn.next_frame().await?;
        let judged = frame.judgement;
        client.recent().exchanged(judged);
        shared.metrics.link(&client.camera, &judged);
        let sent = previous.classify(&frame.payload);
        let repeat = sent != Sent::New;
        if repeat {
            client.bump(|c| &c.repeated);
        }
        let verdict = match judged.stale {
            Some(reason) => {
                client.bump(|c| &c.stale);
                if reason == StaleReason::Link {
                    client.bump(|c| &c.stale_link);
                }
                tracing::debug!(
                    peer = %client.peer,
                    reason = reason.as_str(),
                    lag_ms = ms(judged.lag),
                    wait_ms = ms(judged.wait),
                    rtt_ms = ms(judged.rtt),
                    upload_ms = ms(judged.upload),
                    "stale frame"
                );
                Verdict::Stale
            }
            None if sent == (Sent::Repeat { taken: true }) => Verdict::Fresh,
            // A cheap look at the header before the frame is accepted.
            None => match jpeg::check_header(&frame.payload, config.max_pixels) {
                Ok(_) => {
                    client.bump(|c| &c.fresh);
                    client.recent().accepted(std::time::Instant::now());
                    if let Some(history) = &config.history {
                        history.frame(&client.camera, config.events.now(), frame.payload.clone());
                    }
                    let incoming =
                        Incoming { seq, payload: frame.payload.clone(), arrived: frame.arrived, lag: judged.lag };
                    if client.frames.put(incoming) {
                        client.bump(|c| &c.superseded);
                    }
                    shared.frames.frame_arrived(client);
                    seq += 1;
                    Verdict::Fresh
                }
                Err(error) => {
                    client.bump(|c| &c.refused);
                    if let Some(held_back) = client.may_warn() {
                        tracing::warn!(peer = %client.peer, %error, held_back_since_last = held_back, "frame refused");
                    }
                    Verdict::Stale
                }
            },
        };
        previous.remember(frame.payload, verdict == Verdict::Fresh);
        let next = pacer.next_timestamp(frame.times, repeat, judged.rtt);
        tracing::trace!(
            peer = %client.peer,
            repeat,
            response_ms = ms(frame.times.response()),
            hold_ms = ms(next.saturating_duration_since(frame.arrived)),
            interval_ms = pacer.interval().map(ms),
            "paced"
        );
        conn.answer_at(verdict, &client.reply(LinkReport::new(conn.rule(), &judged)), next).await?;
    }
}
