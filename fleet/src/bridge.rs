//! The MQTT side of the fleet: `nvt-fleet mqtt` reads the events stream with a durable consumer
//! and publishes every event to MQTT, whichever ingest server made it. A bridge that restarts
//! reads on from the last event the MQTT broker acknowledged.
//!
//! - An event is acknowledged to JetStream only once the MQTT broker has acknowledged it (QoS 1
//!   PUBACK): a bridge stopped, killed or cut off from MQTT loses none. What it held but had not
//!   handed over is given back at once on a clean stop (NAK), or after JetStream's ack wait when
//!   it was killed; while the MQTT broker is away, the held events are kept from redelivery.
//! - The stream is input like any other: a message that is not a JSON object, or is larger than
//!   [`MAX_EVENT_BYTES`] (no event is near that), is skipped, terminated in JetStream and
//!   counted in the log, so one bad message cannot stall the bridge behind it.
//! - A message seen again (redelivered after an ack was lost) is not published twice.

use crate::error::FleetError;
use crate::subjects::EVENTS_STREAM;
use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer};
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;
use nvt_events::mqtt::Publisher;
use nvt_support::LogBackoff;
use std::time::Duration;

/// The durable consumer's name, unless told otherwise.
pub const DEFAULT_CONSUMER: &str = "nvt-mqtt";

/// The largest stream message published: an event is a few KiB.
pub const MAX_EVENT_BYTES: usize = 64 << 10;

/// Most events taken from the stream at once (and held until MQTT has them).
const BATCH: usize = 64;

/// How often held events are marked in progress, well within JetStream's 30 s ack wait.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What the bridge skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Messages too large or not JSON objects.
    pub bad: u64,
    /// Messages seen again after they were published.
    pub repeated: u64,
}

