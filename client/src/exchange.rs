//! The exchange loop: connect, then for each timestamp the server sends, send the newest frame
//! and read the verdict and reply; after any failure, wait a backoff delay and connect again,
//! forever, until the frame or time budget is spent or the caller stops it.

use crate::backoff::Backoff;
use crate::capture::{self, Captured, Encoded};
use crate::config::Config;
use crate::fit::{Change, Exchanged, Fit, Late};
use crate::link::{LinkEstimate, Sample};
use crate::outbox::{Outbox, Pick, REPEAT_BUDGET};
use crate::preview::{self, Annotated};
use crate::status::{Exchange, Link, Status};
use nvt_capture::slot::Slot;
use nvt_transport::field::{FIELD_LEN, REPLY_LEN};
use nvt_transport::{ClientConnection, LinkReport, ReplyBody, ServerEvent, TransportError};
use opencv::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
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
    /// Of those, sends the link alone made late (round trip and upload over the server's limit).
    pub stale_link: u64,
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
    /// The frame's JPEG quality and size, as the link allowed.
    quality: i32,
    width: u32,
    height: u32,
    /// The frame's bytes went out before: sent again to keep the handshake fresh.
    repeat: bool,
    accepted: bool,
    /// From the frame's first byte written to the verdict read.
    rtt_ms: f64,
    /// How long the timestamp waited here before the frame went.
    wait_ms: f64,
    /// The link as now known: its round trip (without the upload) and upload rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    link_rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_mbit_s: Option<f64>,
    /// Why a late frame was late: `waited` (here), or `link` (round trip and upload over the
    /// server's limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    late: Option<&'static str>,
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
    let interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps));
    let fit = Fit::new(config.jpeg_quality, interval, config.adapt);
    let rung = Arc::new(AtomicUsize::new(0));
    let settings =
        capture::Settings { fps, rungs: fit.rungs().to_vec(), rung: Arc::clone(&rung), keep_image: config.show };
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
        fit,
        rung,
        link: LinkEstimate::new(),
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
    /// The quality and size the link allows.
    fit: Fit,
    /// Where the capture thread reads the rung to encode at.
    rung: Arc<AtomicUsize>,
    /// The link, as the exchanges show it.
    link: LinkEstimate,
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
        self.fit.connected();
        self.progressed = false;
        tracing::info!(server = %self.config.connect, "connected");
        loop {
            let ts = match conn.next_event().await {
                Ok(ServerEvent::Timestamp(ts)) => ts,
                Ok(other) => return End::Lost(unexpected(&other)),
                Err(error) => return End::Lost(error),
            };
            let asked = Instant::now();
            // A link that cannot carry a frame on time gets a small probe every few seconds; the
            // timestamp waits here until then.
            if let Some(due) = self.fit.probe_due() {
                tokio::time::sleep_until(due.into()).await;
            }
            let last_bytes = self.outbox.last().map_or(0, |f| f.jpeg.len());
            let budget = self.fit.wait_budget(&self.link, last_bytes, REPEAT_BUDGET);
            let (mut frame, repeat) = match self.outbox.pick(budget).await {
                Pick::New(frame) => (frame, false),
                Pick::Repeat(frame) => (frame, true),
                Pick::Closed => {
                    conn.close().await;
                    return End::Done;
                }
            };
            // A frame encoded before the link was found slower is too big for it: the next
            // capture, at the quality the link allows, is worth waiting for a little.
            if !repeat && frame.rung < self.fit.current() {
                if let Pick::New(smaller) = self.outbox.pick(self.fit.wait_for_smaller(budget)).await {
                    frame = smaller;
                }
            }
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
            let timing = Timing { rtt: sent_at.elapsed(), wait: sent_at.saturating_duration_since(asked) };
            let late = self.fit_link(&frame, repeat, reply.as_ref(), timing);
            if self.exchanged(&frame, repeat, reply, timing, late) {
                conn.close().await;
                return End::Done;
            }
        }
    }

    /// Learns the link from an exchange and fits the next frames to it; returns why the frame
    /// was late, if it was.
    fn fit_link(&mut self, frame: &Encoded, repeat: bool, reply: Option<&ReplyBody>, timing: Timing) -> Option<Late> {
        let Timing { rtt, wait } = timing;
        // The report comes from the server: numbers no server measures are ignored.
        let report = match reply {
            Some(ReplyBody::Doc(doc)) => doc.link.and_then(LinkReport::checked),
            _ => None,
        };
        let now = Instant::now();
        self.link.add(Sample { bytes: frame.jpeg.len() + 2 * FIELD_LEN, total: rtt, report });
        if !repeat {
            self.fit.encoded(frame.rung, frame.jpeg.len(), now);
        }
        let exchange = Exchanged { report: report.as_ref(), accepted: reply.is_some(), wait, took: rtt };
        let (late, change) = self.fit.exchanged(exchange, &self.link, now);
        self.rung.store(self.fit.current(), Relaxed);
        match change {
            Change::None => {}
            Change::Hopeless { rtt, limit } => tracing::warn!(
                server = %self.config.connect,
                rtt_ms = ms(rtt).round(),
                limit_ms = ms(limit).round(),
                "no frame can arrive in time: the round trip alone is longer than the {} ms the server allows \
                 from timestamp to echo. An nvt-server judges only the time a frame waits here \
                 (--max-lag auto, its default); one started with --max-lag counts the link as well. \
                 Sending a small probe every {} s until the link allows more",
                ms(limit).round(),
                crate::fit::PROBE_EVERY.as_secs()
            ),
            Change::Recovered => {
                tracing::info!(server = %self.config.connect, "the link fits the server's limit again")
            }
        }
        late
    }

    /// Records an exchange; true when the frame budget is spent.
    fn exchanged(
        &mut self,
        frame: &Encoded,
        repeat: bool,
        reply: Option<ReplyBody>,
        timing: Timing,
        late: Option<Late>,
    ) -> bool {
        let Timing { rtt, wait } = timing;
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
        if late == Some(Late::Link) {
            s.stale_link += 1;
        }
        s.wire_bytes += FIELDS_BYTES + frame.jpeg.len() as u64 + if accepted { REPLY_LEN as u64 } else { 0 };
        let exchange = Exchange { new: !repeat, accepted, newly_accepted, late };
        let upload_mbit_s = self.link.rate().map(|r| (r * 8.0 / 1e4).round() / 100.0);
        let link = Link {
            rtt: self.link.rtt(),
            upload_mbit_s,
            quality: frame.quality,
            size: frame.size,
            bytes: frame.jpeg.len(),
            probing: self.fit.probing(),
        };
        self.status.exchange(exchange, rtt, link, self.captured.frames.load(Relaxed));
        if let Some(log) = &self.config.log {
            let record = ExchangeRecord {
                time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                frame: frame.index,
                bytes: frame.jpeg.len(),
                quality: frame.quality,
                width: frame.size.0,
                height: frame.size.1,
                repeat,
                accepted,
                rtt_ms: round2(ms(rtt)),
                wait_ms: round2(ms(wait)),
                link_rtt_ms: self.link.rtt().map(|r| round2(ms(r))),
                upload_mbit_s,
                late: late.map(Late::as_str),
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

/// How long an exchange took, and how long its timestamp waited here first.
#[derive(Debug, Clone, Copy)]
struct Timing {
    rtt: Duration,
    wait: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn unexpected(event: &ServerEvent) -> TransportError {
    let what = match event {
        ServerEvent::Timestamp(_) => "a timestamp where a flag belonged",
        ServerEvent::Stale | ServerEvent::Accepted(_) => "a flag where a timestamp belonged",
    };
    TransportError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what))
}
