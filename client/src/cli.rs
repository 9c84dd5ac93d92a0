//! Command-line flags of `nvt-client`, turned into a [`Config`].

use crate::config::Config;
use anyhow::Context;
use clap::Parser;
use nvt_capture::source::parse_size;
use nvt_capture::SourceSpec;
use nvt_support::units::{duration_in, MAX_DURATION};
use nvt_support::JsonLines;
use nvt_transport::protect;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Flags people type for `nvt-client` that it does not take, with the ones they mean (clap's own
/// suggestions for some name other things: `--server` → `--tls-server-name`).
pub const FLAG_HINTS: &[nvt_support::flag_hints::Hint] = &[
    nvt_support::flag_hints::Hint {
        typed: &["--server", "--host", "--port", "--address", "--addr", "--url"],
        tip: "the server's address goes to '--connect HOST:PORT' (its --listen port, 1998 unless changed)",
    },
    nvt_support::flag_hints::Hint {
        typed: &["--camera", "--input", "--video", "--file", "--image", "--device"],
        tip: "what to stream goes to '--source' (a camera index, a video or image file, a URL or 'synthetic'); \
              the camera's name on the server to '--name'",
    },
];

/// Captures frames, JPEG-encodes them and streams them to an nvt (or original) server over the
/// classic timestamped-handshake protocol. Reconnects by itself whenever the server goes away.
#[derive(Debug, Parser)]
#[command(name = "nvt-client", version)]
pub struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:1998")]
    pub connect: String,
    /// Camera index, video or image file, URL (RTSP/HTTP as OpenCV supports), `synthetic` (moving
    /// shapes) or `synthetic:visits` (a mostly empty hall that the shapes visit in turn).
    #[arg(long, default_value = "0")]
    pub source: String,
    /// Resize to WxH before encoding (default: the source's own size; synthetic: 640x480).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Cap the capture rate in frames per second; 0 = as fast as the server takes them
    /// (default: the source's own rate; synthetic: 30).
    #[arg(long, value_parser = parse_fps)]
    pub fps: Option<f64>,
    /// JPEG quality 1-100: the best the client uses. It lowers the quality, and below quality 40
    /// the frame size, when the link is too slow for the frames to arrive in time, and raises
    /// them again when it allows.
    #[arg(long, default_value_t = nvt_capture::jpeg::DEFAULT_QUALITY, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub jpeg_quality: i32,
    /// Send every frame at --jpeg-quality and --size, whatever the link.
    #[arg(long)]
    pub fixed_quality: bool,
    /// Stop after N distinct frames accepted and exit 0.
    #[arg(long, value_parser = parse_frames)]
    pub frames: Option<u64>,
    /// Stop after this long and exit 0 (e.g. 15s, 2m).
    #[arg(long, value_parser = duration_in(Duration::from_millis(1), MAX_DURATION))]
    pub duration: Option<Duration>,
    /// JSON Lines log, one record per exchange ('-' for standard output).
    #[arg(long)]
    pub log: Option<String>,
    /// Local preview window with the detections returned by the server (needs a display).
    #[arg(long)]
    pub show: bool,
    /// Longest wait between reconnection attempts.
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub reconnect_max: Duration,
    /// Give up on a connection when the server sends nothing for this long.
    #[arg(long, default_value = "10s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub read_timeout: Duration,
    /// Protected mode: connect with TLS, trusting the PEM certificates in this file (the CA that
    /// signed the server's certificate, or the server's own certificate to pin it).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host of --connect).
    #[arg(long, requires = "tls_ca")]
    pub tls_server_name: Option<String>,
    /// Protected mode: present the token in this file (first line, 1-64 bytes).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Protected mode: the camera's name on the server (1-64 letters, digits, '_' or '-', as
    /// Frigate's camera names), in its records, replies, web view, metrics and events. Needs --tls-ca or
    /// --token-file: in classic mode the server names cameras after their address.
    #[arg(long, value_parser = parse_name)]
    pub name: Option<String>,
}

fn parse_name(text: &str) -> Result<String, String> {
    if protect::valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a camera name: 1-64 letters, digits, '_' or '-'"))
    }
}

/// `--frames`: a count of 1 or more.
fn parse_frames(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of frames: give 1 or more, or leave --frames out to stream until stopped"
        )),
    }
}

/// The slowest and fastest capture rates: a frame every 100 s at least, 1000 a second at most.
pub const FPS_RANGE: std::ops::RangeInclusive<f64> = 0.01..=1000.0;

/// `--fps`: 0 (unpaced) or a rate in [`FPS_RANGE`].
fn parse_fps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(fps) if fps == 0.0 || FPS_RANGE.contains(&fps) => Ok(fps),
        _ => Err(format!(
            "{text:?} is not a frame rate: use 0 (as fast as the server takes them) or {} to {}",
            FPS_RANGE.start(),
            FPS_RANGE.end()
        )),
    }
}

impl Args {
    /// Validates the flags and opens what they name.
    pub fn into_config(self) -> anyhow::Result<Config> {
        if self.show && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            anyhow::bail!("--show needs a display, and DISPLAY is not set: drop --show, or run under xvfb-run");
        }
        let port = self.connect.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
        anyhow::ensure!(
            matches!(port, Some(Ok(p)) if p > 0),
            "--connect {:?} needs HOST:PORT, such as 127.0.0.1:1998",
            self.connect
        );
        let source: SourceSpec = self.source.parse()?;
        let log = match &self.log {
            Some(target) => Some(Arc::new(JsonLines::open(target).context("--log")?)),
            None => None,
        };
        let tls = match &self.tls_ca {
            Some(ca) => {
                let host = self.connect.rsplit_once(':').map_or(self.connect.as_str(), |(h, _)| h);
                let name = self.tls_server_name.as_deref().unwrap_or(host.trim_matches(['[', ']']));
                Some((protect::connector(ca)?, protect::server_name(name)?))
            }
            None => None,
        };
        let token = self.token_file.as_deref().map(protect::read_token).transpose()?;
        anyhow::ensure!(
            self.name.is_none() || tls.is_some() || token.is_some(),
            "--name needs protected mode (--tls-ca or --token-file): a classic server names cameras by address"
        );
        let mut config = Config::new(self.connect, source);
        config.name = self.name;
        config.tls = tls;
        config.token = token;
        config.size = self.size;
        config.fps = self.fps;
        config.jpeg_quality = self.jpeg_quality;
        config.adapt = !self.fixed_quality;
        config.frames = self.frames;
        config.duration = self.duration;
        // A log on standard output and a status line on the same terminal would interleave.
        config.status_line = std::io::stderr().is_terminal() && self.log.as_deref() != Some("-");
        config.log = log;
        config.show = self.show;
        config.backoff_cap = self.reconnect_max;
        config.limits.read_timeout = self.read_timeout;
        Ok(config)
    }
}
