//! The exchange loop: connect, then for each timestamp the server sends, send the newest frame
//! and read the verdict and reply; after any failure, wait a backoff delay and connect again,
//! forever, until the frame or time budget is spent or the caller stops it.

use crate::backoff::Backoff;
use crate::capture::{self, Captured, Encoded};
use crate::outbox::{Outbox, Pick};
use crate::preview::{self, Annotated};
use crate::status::{Exchange, Status};
use crate::Config;
use nvt_capture::slot::Slot;
use nvt_transport::field::{FIELD_LEN, REPLY_LEN};
use nvt_transport::{ClientConnection, ReplyBody, ServerEvent, TransportError};
use opencv::prelude::*;
use serde::Serialize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// What a run of the client did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames the source delivered (captured and encoded).
    pub captured: u64,
    /// Their JPEG bytes: what the source itself produced.
    pub captured_bytes: u64,
    /// Distinct frames sent (each counted once, however often it went out).
    pub sent: u64,
    /// Frames sent again, byte for byte, because no newer one was ready in time.
    pub repeats: u64,
    /// Distinct frames the server accepted ('1' for at least one of their sends).
    pub accepted: u64,
    /// Sends the server answered '0'.
    pub stale: u64,
    /// Bytes on the wire, both ways: every send's fields and JPEG, every answer and timestamp.
    pub wire_bytes: u64,
    /// Successful connections.
    pub connections: u64,
    /// Failed connection attempts and lost connections.
    pub failures: u64,
}

/// The JSON Lines record of one exchange (`--log`).
#[derive(Debug, Serialize)]
struct ExchangeRecord<'a> {
    time: f64,
    frame: u64,
    bytes: usize,
    /// The frame's bytes went out before: sent again to keep the handshake fresh.
    repeat: bool,
    accepted: bool,
    rtt_ms: f64,
    response: Option<&'a ReplyBody>,
}

/// Why the loop ended.
enum End {
    /// Budget spent, source ended or stopped: exit cleanly.
    Done,
    /// The connection failed: reconnect.
    Lost(TransportError),
}

/// Runs the client until `--frames`, `--duration`, the end of a finite source, or `stop`.
pub async fn run(config: Config, stop: CancellationToken) -> anyhow::Result<Summary> {
    let source = nvt_capture::open(&config.source, config.size)?;
    let fps = match config.fps {
        Some(fps) => fps,
        // A file says its own rate, and a file can say anything: keep it to what a flag may say.
        None => source.nominal_fps().filter(|f| crate::cli::FPS_RANGE.contains(f)).unwrap_or(30.0),
    };
    let frames = Arc::new(Slot::new());
    let captured = Arc::new(Captured::default());
    let settings = capture::Settings { fps, quality: config.jpeg_quality, keep_image: config.show };
    let capture = capture::spawn(source, settings, Arc::clone(&frames), Arc::clone(&captured), stop.child_token())?;
    let preview_slot: Option<Arc<Slot<Annotated>>> = config.show.then(|| Arc::new(Slot::new()));
    let preview = match &preview_slot {
        Some(slot) => Some(preview::spawn(Arc::clone(slot))?),
        None => None,
    };
    if let Some(limit) = config.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.cancel();
        });
    }

    let mut run = Loop {
        config: &config,
        outbox: Outbox::new(&frames),
        captured: &captured,
        last_accepted: false,
        preview: preview_slot.as_deref(),
        status: Status::new(config.status_line, Duration::from_millis(if config.status_line { 500 } else { 5000 })),
        summary: Summary::default(),
        progressed: false,
    };
    let mut backoff = Backoff::new(config.backoff_first, config.backoff_cap);
    loop {
        let end = tokio::select! {
            end = run.connection() => end,
            () = stop.cancelled() => End::Done,
        };
        match end {
            End::Done => break,
            End::Lost(error) => {
                run.summary.failures += 1;
                if run.progressed {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::warn!(server = %config.connect, %error, retry_in_ms = delay.as_millis() as u64, "connection lost");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => break,
                }
            }
        }
    }
    run.status.report(captured.frames.load(Relaxed));
    run.status.finish();
    stop.cancel();
    frames.close();
    let mut summary = run.summary;
    summary.captured = captured.frames.load(Relaxed);
    summary.captured_bytes = captured.bytes.load(Relaxed);
    if let Some(log) = &config.log {
        log.flush()?;
    }
    let _ = tokio::task::spawn_blocking(move || capture.join()).await;
    if let (Some(slot), Some(preview)) = (preview_slot, preview) {
        slot.close();
        let _ = tokio::task::spawn_blocking(move || preview.join()).await;
    }
    tracing::info!(?summary, "client stopped");
    Ok(summary)
}

