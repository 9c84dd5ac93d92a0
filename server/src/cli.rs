//! Command-line flags of `nvt-server`, turned into a [`Config`].

use crate::Config;
use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::Parser;
use nvt_detect::detector::ResizeMode;
use nvt_detect::layout::LayoutKind;
use nvt_detect::{ChannelOrder, Detector, DetectorOptions, OutputLayout, PixelRange, Provider};
use nvt_support::units::{bytes_in, duration_in, number_in};
use nvt_support::JsonLines;
use nvt_transport::{protect, Limits};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod events;
mod nats;
pub use events::{hub as events_hub, EventArgs, MqttArgs, TrackArgs};
pub use nats::{parse_group, parse_nats_url, NatsAccessArgs};

/// Receives frames over the classic timestamped-handshake protocol, decodes them, and shows or
/// logs them.
#[derive(Debug, Parser)]
#[command(name = "nvt-server", version)]
pub struct Args {
    /// Where clients connect (classic protocol).
    #[arg(long, default_value = "0.0.0.0:1998")]
    pub listen: String,
    /// The detector and its settings.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Names the camera that connects from IP (repeatable); others are named after their IP.
    #[arg(long = "camera", value_name = "NAME=IP", value_parser = crate::cameras::parse_camera)]
    pub cameras: Vec<(String, std::net::IpAddr)>,
    /// The tracker.
    #[command(flatten)]
    pub track: TrackArgs,
    /// Events and snapshots.
    #[command(flatten)]
    pub events: EventArgs,
    /// MQTT.
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// Send each frame chosen for detection to a queue group of nvt-worker processes on this
    /// NATS server (nats://HOST:PORT, or tls://HOST:PORT) instead of running a model here.
    #[arg(long, conflicts_with = "model", value_parser = parse_nats_url)]
    pub nats: Option<String>,
    /// TLS and credentials for --nats.
    #[command(flatten)]
    pub nats_access: NatsAccessArgs,
    /// The worker group (--nats): requests go to nvt.detect.GROUP.
    #[arg(long, default_value = "default", requires = "nats", value_parser = parse_group)]
    pub group: nvt_fleet::Group,
    /// The classic freshness check: a frame whose timestamp echo returns later than this is
    /// answered '0' and dropped undecoded.
    #[arg(long, default_value = "80ms", value_parser = duration_in(Duration::from_millis(1), Duration::from_secs(60)))]
    pub max_lag: Duration,
    /// JSON Lines log, one record per processed frame ('-' for standard output).
    #[arg(long)]
    pub log: Option<String>,
    /// Open one window per client (needs a display).
    #[arg(long)]
    pub show: bool,
    /// Largest frame accepted, in bytes (e.g. 8MiB).
    #[arg(long, default_value = "8MiB", value_parser = bytes_in(1024, 1 << 30))]
    pub max_frame_bytes: usize,
    /// Largest decoded image in pixels, read from the JPEG header before decoding.
    #[arg(long, default_value_t = nvt_capture::jpeg::DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..=MAX_PIXELS_CAP))]
    pub max_pixels: u64,
    /// Most clients at once; more connections are refused and counted.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000).map(|n| n as usize))]
    pub max_clients: usize,
    /// Most clients at once from one IP address, so that one host cannot take every slot.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000).map(|n| n as usize))]
    pub max_clients_per_ip: usize,
    /// Drop a client that sends nothing for this long.
    #[arg(long, default_value = "10s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub read_timeout: Duration,
    /// Drop a client whose frame is not complete this long after its timestamp was sent.
    #[arg(long, default_value = "30s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub exchange_timeout: Duration,
    /// How often to log a stats line.
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(24 * 3600)))]
    pub stats_every: Duration,
    /// Protected mode: serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Protected mode: the PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Protected mode: clients must present the token in this file (first line, 1-64 bytes).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Do not watch the --model file; reload it only on SIGHUP or POST /api/model.
    #[arg(long)]
    pub no_watch: bool,
    /// Serve the live web view and /metrics here: a port (on 127.0.0.1) or ADDR:PORT.
    #[arg(long, value_parser = parse_http_addr)]
    pub http: Option<std::net::SocketAddr>,
    /// A host name the web view answers to, besides its IP addresses and `localhost`
    /// (repeatable). Requests naming any other host are refused, which stops DNS rebinding.
    #[arg(long = "http-host", value_name = "NAME")]
    pub http_hosts: Vec<String>,
    /// Every web view request must carry this token (first line of the file, 1-64 bytes) as
    /// `Authorization: Bearer TOKEN`; a browser opens `/?token=TOKEN` once and keeps a cookie.
    #[arg(long)]
    pub http_token_file: Option<PathBuf>,
    /// The folder `POST /api/model` may switch to a model file in. Without it, the web view can
    /// only reload the --model file.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Inference workers, each with its own ONNX Runtime session, serving the clients in turn
    /// (0: one per four cores, at least one). More workers raise throughput with many clients;
    /// one worker with every core gives the lowest latency to one client.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64).map(|n| n as usize))]
    pub workers: usize,
}

