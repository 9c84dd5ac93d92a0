//! The MQTT side of the fleet: `nvt-fleet mqtt` reads the events stream with a durable consumer
//! and publishes every event to MQTT, whichever ingest server made it. A bridge that restarts
//! reads on from the last event it handed over.

use crate::subjects::EVENTS_STREAM;
use crate::FleetError;
use futures_util::StreamExt;
use nvt_events::mqtt::Publisher;
use std::time::Duration;

/// The durable consumer's name, unless told otherwise.
pub const DEFAULT_CONSUMER: &str = "nvt-mqtt";

/// Publishes the stream's events through `publisher` until `stop` completes. An event is
/// acknowledged once the publisher holds it; while the publisher's buffer is half full (the
/// MQTT broker is away), the bridge waits instead of reading on, so that JetStream keeps what
/// MQTT cannot take yet.
pub async fn run(
    nats: async_nats::Client,
    consumer: &str,
    publisher: &Publisher,
    buffer: usize,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), FleetError> {
    tokio::pin!(stop);
    let jetstream = async_nats::jetstream::new(nats);
    let config = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some(consumer.to_owned()),
        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    };
    let consumer = loop {
        let opened = async {
            let stream = jetstream.get_stream(EVENTS_STREAM).await.map_err(FleetError::nats)?;
            stream.get_or_create_consumer(consumer, config.clone()).await.map_err(FleetError::nats)
        };
        tokio::select! {
            () = &mut stop => return Ok(()),
            opened = opened => match opened {
                Ok(consumer) => break consumer,
                Err(error) => {
                    tracing::warn!(%error, "the events stream is not there yet (no ingest server has made it); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    };
    let mut messages = consumer.messages().await.map_err(FleetError::nats)?;
    tracing::info!(stream = EVENTS_STREAM, "bridging events to MQTT");
    loop {
        while publisher.pending_events() >= (buffer / 2).max(1) {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let message = tokio::select! {
            () = &mut stop => return Ok(()),
            message = messages.next() => message,
        };
        match message {
            Some(Ok(message)) => {
                publisher.event(message.payload.to_vec());
                if let Err(error) = message.ack().await {
                    tracing::warn!(%error, "cannot acknowledge an event; it may be bridged twice");
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "reading the events stream");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => return Err(FleetError::Nats("the events stream's consumer ended".into())),
        }
    }
}