/// Publishes the stream's events through `publisher` until `stop` completes (see the module's
/// notes). `publisher`'s buffer must hold at least one batch; the bridge takes at most
/// `buffer` events at a time.
pub async fn run(
    nats: async_nats::Client,
    consumer: &str,
    publisher: &Publisher,
    buffer: usize,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Skipped, FleetError> {
    crate::subjects::check_consumer(consumer)?;
    tokio::pin!(stop);
    let Some(consumer) = open(nats.clone(), consumer, &mut stop).await? else { return Ok(Skipped::default()) };
    tracing::info!(stream = EVENTS_STREAM, "bridging events to MQTT");
    let batch = BATCH.min(buffer.max(1));
    let mut settled = publisher.settled();
    let mut skipped = Skipped::default();
    let mut last_published: Option<u64> = None;
    let mut skip_hint = skip_backoff();
    loop {
        if futures_util::FutureExt::now_or_never(&mut stop).is_some() {
            let _ = tokio::time::timeout(Duration::from_secs(1), nats.flush()).await;
            return Ok(skipped);
        }
        // Not cut short by `stop` (a message delivered then would wait for JetStream's ack wait
        // before another bridge could have it): a take lasts a second at most.
        let taken = take(&consumer, batch).await;
        let messages = match taken {
            Ok(messages) => messages,
            Err(error) => {
                tracing::debug!(%error, "reading the events stream; retrying");
                tokio::select! {
                    () = &mut stop => return Ok(skipped),
                    () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        // Hand every good event over (the publisher sends them in order, one at a time), then
        // acknowledge each to JetStream as MQTT acknowledges it.
        tracing::debug!(taken = messages.len(), "events taken from the stream");
        let mut held = std::collections::VecDeque::with_capacity(messages.len());
        for message in messages {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            if last_published.is_some_and(|last| sequence <= last) {
                skipped.repeated += 1;
                acknowledge(&message, AckKind::Ack).await;
                continue;
            }
            if let Err(why) = check_event(&message.payload) {
                skipped.bad += 1;
                let subject = crate::wire::escaped(message.subject.as_str(), 200);
                if let Some(held_back) = may_log_skip(skipped.bad, &mut skip_hint) {
                    tracing::warn!(sequence, %subject, why, skipped = skipped.bad, held_back_since_last = held_back, "a stream message that is not an event was skipped");
                }
                acknowledge(&message, AckKind::Term).await;
                continue;
            }
            let number = publisher.numbered_event(message.payload.to_vec());
            held.push_back((number, sequence, message));
        }
        let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        while let Some((number, sequence, _)) = held.front() {
            if *settled.borrow_and_update() > *number {
                last_published = Some(*sequence);
                if let Some((_, _, message)) = held.pop_front() {
                    acknowledge(&message, AckKind::Ack).await;
                }
                continue;
            }
            tokio::select! {
                () = &mut stop => {
                    tracing::debug!(held = held.len(), "given back to the stream");
                    // Given back, so that the next bridge has them at once; flushed, as the
                    // process ends next.
                    for (_, _, message) in &held {
                        acknowledge(message, AckKind::Nak(None)).await;
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(1), nats.flush()).await;
                    return Ok(skipped);
                }
                changed = settled.changed() => if changed.is_err() {
                    return Err(FleetError::Nats("the MQTT publisher stopped".into()));
                },
                _ = progress.tick() => {
                    for (_, _, message) in &held {
                        acknowledge(message, AckKind::Progress).await;
                    }
                }
            }
        }
    }
}

/// Opens the durable consumer, waiting for the stream (no ingest server may have made it yet);
/// `None` when `stop` came first.
pub(crate) async fn open(
    nats: async_nats::Client,
    name: &str,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Option<Consumer<pull::Config>>, FleetError> {
    let jetstream = async_nats::jetstream::new(nats);
    let config =
        pull::Config { durable_name: Some(name.to_owned()), ack_policy: AckPolicy::Explicit, ..Default::default() };
    tracing::debug!(consumer = name, "opening the events stream's durable consumer");
    let mut hint = LogBackoff::new(Duration::from_secs(2), Duration::from_secs(300));
    loop {
        let opened = async {
            let stream = jetstream.get_stream(EVENTS_STREAM).await.map_err(crate::jetstream::error)?;
            stream.get_or_create_consumer(name, config.clone()).await.map_err(FleetError::nats)
        };
        tokio::select! {
            () = &mut *stop => return Ok(None),
            opened = opened => match opened {
                Ok(consumer) => return Ok(Some(consumer)),
                Err(error) => {
                    if let Some(held_back) = hint.allow(std::time::Instant::now()) {
                        let why = match error {
                            FleetError::NoJetStream => "",
                            _ => " (has an ingest server made the stream? may this user read it?)",
                        };
                        tracing::warn!(%error, held_back_since_last = held_back, "cannot open the events stream's consumer yet; retrying every second{why}");
                    }
                }
            },
        }
        tokio::select! {
            () = &mut *stop => return Ok(None),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Up to `batch` messages from the stream: those there now, or else the next one to come within
/// a second (none when none comes).
pub(crate) async fn take(
    consumer: &Consumer<pull::Config>,
    batch: usize,
) -> Result<Vec<async_nats::jetstream::Message>, FleetError> {
    let there = collect(consumer.fetch().max_messages(batch).messages().await.map_err(FleetError::nats)?).await?;
    if !there.is_empty() {
        return Ok(there);
    }
    let next = consumer.batch().max_messages(1).expires(Duration::from_secs(1)).messages().await;
    collect(next.map_err(FleetError::nats)?).await
}

async fn collect(
    mut messages: impl futures_util::Stream<Item = Result<async_nats::jetstream::Message, impl std::fmt::Display>> + Unpin,
) -> Result<Vec<async_nats::jetstream::Message>, FleetError> {
    let mut taken = Vec::new();
    while let Some(message) = messages.next().await {
        match message {
            Ok(message) => taken.push(message),
            Err(error) if taken.is_empty() => return Err(FleetError::nats(error)),
            Err(_) => break,
        }
    }
    Ok(taken)
}

/// Whether a stream message can be published as an event: a JSON object of at most
/// [`MAX_EVENT_BYTES`].
fn check_event(payload: &[u8]) -> Result<(), &'static str> {
    if payload.len() > MAX_EVENT_BYTES {
        return Err("larger than an event can be");
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
        .map(|_| ())
        .map_err(|_| "not a JSON object")
}

pub(crate) async fn acknowledge(message: &async_nats::jetstream::Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        tracing::debug!(%error, "cannot acknowledge a stream message; it may come again");
    }
}

/// How many skipped messages are each logged before the lines about them are spaced out.
const SKIPS_LOGGED: u64 = 10;

/// The spacing of the lines about skipped messages past the first [`SKIPS_LOGGED`].
pub(crate) fn skip_backoff() -> LogBackoff {
    LogBackoff::new(Duration::from_secs(1), Duration::from_secs(60))
}

/// Whether to log the `count`th skipped message: each of the first few, then at growing
/// intervals (a writer that fills the stream with junk cannot fill the log too).
pub(crate) fn may_log_skip(count: u64, backoff: &mut LogBackoff) -> Option<Option<u64>> {
    if count <= SKIPS_LOGGED {
        Some(None)
    } else {
        backoff.allow(std::time::Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_objects_of_an_events_size_are_events() {
        assert!(check_event(br#"{"type": "new", "before": {}, "after": {}}"#).is_ok());
        for bad in [&b"[]"[..], b"\"x\"", b"{", b"", &[0xff, 0xfe]] {
            assert!(check_event(bad).is_err());
        }
        let mut huge = b"{\"x\": \"".to_vec();
        huge.resize(MAX_EVENT_BYTES + 10, b'a');
        huge.extend_from_slice(b"\"}");
        assert!(check_event(&huge).is_err());
    }
}
