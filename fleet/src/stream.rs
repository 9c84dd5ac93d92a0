//! Events from every ingest server in one JetStream stream, subjects `nvt.events.<camera>`, kept
//! for a week (and at most 1 GiB): a consumer that restarts reads on from where it was. The ingest's events thread
//! hands each event over and never waits: a task publishes them in order, each kept until
//! JetStream has acknowledged it.

use crate::error::FleetError;
use crate::subjects::{events_subject, EVENTS_STREAM};
use nvt_events::hub::EventOutput;
use nvt_events::Event;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting for JetStream, at most; past it new ones are dropped (a warning says how many).
const MAX_WAITING: usize = 10_000;

/// The stream keeps at most this many bytes of events (the oldest go first), besides a week.
const MAX_STREAM_BYTES: i64 = 1 << 30;

/// The events stream as ingest servers make it.
pub fn config() -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: EVENTS_STREAM.into(),
        subjects: vec!["nvt.events.>".into()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        max_bytes: MAX_STREAM_BYTES,
        ..Default::default()
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
            let config = config();
            let mut ready = false;
            while let Some((subject, id, payload)) = waiting.recv().await {
                let mut backoff = Duration::from_millis(100);
                let mut failures = 0u32;
                loop {
                    // The stream is made when missing (first use, or a broker that lost its store).
                    if !ready {
                        ready = jetstream.get_or_create_stream(config.clone()).await.is_ok();
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
