//! `--mqtt URL` and the flags around it, checked before anything connects.

use super::discovery::ServerInfo;
use crate::pictures::MqttPicture;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the MQTT settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The URL is not `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`.
    #[error("--mqtt {0:?}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")]
    Url(String),
    /// A file (credentials, CA) could not be read or is not what it should be.
    #[error("{what} {path}: {reason}")]
    File {
        /// What the file is for.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The prefix is not a usable topic prefix.
    #[error("--mqtt-prefix {0:?}: 1 to 64 characters, no '+', '#' or NUL, not starting or ending with '/'")]
    Prefix(String),
    /// TLS could not be set up.
    #[error("TLS for MQTT: {0}")]
    Tls(String),
}

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// Broker host.
    pub host: String,
    /// Broker port (1883, or 8883 for `mqtts`).
    pub port: u16,
    /// Whether to use TLS (`mqtts://`).
    pub tls: bool,
    /// The CA certificates (PEM) the broker's certificate must chain to; the system's without.
    pub ca: Option<PathBuf>,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// Topic prefix (`nvt`).
    pub prefix: String,
    /// Labels to announce to Home Assistant for every camera, besides those it has seen.
    pub labels: Vec<String>,
    /// Most events held while the broker is unreachable; past it the oldest are dropped.
    pub buffer: usize,
    /// The MQTT client id.
    pub client_id: String,
    /// The cameras named with `--camera`: their topics and entities are kept for good.
    pub cameras: Vec<String>,
    /// How long another camera must be gone before its retained topics and discovery configs
    /// are removed (`--mqtt-forget`).
    pub forget: Duration,
    /// How MQTT snapshots are made.
    pub picture: MqttPicture,
    /// What discovery says about the server.
    pub server: ServerInfo,
    /// Events and availability only: no discovery, no start-up scan (the fleet's bridge).
    pub events_only: bool,
}

impl MqttSettings {
    /// Settings for `url`, with the defaults for everything else.
    pub fn from_url(url: &str) -> Result<Self, MqttError> {
        let bad = || MqttError::Url(url.to_owned());
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (host, port.parse::<u16>().map_err(|_| bad())?),
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 || host.contains(['/', '@', ' ']) {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
            ca: None,
            credentials: None,
            prefix: "nvt".into(),
            labels: Vec::new(),
            buffer: 1000,
            client_id: format!("nvt-{}-{:06x}", std::process::id(), fastrand::u32(..0xff_ffff)),
            cameras: Vec::new(),
            forget: Duration::from_secs(600),
            picture: MqttPicture::default(),
            server: ServerInfo::default(),
            events_only: false,
        })
    }

    /// Checks a topic prefix.
    pub fn check_prefix(prefix: &str) -> Result<(), MqttError> {
        let ok = (1..=64).contains(&prefix.len())
            && !prefix.contains(['+', '#', '\0'])
            && !prefix.starts_with('/')
            && !prefix.ends_with('/');
        if ok {
            Ok(())
        } else {
            Err(MqttError::Prefix(prefix.to_owned()))
        }
    }
}

/// Reads a credentials file: the user name on the first line, the password on the second.
pub fn read_credentials(path: &Path) -> Result<(String, String), MqttError> {
    let file_error = |reason: String| MqttError::File { what: "MQTT credentials", path: path.to_owned(), reason };
    let text = nvt_support::files::read_text(path, 4096).map_err(|e| file_error(e.to_string()))?;
    let mut lines = text.lines();
    let user = lines.next().unwrap_or("").trim();
    let password = lines.next().unwrap_or("").trim_end_matches('\r');
    if user.is_empty() || password.is_empty() {
        return Err(file_error("expected the user name on the first line and the password on the second".into()));
    }
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_bad_ones_refused() {
        let s = MqttSettings::from_url("mqtt://127.0.0.1:18830").expect("url");
        assert_eq!((s.host.as_str(), s.port, s.tls), ("127.0.0.1", 18830, false));
        let s = MqttSettings::from_url("mqtts://broker.lan").expect("url");
        assert_eq!((s.host.as_str(), s.port, s.tls), ("broker.lan", 8883, true));
        let s = MqttSettings::from_url("mqtt://[::1]:1884").expect("url");
        assert_eq!((s.host.as_str(), s.port), ("::1", 1884));
        for bad in ["http://x", "mqtt://", "mqtt://host:0", "mqtt://host:99999", "mqtt://u:p@host", "mqtt://a/b:1"] {
            assert!(MqttSettings::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_and_credentials_are_checked() {
        assert!(MqttSettings::check_prefix("nvt").is_ok());
        assert!(MqttSettings::check_prefix("home/nvt").is_ok());
        for bad in ["", "a/#", "+", "/nvt", "nvt/", &"x".repeat(65)] {
            assert!(MqttSettings::check_prefix(bad).is_err(), "{bad}");
        }
        let dir = std::env::temp_dir().join(format!("nvt-mqtt-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good");
        std::fs::write(&good, "nvt\ns3cret pass\n").expect("write");
        assert_eq!(read_credentials(&good).expect("read"), ("nvt".into(), "s3cret pass".into()));
        let bad = dir.join("bad");
        std::fs::write(&bad, "only-a-user\n").expect("write");
        assert!(read_credentials(&bad).is_err());
        assert!(read_credentials(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
