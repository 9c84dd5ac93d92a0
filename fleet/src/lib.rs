//! nvt past one machine, on NATS: what crosses the bus and how. Frames go out from an ingest
//! server as requests to a queue group of workers and detections come back ([`subjects`],
//! [`wire`]); a model pushed to a JetStream object store reaches every worker of the group
//! ([`models`]); events from every ingest server go to a JetStream stream ([`stream`]), which
//! [`bridge`] publishes to MQTT. [`connect`] opens a connection that survives the broker's
//! restarts. The `nvt-fleet` program (push, mqtt) is this crate's binary; the worker is the
//! `nvt-worker` crate (`worker/`).

pub mod bridge;
pub mod connect;
pub mod models;
pub mod stream;
pub mod subjects;
pub mod wire;

pub use connect::{check_url, connect};
pub use subjects::Group;

/// What can go wrong talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// `--nats` is not a NATS URL.
    #[error("--nats {0:?}: expected nats://HOST[:PORT]")]
    Url(String),
    /// `--group` is not a usable group name.
    #[error("--group {0:?}: 1-64 letters, digits, '_' or '-'")]
    Group(String),
    /// The broker refused or dropped something.
    #[error("NATS: {0}")]
    Nats(String),
    /// A model file cannot be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

impl FleetError {
    /// A NATS error of any kind, as text.
    pub fn nats(error: impl std::fmt::Display) -> Self {
        Self::Nats(error.to_string())
    }
}
