//! A real NATS server for the tests: Debian's `nats-server` with JetStream, started on a free
//! loopback port with a store folder and config of its own.

use crate::harness::{free_port, require, wait_for_port, ChildGuard};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A nats-server process of the test's own; killed when dropped.
pub struct NatsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    config: PathBuf,
    process: Option<ChildGuard>,
}

impl NatsServer {
    /// Starts nats-server with JetStream (storing into `dir`) on a free loopback port, taking
    /// messages of up to `max_payload` bytes.
    pub fn start(dir: &Path, max_payload: usize) -> Self {
        require("nats-server", "--version", "nats-server");
        std::fs::create_dir_all(dir).expect("nats dir");
        let port = free_port();
        let config = dir.join("nats.conf");
        let text = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: {max_payload}\njetstream {{\n  store_dir: \"{}\"\n}}\n",
            dir.join("store").display()
        );
        std::fs::write(&config, text).expect("nats config");
        let mut server = Self { addr: SocketAddr::from(([127, 0, 0, 1], port)), config, process: None };
        server.restart();
        server
    }

    /// Starts it again (after [`NatsServer::kill`]) on the same port, with the same store.
    pub fn restart(&mut self) {
        let log = self.config.with_file_name("nats.log");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.config)
            .arg("-l")
            .arg(&log)
            .spawn()
            .expect("start nats-server");
        self.process = Some(ChildGuard(child));
        wait_for_port(self.addr, Duration::from_secs(10));
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        drop(self.process.take());
    }

    /// The URL `--nats` takes.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}
