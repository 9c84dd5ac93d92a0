//! A connection to NATS that outlives the broker: it retries the first connect and every
//! reconnect for as long as the process runs, and logs each change.

use crate::FleetError;

/// Checks a `--nats` URL: `nats://HOST:PORT` (or `nats://HOST`, port 4222).
pub fn check_url(url: &str) -> Result<(), FleetError> {
    let bad = || FleetError::Url(url.to_owned());
    let rest = url.strip_prefix("nats://").ok_or_else(bad)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host.is_empty() || !port_ok || host.contains(['/', '@', ' ', ',']) {
        return Err(bad());
    }
    Ok(())
}

/// Connects to `url` (`nats://HOST:PORT`) as `name`, buffering at most `buffered` messages per
/// subscription (past it the server counts the client a slow consumer and drops). Returns at
/// once, even while the broker is unreachable: requests fail until it is back.
pub async fn connect(url: &str, name: &str, buffered: usize) -> Result<async_nats::Client, FleetError> {
    check_url(url)?;
    let label = name.to_owned();
    tracing::info!(%url, client = %name, "connecting to NATS (retrying until it answers)");
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(std::time::Duration::from_secs(2))
        .subscription_capacity(buffered.max(1))
        .reconnect_delay_callback(|attempts| std::time::Duration::from_millis((100 * attempts as u64).min(1000)))
        .event_callback(move |event| {
            let label = label.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(client = %label, "NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(client = %label, "NATS disconnected; reconnecting")
                    }
                    async_nats::Event::ClientError(error) => {
                        tracing::debug!(client = %label, %error, "cannot reach NATS; retrying")
                    }
                    other => tracing::debug!(client = %label, event = %other, "NATS"),
                }
            }
        })
        .connect(url)
        .await
        .map_err(FleetError::nats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for good in ["nats://127.0.0.1:4222", "nats://broker", "nats://[::1]:4222"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in ["127.0.0.1:4222", "nats://", "nats://h:abc", "nats://h:0", "nats://u:p@h:1", "tls://h:1"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