/// The largest `--max-pixels`: a 16384x16384 image, 768 MiB decoded.
const MAX_PIXELS_CAP: u64 = 1 << 28;

/// `8080` means `127.0.0.1:8080`: the web view stays on loopback unless an address is named.
fn parse_http_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("invalid --http {text:?}: use a port (8080) or ADDR:PORT (0.0.0.0:8080)"))
}

impl Args {
    /// Validates the flags and opens what they name.
    pub fn into_config(self) -> anyhow::Result<Config> {
        if self.show && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            anyhow::bail!("--show needs a display, and DISPLAY is not set: run headless with --log, or under xvfb-run");
        }
        use std::net::ToSocketAddrs;
        let resolved = self.listen.to_socket_addrs().map(|mut a| a.next().is_some());
        anyhow::ensure!(
            resolved.unwrap_or(false),
            "--listen {:?} is not an address to listen on: use HOST:PORT, such as 0.0.0.0:1998",
            self.listen
        );
        let log = match &self.log {
            Some(target) => Some(Arc::new(JsonLines::open(target).context("--log")?)),
            None => None,
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(protect::acceptor(cert, key)?),
            _ => None,
        };
        let token = self.token_file.as_deref().map(protect::read_token).transpose()?;
        if token.is_some() && tls.is_none() {
            tracing::warn!("--token-file without TLS: the token crosses the network in clear text");
        }
        let http = match self.http {
            Some(addr) => {
                Some(std::net::TcpListener::bind(addr).with_context(|| format!("cannot serve --http on {addr}"))?)
            }
            None => None,
        };
        let http_token =
            self.http_token_file.as_deref().map(protect::read_token).transpose().context("--http-token-file")?;
        // The web token travels in a URL (`/?token=`) and a cookie: only characters safe in both.
        if http_token.as_ref().is_some_and(|t| !t.iter().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(c))) {
            anyhow::bail!("--http-token-file: the web token may hold only letters, digits and - . _ ~");
        }
        if let Some(bad) = self.http_hosts.iter().find(|h| h.is_empty() || h.contains([':', '/', ' '])) {
            anyhow::bail!("--http-host {bad:?} is not a host name");
        }
        if let Some(dir) = &self.model_dir {
            anyhow::ensure!(dir.is_dir(), "--model-dir {} is not a folder", dir.display());
        }
        let web = crate::config::WebSettings {
            gate: crate::web::Gate { port: 0, names: self.http_hosts.clone(), token: http_token },
            model_dir: self.model_dir.clone(),
        };
        if self.model.model.is_none()
            && self.nats.is_none()
            && (self.events.events.is_some() || self.events.snapshots.is_some())
        {
            anyhow::bail!("--events and --snapshots need --model or --nats: without a detector there are no objects");
        }
        let fleet = match &self.nats {
            Some(url) => {
                Some(crate::config::FleetSettings { access: self.nats_access.access(url)?, group: self.group.clone() })
            }
            None => None,
        };
        let events = events::hub(&self.events, self.mqtt.start()?, false)?;
        let (workers, threads) = crate::config::plan_workers(self.workers, self.model.threads);
        let model = ModelArgs { threads, ..self.model.clone() };
        Ok(Config {
            max_lag: self.max_lag,
            limits: Limits {
                max_frame_bytes: self.max_frame_bytes,
                read_timeout: self.read_timeout,
                exchange_timeout: self.exchange_timeout,
            },
            max_pixels: self.max_pixels,
            max_clients: self.max_clients,
            max_clients_per_ip: self.max_clients_per_ip,
            log,
            show: self.show,
            stats_every: self.stats_every,
            detectors: model.load(workers)?,
            guard: protect::Guard { tls, token },
            http,
            model_source: model.model.clone().map(|path| crate::swap::ModelSource {
                path,
                options: model.options(),
                watch: !self.no_watch,
                workers,
            }),
            reload: Arc::default(),
            web,
            cameras: crate::cameras::Cameras::new(self.cameras.clone()),
            track: self.track.settings(),
            events: Arc::new(events),
            fleet,
        })
    }
}