struct Loop<'a> {
    config: &'a Config,
    outbox: Outbox<'a>,
    captured: &'a Captured,
    /// Whether the last new frame has been accepted yet (a repeat of it may still be).
    last_accepted: bool,
    preview: Option<&'a Slot<Annotated>>,
    status: Status,
    summary: Summary,
    /// Whether the current connection completed an exchange (then backoff starts over).
    progressed: bool,
}

/// Bytes of one exchange besides the JPEG: timestamp, length and echo fields, and the flag.
const FIELDS_BYTES: u64 = 3 * FIELD_LEN as u64 + 1;

impl Loop<'_> {
    /// One connection's life: connect, then exchange until something fails or we are done.
    async fn connection(&mut self) -> End {
        let (config, limits) = (self.config, self.config.limits.clone());
        let connect = ClientConnection::connect_protected(
            config.connect.as_str(),
            limits,
            config.tls.as_ref(),
            config.token.as_deref(),
            config.name.as_deref(),
        );
        let mut conn = match connect.await {
            Ok(conn) => conn,
            Err(error) => return End::Lost(error),
        };
        self.summary.connections += 1;
        self.progressed = false;
        tracing::info!(server = %self.config.connect, "connected");
        loop {
            let ts = match conn.next_event().await {
                Ok(ServerEvent::Timestamp(ts)) => ts,
                Ok(other) => return End::Lost(unexpected(&other)),
                Err(error) => return End::Lost(error),
            };
            let (frame, repeat) = match self.outbox.pick().await {
                Pick::New(frame) => (frame, false),
                Pick::Repeat(frame) => (frame, true),
                Pick::Closed => {
                    conn.close().await;
                    return End::Done;
                }
            };
            let sent_at = Instant::now();
            if let Err(error) = conn.send_frame(&frame.jpeg, &ts).await {
                return End::Lost(error);
            }
            let reply = match conn.next_event().await {
                Ok(ServerEvent::Stale) => None,
                Ok(ServerEvent::Accepted(bytes)) => Some(ReplyBody::parse(&bytes)),
                Ok(other) => return End::Lost(unexpected(&other)),
                Err(error) => return End::Lost(error),
            };
            let rtt = sent_at.elapsed();
            self.outbox.exchanged(rtt);
            if self.exchanged(&frame, repeat, reply, rtt) {
                conn.close().await;
                return End::Done;
            }
        }
    }

    /// Records an exchange; true when the frame budget is spent.
    fn exchanged(&mut self, frame: &Encoded, repeat: bool, reply: Option<ReplyBody>, rtt: Duration) -> bool {
        let accepted = reply.is_some();
        self.progressed = true;
        let s = &mut self.summary;
        if repeat {
            s.repeats += 1;
        } else {
            s.sent += 1;
            self.last_accepted = false;
        }
        let newly_accepted = accepted && !self.last_accepted;
        if newly_accepted {
            s.accepted += 1;
            self.last_accepted = true;
        }
        if !accepted {
            s.stale += 1;
        }
        s.wire_bytes += FIELDS_BYTES + frame.jpeg.len() as u64 + if accepted { REPLY_LEN as u64 } else { 0 };
        let exchange = Exchange { new: !repeat, accepted, newly_accepted };
        self.status.exchange(exchange, rtt, self.captured.frames.load(Relaxed));
        if let Some(log) = &self.config.log {
            let record = ExchangeRecord {
                time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                frame: frame.index,
                bytes: frame.jpeg.len(),
                repeat,
                accepted,
                rtt_ms: (rtt.as_secs_f64() * 100_000.0).round() / 100.0,
                response: reply.as_ref(),
            };
            if let Err(error) = log.write(&record) {
                tracing::error!(%error, "cannot write the log");
            }
        }
        if let (Some(preview), Some(image), false) = (self.preview, &frame.image, repeat) {
            let detections = match &reply {
                Some(ReplyBody::Doc(doc)) => doc.detections.clone(),
                _ => Vec::new(),
            };
            if let Ok(image) = image.try_clone() {
                preview.put((image, detections));
            }
        }
        self.config.frames.is_some_and(|limit| self.summary.accepted >= limit)
    }
}

fn unexpected(event: &ServerEvent) -> TransportError {
    let what = match event {
        ServerEvent::Timestamp(_) => "a timestamp where a flag belonged",
        ServerEvent::Stale | ServerEvent::Accepted(_) => "a flag where a timestamp belonged",
    };
    TransportError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what))
}
