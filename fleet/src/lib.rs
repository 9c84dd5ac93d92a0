//! nvt past one machine, on NATS: an ingest server sends each frame chosen for detection as a
//! request to a queue group of workers ([`subjects`], [`wire`]); a model pushed to a JetStream
//! object store reaches every worker of the group ([`models`]); events from every ingest server
//! go to a JetStream stream ([`stream`]), which [`bridge`] can publish to MQTT. [`connect`]
//! opens a connection that survives the broker's restarts.

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
