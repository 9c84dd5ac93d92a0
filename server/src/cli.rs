//! Command-line flags of `nvt-server`, turned into a [`Config`].

use crate::Config;
use anyhow::Context;
use clap::Parser;
use nvt_transport::units::{parse_bytes, parse_duration};
use nvt_transport::{JsonLines, Limits};
use std::sync::Arc;
use std::time::Duration;

/// Receives frames over the classic timestamped-handshake protocol, decodes them, and shows or
/// logs them.
#[derive(Debug, Parser)]
#[command(name = "nvt-server", version)]
pub struct Args {
    /// Where clients connect (classic protocol).
    #[arg(long, default_value = "0.0.0.0:1998")]
    pub listen: String,
    /// The classic freshness check: a frame whose timestamp echo returns later than this is
    /// answered '0' and dropped undecoded.
    #[arg(long, default_value = "80ms", value_parser = parse_duration)]
    pub max_lag: Duration,
    /// JSON Lines log, one record per processed frame ('-' for standard output).
    #[arg(long)]
    pub log: Option<String>,
    /// Open one window per client (needs a display).
    #[arg(long)]
    pub show: bool,
    /// Largest frame accepted, in bytes (e.g. 8MiB).
    #[arg(long, default_value = "8MiB", value_parser = parse_bytes)]
    pub max_frame_bytes: usize,
    /// Largest decoded image in pixels, read from the JPEG header before decoding.
    #[arg(long, default_value_t = nvt_capture::jpeg::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Most clients at once; more connections are refused and counted.
    #[arg(long, default_value_t = 64)]
    pub max_clients: usize,
    /// Drop a client that sends nothing for this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub read_timeout: Duration,
    /// Drop a client whose frame is not complete this long after its timestamp was sent.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub exchange_timeout: Duration,
    /// How often to log a stats line.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub stats_every: Duration,
}

impl Args {
    /// Validates the flags and opens what they name.
    pub fn into_config(self) -> anyhow::Result<Config> {
        if self.show && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            anyhow::bail!("--show needs a display, and DISPLAY is not set: run headless with --log, or under xvfb-run");
        }
        anyhow::ensure!(self.max_clients > 0, "--max-clients must be at least 1");
        let log = match &self.log {
            Some(target) => Some(Arc::new(JsonLines::open(target).context("--log")?)),
            None => None,
        };
        Ok(Config {
            max_lag: self.max_lag,
            limits: Limits {
                max_frame_bytes: self.max_frame_bytes,
                read_timeout: self.read_timeout,
                exchange_timeout: self.exchange_timeout,
            },
            max_pixels: self.max_pixels,
            max_clients: self.max_clients,
            log,
            show: self.show,
            stats_every: self.stats_every,
        })
    }
}
