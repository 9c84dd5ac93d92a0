//! A real NATS server for the tests: Debian's `nats-server` with JetStream (or without), started on a free
//! loopback port with a store folder and config of its own; open, or locked with the
//! least-privilege users of `docs/nats-fleet.conf` (and TLS, mutual or not).

use crate::harness::{free_port, require, wait_for_port, ChildGuard};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The roles of `docs/nats-fleet.conf`, each a user with its own password.
pub const ROLES: [&str; 4] = ["ingest", "worker", "push", "bridge"];

/// TLS for the server: its certificate and key, and the CA its clients' certificates must chain
/// to when `verify` (mutual TLS).
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA (PEM) that signed the clients' certificates.
    pub ca: PathBuf,
    /// Whether every client must present a certificate.
    pub verify: bool,
}

/// How the server is set up.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Largest message it takes.
    pub max_payload: usize,
    /// Users and permissions of `docs/nats-fleet.conf`; anonymous clients refused.
    pub locked: bool,
    /// TLS (the URL is then `tls://`).
    pub tls: Option<ServerTls>,
    /// More configuration, as is (an operator and its accounts, say).
    pub extra: String,
    /// Run without JetStream (as `nats-server` does unless given `-js` or a `jetstream` block).
    pub no_jetstream: bool,
    /// JetStream's storage, in bytes (`max_file_store`); unset, three quarters of the disk's free
    /// space, as nats-server takes by default.
    pub max_file_store: Option<u64>,
}

/// A nats-server process of the test's own; killed when dropped.
pub struct NatsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
    config: PathBuf,
    tls: bool,
    locked: bool,
    process: Option<ChildGuard>,
}

impl NatsServer {
    /// Starts nats-server with JetStream (storing into `dir`) on a free loopback port, taking
    /// messages of up to `max_payload` bytes, open to anyone.
    pub fn start(dir: &Path, max_payload: usize) -> Self {
        Self::start_with(dir, &Settings { max_payload, ..Settings::default() })
    }

    /// Starts nats-server without JetStream, open to anyone: what `nats-server` alone runs.
    pub fn start_without_jetstream(dir: &Path) -> Self {
        Self::start_with(dir, &Settings { max_payload: 1 << 20, no_jetstream: true, ..Settings::default() })
    }

    /// Starts nats-server as `settings` say.
    pub fn start_with(dir: &Path, settings: &Settings) -> Self {
        require("nats-server", "--version", "nats-server");
        std::fs::create_dir_all(dir).expect("nats dir");
        let port = free_port();
        let config = dir.join("nats.conf");
        let mut text = format!("listen: 127.0.0.1:{port}\nmax_payload: {}\n", settings.max_payload);
        if !settings.no_jetstream {
            let limit = settings.max_file_store.map(|bytes| format!("  max_file_store: {bytes}\n")).unwrap_or_default();
            text += &format!("jetstream {{\n  store_dir: \"{}\"\n{limit}}}\n", dir.join("store").display());
        }
        if let Some(tls) = &settings.tls {
            text += &format!(
                "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: {}\n  timeout: 2\n}}\n",
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display(),
                tls.verify
            );
        }
        text += &settings.extra;
        if settings.locked {
            let documented = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/nats-fleet.conf");
            std::fs::copy(&documented, dir.join("nats-fleet.conf")).expect("docs/nats-fleet.conf");
            text += "include ./nats-fleet.conf\n";
            for role in ROLES {
                std::fs::write(dir.join(format!("{role}.user")), format!("{role}\n{}\n", password(role)))
                    .expect("user file");
            }
        }
        std::fs::write(&config, text).expect("nats config");
        let mut server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_owned(),
            config,
            tls: settings.tls.is_some(),
            locked: settings.locked,
            process: None,
        };
        server.restart();
        server
    }

    /// Starts it again (after [`NatsServer::kill`]) on the same port, with the same store.
    pub fn restart(&mut self) {
        let log = self.config.with_file_name("nats.log");
        let mut command = Command::new("nats-server");
        command.arg("-c").arg(&self.config).arg("-l").arg(&log);
        if self.locked {
            for role in ROLES {
                command.env(format!("NVT_{}_PASSWORD", role.to_uppercase()), password(role));
            }
        }
        self.process = Some(ChildGuard(command.spawn().expect("start nats-server")));
        wait_for_port(self.addr, Duration::from_secs(10));
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        drop(self.process.take());
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets it run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.process.as_ref().expect("running").0.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().expect("kill").success());
    }

    /// The URL `--nats` takes.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "tls" } else { "nats" }, self.addr)
    }

    /// The user file (`--nats-user-file`) of a role of `docs/nats-fleet.conf`.
    pub fn user_file(&self, role: &str) -> String {
        assert!(self.locked && ROLES.contains(&role), "{role}");
        self.dir.join(format!("{role}.user")).display().to_string()
    }

    /// The server's own log (permission violations show there).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.config.with_file_name("nats.log")).unwrap_or_default()
    }
}

/// The test's password of a role.
pub fn password(role: &str) -> String {
    format!("{role}-s3cret-{}", std::process::id())
}
