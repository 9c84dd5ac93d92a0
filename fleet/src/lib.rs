//! nvt past one machine, on NATS: an ingest server sends each frame chosen for detection as a
//! request to a queue group of workers ([`subjects`], [`wire`]); a model pushed to a JetStream
//! object store reaches every worker of the group ([`models`]); events from every ingest server
//! go to a JetStream stream ([`stream`]), which [`bridge`] can publish to MQTT. [`connect`]
//! opens a connection that survives the broker's restarts, with the TLS and credentials
//! [`access`] reads; [`labels`] bounds what workers may name.

pub mod access;
pub mod bridge;
pub mod connect;
pub mod labels;
pub mod models;
pub mod stream;
pub mod subjects;
pub mod wire;

pub use access::{check_url, Access, AccessFiles};
pub use connect::{connect, Role};
pub use subjects::Group;

/// What can go wrong talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// `--nats` is not a NATS URL.
    #[error("--nats {0:?}: expected nats://HOST[:PORT] or tls://HOST[:PORT]")]
    Url(String),
    /// A TLS or credentials file cannot be used.
    #[error("{0}")]
    Access(String),
    /// `--consumer` is not a usable consumer name.
    #[error("--consumer {0:?}: 1-64 letters, digits, '_' or '-'")]
    Consumer(String),
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
