//! What can go wrong on the fleet's bus.

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
    /// Nothing answers at the URL (a one-off command: the long-lived ones wait for it).
    #[error("no NATS server answers at {url} ({reason}): is nats-server running there, and is the URL right?")]
    Unreachable {
        /// The `--nats` URL.
        url: String,
        /// What the connection attempt met.
        reason: String,
    },
    /// The server answers but runs without JetStream, where models and events live.
    #[error(
        "the NATS server runs without JetStream, which keeps the models and events: start it \
         with `nats-server -js`, or add `jetstream {{}}` to its configuration"
    )]
    NoJetStream,
    /// A file that no worker would load: the file, and the detector's reason, on one line.
    #[error("{0}")]
    Model(String),
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
