//! The fleet's history: `nvt-fleet history` reads the events stream with a durable consumer of
//! its own and keeps every ingest server's events in one store (PostgreSQL for a fleet, or
//! SQLite), which it serves as `/api/events`.
//!
//! - A batch of events is acknowledged to JetStream only once the store has committed it: a
//!   consumer killed or cut off from its database loses none; what it could not write is given
//!   back (NAK) and comes again.
//! - The same event twice (redelivered after a lost ack) writes the same row: the store never
//!   takes a row back to an older state.
//! - The stream is input like any other: a message that is not an event, or is larger than
//!   [`crate::bridge::MAX_EVENT_BYTES`], is skipped, terminated in JetStream and counted.

use crate::bridge::{acknowledge, may_log_skip, open, skip_backoff, take, MAX_EVENT_BYTES};
use crate::error::FleetError;
use crate::subjects::EVENTS_STREAM;
use async_nats::jetstream::AckKind;
use nvt_history::store::{Change, Store};
use nvt_history::EventRow;
use nvt_support::LogBackoff;
use std::time::Duration;

/// The durable consumer's name, unless told otherwise.
pub const DEFAULT_CONSUMER: &str = "nvt-history";

/// Most events taken from the stream, and written in one transaction, at once.
const BATCH: usize = 256;

/// How long after a failed write the batch is given back and the next one taken.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the history consumer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Events written.
    pub written: u64,
    /// Messages that were not events.
    pub bad: u64,
    /// Writes that failed (their events came again).
    pub write_errors: u64,
}

/// Writes the stream's events into `store` until `stop` completes (see the module's notes).
pub async fn run(
    nats: async_nats::Client,
    consumer: &str,
    store: &Store,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Kept, FleetError> {
    crate::subjects::check_consumer(consumer)?;
    tokio::pin!(stop);
    let Some(consumer) = open(nats.clone(), consumer, &mut stop).await? else { return Ok(Kept::default()) };
    tracing::info!(stream = EVENTS_STREAM, "keeping the fleet's events");
    let mut kept = Kept::default();
    let (mut skip_hint, mut write_hint) = (skip_backoff(), LogBackoff::new(RETRY_AFTER, Duration::from_secs(300)));
    loop {
        if futures_util::FutureExt::now_or_never(&mut stop).is_some() {
            let _ = tokio::time::timeout(Duration::from_secs(1), nats.flush()).await;
            return Ok(kept);
        }
        let messages = match take(&consumer, BATCH).await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::debug!(%error, "reading the events stream; retrying");
                tokio::select! {
                    () = &mut stop => return Ok(kept),
                    () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let mut changes = Vec::with_capacity(messages.len());
        let mut good = Vec::with_capacity(messages.len());
        for message in messages {
            match event_row(&message.payload) {
                Ok(row) => {
                    changes.push(Change::Event(Box::new(row)));
                    good.push(message);
                }
                Err(why) => {
                    kept.bad += 1;
                    let subject = crate::wire::escaped(message.subject.as_str(), 200);
                    if let Some(held_back) = may_log_skip(kept.bad, &mut skip_hint) {
                        tracing::warn!(%subject, why, skipped = kept.bad, held_back_since_last = held_back, "a stream message that is not an event was skipped");
                    }
                    acknowledge(&message, AckKind::Term).await;
                }
            }
        }
        if good.is_empty() {
            continue;
        }
        match store.write(&changes).await {
            Ok(()) => {
                write_hint.reset();
                kept.written += good.len() as u64;
                for message in &good {
                    acknowledge(message, AckKind::Ack).await;
                }
            }
            Err(error) => {
                kept.write_errors += 1;
                if let Some(held_back) = write_hint.allow(std::time::Instant::now()) {
                    tracing::warn!(%error, events = good.len(), held_back_since_last = held_back, "cannot write to the event store; the events come again");
                }
                for message in &good {
                    acknowledge(message, AckKind::Nak(Some(RETRY_AFTER))).await;
                }
                tokio::select! {
                    () = &mut stop => return Ok(kept),
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                }
            }
        }
    }
}

/// The row a stream message's event leaves, or why it is not an event.
fn event_row(payload: &[u8]) -> Result<EventRow, &'static str> {
    if payload.len() > MAX_EVENT_BYTES {
        return Err("larger than an event can be");
    }
    let event: nvt_events::Event = serde_json::from_slice(payload).map_err(|_| "not an event")?;
    let row = EventRow::from_event(&event);
    if !nvt_history::media::is_event_id(&row.id) || row.camera.is_empty() || !row.start_time.is_finite() {
        return Err("an event without an id, a camera or a start time");
    }
    Ok(row)
}
