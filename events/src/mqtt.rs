//! MQTT: events, counts, snapshots, stats and Home Assistant discovery, published through
//! `rumqttc` to the broker `--mqtt` names. Detection never waits for the broker: everything is
//! handed to a [`Publisher`] that keeps it until the broker takes it.

mod publisher;
mod settings;
mod topics;

pub use publisher::{Publisher, PublisherStats};
pub use settings::{read_credentials, MqttError, MqttSettings};
pub use topics::{slug, Topics};
