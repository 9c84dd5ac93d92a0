//! A connection to NATS that outlives the broker: it retries the first connect and every
//! reconnect for as long as the process runs, and logs each change.

use crate::access::Access;
use crate::error::FleetError;

/// What a process does on the bus. Each role takes its replies on an inbox prefix of its own
/// (`_INBOX.<role>.`), so that a locked server can let each read only its own replies (see
/// docs/fleet.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `nvt-server --nats`: sends requests and events.
    Ingest,
    /// `nvt-worker`: answers requests, reads the model store.
    Worker,
    /// `nvt-fleet push`, `models` and `rm`: write and read the model store.
    Push,
    /// `nvt-fleet mqtt`: reads the events stream.
    Bridge,
}

impl Role {
    /// The role's name, as in its inbox prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Worker => "worker",
            Self::Push => "push",
            Self::Bridge => "bridge",
        }
    }

    /// Where its replies come: `_INBOX.<role>`.
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX.{}", self.name())
    }
}

/// Connects to the server `access` names as `role`, named `name` on the server, buffering at
/// most `buffered` messages per subscription (past it the server counts the client a slow
/// consumer and drops). The long-lived roles return at once, even while the broker is
/// unreachable or refuses their credentials: requests fail until it is back (an operator may be
/// fixing its configuration). `nvt-fleet push`, a one-off command, connects once and fails.
pub async fn connect(
    access: &Access,
    role: Role,
    name: &str,
    buffered: usize,
) -> Result<async_nats::Client, FleetError> {
    let label = name.to_owned();
    let one_off = role == Role::Push;
    let refusals = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let url = access.url().to_owned();
    if role == Role::Push {
        tracing::debug!(%url, client = %name, tls = access.tls(), "connecting to NATS");
    } else {
        tracing::info!(%url, client = %name, tls = access.tls(), "connecting to NATS (retrying until it answers)");
    }
    let mut options = async_nats::ConnectOptions::new();
    if role != Role::Push {
        options = options.retry_on_initial_connect();
    }
    let options = options
        .name(name)
        .custom_inbox_prefix(role.inbox_prefix())
        .max_reconnects(None)
        .connection_timeout(std::time::Duration::from_secs(2))
        .subscription_capacity(buffered.max(1))
        .reconnect_delay_callback(|attempts| std::time::Duration::from_millis((100 * attempts as u64).min(1000)))
        .event_callback(move |event| {
            let (label, refusals) = (label.clone(), std::sync::Arc::clone(&refusals));
            async move {
                match event {
                    // A one-off command says what it did instead.
                    async_nats::Event::Connected if one_off => tracing::debug!(client = %label, "NATS connected"),
                    async_nats::Event::Connected => tracing::info!(client = %label, "NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(client = %label, "NATS disconnected; reconnecting")
                    }
                    async_nats::Event::ClientError(error) => {
                        tracing::debug!(client = %label, %error, "cannot reach NATS; retrying")
                    }
                    // Refused credentials or a permission: retried, so logged once in 10 s at most.
                    async_nats::Event::ServerError(error) => {
                        let now = std::time::Instant::now();
                        let mut last = nvt_support::sync::lock(&refusals);
                        if last.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(10)) {
                            *last = Some(now);
                            let error = crate::wire::escaped(&error.to_string(), 300);
                            tracing::warn!(client = %label, %error, "the NATS server refused (logged once in 10 s)");
                        }
                    }
                    other => tracing::debug!(client = %label, event = %other, "NATS"),
                }
            }
        });
    access.apply(options)?.connect(url.as_str()).await.map_err(|error| {
        use async_nats::ConnectErrorKind;
        match error.kind() {
            ConnectErrorKind::Io | ConnectErrorKind::TimedOut | ConnectErrorKind::Dns => {
                FleetError::Unreachable { url: url.clone(), reason: nvt_support::errors::sentence(&error) }
            }
            _ => FleetError::nats(error),
        }
    })
}