/// The model flags, shared by `nvt-server` and `nvt-detect`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// ONNX detector (YOLOv8/YOLO11, YOLOv5/v7 or end-to-end layout). nvt-server without one
    /// only decodes, logs and shows frames, as the original did (or, with --nats, asks the
    /// workers); nvt-worker may use its group's pushed model instead; nvt-detect needs one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Input size (square). Wins over the model's `imgsz` metadata; a model with a fixed input
    /// shape must already be this size (default: the fixed shape, else the metadata, else 640).
    #[arg(long, value_parser = clap::value_parser!(u32).range(32..=4096))]
    pub imgsz: Option<u32>,
    /// Score threshold.
    #[arg(long, default_value_t = 0.25, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub conf: f32,
    /// NMS IoU threshold.
    #[arg(long, default_value_t = 0.45, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub iou: f32,
    /// Class names, one per line. Win over the names the model carries.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output layout, instead of the one read from the output's shape: v8, v5 or e2e.
    #[arg(long, value_parser = OutputLayout::parse_override)]
    pub layout: Option<LayoutKind>,
    /// Threads ONNX Runtime uses inside one inference (0: the cores shared among the workers).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256).map(|n| n as usize))]
    pub threads: usize,
    /// Let ONNX Runtime's threads spin between operators instead of sleeping: a little faster
    /// on an idle machine, slower when the cores are shared with decoding and other work.
    #[arg(long)]
    pub spin: bool,
    /// Where ONNX Runtime runs the model: cpu, cuda, tensorrt or openvino.
    #[arg(long, default_value = "cpu")]
    pub ep: Provider,
    /// Pixel range the model expects: 0-1 or 0-255.
    #[arg(long, default_value = "0-1", value_parser = parse_range)]
    pub input_range: PixelRange,
    /// Channel order the model expects: rgb or bgr.
    #[arg(long, default_value = "rgb", value_parser = parse_order)]
    pub channel_order: ChannelOrder,
    /// Name of the detection output, for models with several (default: the first whose shape
    /// is a supported layout).
    #[arg(long)]
    pub output: Option<String>,
    /// Boxes come out normalised to 0-1 instead of in input pixels.
    #[arg(long)]
    pub normalized_boxes: bool,
    /// How frames are fitted to the input: letterbox (aspect kept, grey padding) or stretch.
    #[arg(long, default_value = "letterbox")]
    pub resize: ResizeMode,
}

fn parse_range(text: &str) -> Result<PixelRange, String> {
    match text {
        "0-1" | "unit" => Ok(PixelRange::Unit),
        "0-255" | "byte" => Ok(PixelRange::Byte),
        _ => Err(format!("unknown input range {text:?}: use 0-1 or 0-255")),
    }
}

fn parse_order(text: &str) -> Result<ChannelOrder, String> {
    match text.to_ascii_lowercase().as_str() {
        "rgb" => Ok(ChannelOrder::Rgb),
        "bgr" => Ok(ChannelOrder::Bgr),
        _ => Err(format!("unknown channel order {text:?}: use rgb or bgr")),
    }
}

impl ModelArgs {
    /// The detector settings these flags describe.
    pub fn options(&self) -> DetectorOptions {
        DetectorOptions {
            conf: self.conf,
            iou: self.iou,
            imgsz: self.imgsz,
            labels: self.labels.clone(),
            layout: self.layout,
            threads: self.threads,
            spin: self.spin,
            provider: self.ep,
            range: self.input_range,
            order: self.channel_order,
            output: self.output.clone(),
            normalized_boxes: self.normalized_boxes,
            resize: self.resize,
            ..DetectorOptions::default()
        }
    }

    /// Loads the model once per inference worker (each needs its own session), if one is
    /// named; every problem with it is an error here, at start-up.
    pub fn load(&self, workers: usize) -> anyhow::Result<Vec<Detector>> {
        let Some(path) = &self.model else { return Ok(Vec::new()) };
        anyhow::ensure!((0.0..=1.0).contains(&self.conf), "--conf must be between 0 and 1");
        anyhow::ensure!((0.0..=1.0).contains(&self.iou), "--iou must be between 0 and 1");
        let detectors = (0..workers.max(1))
            .map(|_| Detector::load(path, self.options()).with_context(|| format!("--model {}", path.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let info = detectors[0].info();
        tracing::info!(
            model = %info.id,
            layout = ?info.layout,
            input = format!("{}x{}", info.input_size.0, info.input_size.1),
            classes = info.names.len(),
            workers = detectors.len(),
            threads = self.threads,
            "model loaded"
        );
        Ok(detectors)
    }
}

/// The async runtime of a binary; `None` (after saying why on standard error, as `program`)
/// when it cannot start.
pub fn runtime(program: &str) -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|error| eprintln!("{program}: cannot start the async runtime: {error}")).ok()
}

/// Completes on SIGINT or SIGTERM.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Logs to standard error, `info` and up unless `RUST_LOG` says otherwise, in colour only on a
/// terminal.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        // The NATS client's own reconnect chatter stays below; nvt says once what matters.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,async_nats=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
