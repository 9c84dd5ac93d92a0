//! MQTT: events, counts, snapshots, stats and Home Assistant discovery, published through
//! `rumqttc` to the broker `--mqtt` names. Detection never waits for the broker: everything is
//! handed to a [`Publisher`] that keeps it until the broker takes it. The names are in
//! [`topics`], Home Assistant's configs in [`discovery`], the retained state per camera and when
//! it goes in [`retained`].

pub mod discovery;
mod publisher;
pub mod retained;
mod settings;
pub mod topics;

pub use discovery::{Discovery, ServerInfo};
pub use publisher::{Publisher, PublisherStats};
pub use settings::{read_credentials, MqttError, MqttSettings};
pub use topics::{slug, Topics};
