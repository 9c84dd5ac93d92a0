//! Events from every ingest server in one JetStream stream, subjects `nvt.events.<camera>`, kept
//! for a week (and at most 1 GiB, or what the broker's storage can hold): a consumer that restarts
//! reads on from where it was. The ingest's events thread hands each event over and never waits:
//! a task publishes them in order, each kept until JetStream has acknowledged it.

use crate::error::FleetError;
use crate::subjects::{events_subject, EVENTS_STREAM};
use nvt_events::hub::EventOutput;
use nvt_events::Event;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting for JetStream, at most; past it new ones are dropped (a warning says how many).
const MAX_WAITING: usize = 10_000;

/// The stream keeps at most this many bytes of events (the oldest go first), besides a week.
pub const MAX_STREAM_BYTES: i64 = 1 << 30;

/// The least the stream is made to keep when the broker's storage cannot hold
/// [`MAX_STREAM_BYTES`]: some 10,000 events.
pub const LEAST_STREAM_BYTES: i64 = 8 << 20;

/// The events stream as ingest servers make it, keeping at most `max_bytes`.
pub fn config(max_bytes: i64) -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: EVENTS_STREAM.into(),
        subjects: vec!["nvt.events.>".into()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        max_bytes,
        ..Default::default()
    }
}

/// Makes the events stream unless it is there, and says how many bytes it keeps. JetStream
/// reserves a stream's `max_bytes` in the broker's storage (by default three quarters of its
/// disk's free space) and refuses a stream that does not fit, as does an account whose streams
/// may keep less: the stream is then made half as large, down to [`LEAST_STREAM_BYTES`]. A
/// stream that is there already is kept as it is (one made smaller by an earlier start too).
pub async fn make(jetstream: &async_nats::jetstream::Context) -> Result<i64, FleetError> {
    let mut max_bytes = MAX_STREAM_BYTES;
    loop {
        match jetstream.get_or_create_stream(config(max_bytes)).await {
            Ok(stream) => return Ok(stream.cached_info().config.max_bytes),
            Err(error) if storage_short(&error) && max_bytes > LEAST_STREAM_BYTES => max_bytes /= 2,
            Err(error) => return Err(crate::jetstream::error(error)),
        }
    }
}

/// Makes the stream for the publishing task ([`make`]), and says when it keeps less than 1 GiB:
/// once a start, not after every time the broker was away.
async fn made(jetstream: &async_nats::jetstream::Context, warned: &mut bool) -> Result<(), FleetError> {
    let kept = make(jetstream).await?;
    if (0..MAX_STREAM_BYTES).contains(&kept) && !std::mem::replace(warned, true) {
        tracing::warn!(
            kept_bytes = kept,
            "the NATS server's JetStream storage cannot hold 1 GiB of events; the events stream \
             keeps less (give the server more disk, or a larger max_file_store)"
        );
    }
    Ok(())
}

/// Whether JetStream refused a stream for want of storage (the server's, or the account's
/// limit on a stream's bytes).
fn storage_short(error: &async_nats::jetstream::context::CreateStreamError) -> bool {
    use async_nats::jetstream::context::CreateStreamErrorKind;
    use async_nats::jetstream::ErrorCode;
    match error.kind() {
        CreateStreamErrorKind::JetStream(error) => {
            let short = [
                ErrorCode::INSUFFICIENT_RESOURCES,
                ErrorCode::STORAGE_RESOURCES_EXCEEDED,
                ErrorCode::STREAM_MAX_STREAM_BYTES_EXCEEDED,
            ];
            short.contains(&error.error_code())
        }
        _ => false,
    }
}

/// Publishes events to the stream.
pub struct EventStream {
    sender: mpsc::Sender<(String, String, Vec<u8>)>,
    dropped: std::sync::atomic::AtomicU64,
}

impl EventStream {
    /// Starts publishing on the current runtime: the stream is made (if need be) once the broker
    /// answers, and events wait until then.
    pub fn start(client: async_nats::Client) -> Self {
        let jetstream = async_nats::jetstream::new(client);
        let (sender, mut waiting) = mpsc::channel::<(String, String, Vec<u8>)>(MAX_WAITING);
        tokio::spawn(async move {
            let (mut ready, mut warned) = (false, false);
            while let Some((subject, id, payload)) = waiting.recv().await {
                let mut backoff = Duration::from_millis(100);
                let mut failures = 0u32;
                loop {
                    // The stream is made when missing (first use, or a broker that lost its store).
                    if !ready {
                        match made(&jetstream, &mut warned).await {
                            Ok(()) => ready = true,
                            Err(error) if failures.is_multiple_of(30) => {
                                tracing::warn!(%error, "cannot make the events stream; events wait")
                            }
                            Err(_) => {}
                        }
                    }
                    // The message id lets JetStream drop a copy sent again after a lost ack.
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", id.as_str());
                    let sent =
                        match jetstream.publish_with_headers(subject.clone(), headers, payload.clone().into()).await {
                            Ok(ack) => ack.await.map(|_| ()).map_err(FleetError::nats),
                            Err(error) => Err(FleetError::nats(error)),
                        };
                    match sent {
                        Ok(()) => break,
                        Err(error) => {
                            ready = false;
                            if failures.is_multiple_of(30) {
                                tracing::warn!(%error, "cannot publish an event to JetStream; it waits, and is sent again");
                            }
                            failures += 1;
                        }
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        });
        Self { sender, dropped: std::sync::atomic::AtomicU64::new(0) }
    }
}

impl EventOutput for EventStream {
    fn event(&self, event: &Event) {
        let Ok(json) = serde_json::to_vec(event) else { return };
        let after = &event.after;
        let id = format!("{}-{:?}-{}", after.id, event.kind, after.frame_time);
        if self.sender.try_send((events_subject(&after.camera), id, json)).is_err() {
            let dropped = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if dropped.is_multiple_of(1000) {
                tracing::warn!(dropped = dropped + 1, "events dropped: {MAX_WAITING} already wait for JetStream");
            }
        }
    }
}
