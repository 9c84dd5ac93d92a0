//! Command-line flags of `nvt-server`, turned into a [`Config`].

use crate::config::Config;
use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::Parser;
use nvt_detect::ModelArgs;
use nvt_events::flags::{EventArgs, MqttArgs, TrackArgs};
use nvt_fleet::flags::{parse_group, parse_nats_url, NatsAccessArgs};
use nvt_history::flags::HistoryArgs;
use nvt_support::units::{bytes_in, duration_in};
use nvt_support::JsonLines;
use nvt_transport::{protect, Limits};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Receives frames over the classic timestamped-handshake protocol, decodes them, and shows or
/// logs them.
#[derive(Debug, Parser)]
#[command(name = "nvt-server", version)]
pub struct Args {
    /// Where clients connect (the protocol port): ADDR:PORT, or a port (on every address).
    #[arg(long, default_value = "0.0.0.0:1998", value_parser = parse_listen)]
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
    /// Where the detector looks: only where something moved (the default), or everywhere.
    #[command(flatten)]
    pub look: nvt_motion::LookArgs,
    /// Events and snapshots.
    #[command(flatten)]
    pub events: EventArgs,
    /// MQTT.
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// The event store, clips and retention.
    #[command(flatten)]
    pub history: HistoryArgs,
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
    /// The freshness check. `auto`: a frame is late ('0', dropped undecoded) when the timestamp
    /// waited more than 80 ms at the client; the link's round trip and the upload, learned per
    /// connection, do not count. A duration (e.g. 80ms, the original's rule): late when the echo
    /// returns later than that after the timestamp was sent, link and upload included.
    #[arg(long, default_value = "auto", value_parser = parse_max_lag)]
    pub max_lag: nvt_transport::MaxLag,
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
    /// Protected mode with a certificate of the server's own: makes a self-signed certificate and
    /// its key in DIR on the first start (DIR/nvt-server.pem, DIR/nvt-server.key), uses them on
    /// the next, and says how clients pin it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: Option<PathBuf>,
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
    /// Serve the web view over HTTPS with this PEM certificate chain (needs --http-tls-key):
    /// browsers give the camera page a camera only on HTTPS, or on localhost.
    #[arg(long, requires_all = ["http_tls_key", "http"])]
    pub http_tls_cert: Option<PathBuf>,
    /// The PEM private key of --http-tls-cert.
    #[arg(long, requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,
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

/// `1998` means `0.0.0.0:1998`, the default's address; otherwise a HOST:PORT.
fn parse_listen(text: &str) -> Result<String, String> {
    if let Ok(port) = text.trim().parse::<u16>() {
        return Ok(format!("0.0.0.0:{port}"));
    }
    use std::net::ToSocketAddrs;
    match text.to_socket_addrs().map(|mut a| a.next().is_some()) {
        Ok(true) => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is not an address to listen on: use a port (1998) or HOST:PORT (0.0.0.0:1998)")),
    }
}

/// `--tls-self-signed DIR`: the pair in DIR, made on the first start, and a line that says how
/// clients pin it.
fn self_signed(dir: &std::path::Path, listen: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    if !host.is_empty() {
        names.push(host);
    }
    let (listen_host, port) = listen.rsplit_once(':').unwrap_or((listen, "1998"));
    let listen_host = listen_host.trim_matches(['[', ']']);
    if listen_host.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_unspecified()) {
        names.push(listen_host.to_owned());
    }
    let pair = nvt_transport::self_signed::ensure(dir, &names).context("--tls-self-signed")?;
    let connect = if listen_host.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_unspecified()) {
        listen.to_owned()
    } else {
        format!("THIS-HOST:{port}")
    };
    tracing::info!(
        "protected mode with a self-signed certificate ({}): clients pin it with \
         `nvt-client --connect {connect} --tls-ca nvt-server.pem`, a copy of {} (SHA-256 fingerprint {})",
        if pair.made { "made now" } else { "kept from the last start" },
        pair.cert.display(),
        pair.fingerprint
    );
    Ok((pair.cert, pair.key))
}

/// `8080` means `127.0.0.1:8080`: the web view stays on loopback unless an address is named.
fn parse_http_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("invalid --http {text:?}: use a port (8080) or ADDR:PORT (0.0.0.0:8080)"))
}

/// `--max-lag`: `auto`, or the original rule's limit as a duration from 1 ms to 60 s.
fn parse_max_lag(text: &str) -> Result<nvt_transport::MaxLag, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(nvt_transport::MaxLag::Auto);
    }
    duration_in(Duration::from_millis(1), Duration::from_secs(60))(text)
        .map(nvt_transport::MaxLag::Strict)
        .map_err(|e| format!("{e}, or auto"))
}

/// The web view's address as others would open it (Home Assistant's `configuration_url`): a
/// wildcard address is named by the first --http-host, or else the machine's host name.
fn web_url(addr: std::net::SocketAddr, hosts: &[String], tls: bool) -> String {
    let host = if addr.ip().is_unspecified() {
        hosts.first().cloned().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".into())
        })
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}/", addr.port())
}

/// Flags people type for `nvt-server` that it does not take, with the ones they mean (clap's own
/// suggestions for them name other things: `--output` is the model's output tensor).
pub const FLAG_HINTS: &[nvt_support::flag_hints::Hint] = &[
    nvt_support::flag_hints::Hint {
        typed: &["--out", "--outdir", "--out-dir", "--output-dir"],
        tip: "the records go to '--log FILE', events to '--events FILE', snapshots to '--snapshots DIR' \
              ('--output' names the model's output tensor)",
    },
    nvt_support::flag_hints::Hint {
        typed: &["--input", "--source", "--video", "--file", "--image"],
        tip: "nvt-server takes its frames from clients ('nvt-client --source FILE --connect HOST:PORT'); \
              'nvt-detect --model MODEL FILE' runs a model over files",
    },
    nvt_support::flag_hints::Hint {
        typed: &["--port", "--host", "--bind", "--address", "--addr"],
        tip: "clients connect to '--listen PORT' (or HOST:PORT); the web view is on '--http PORT'",
    },
];

impl Args {
    /// Validates the flags and opens what they name.
    pub async fn into_config(self) -> anyhow::Result<Config> {
        if self.show && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            anyhow::bail!("--show needs a display, and DISPLAY is not set: run headless with --log, or under xvfb-run");
        }
        self.events.check_standard_output(self.log.as_deref())?;
        let log = match &self.log {
            Some(target) => Some(Arc::new(JsonLines::open(target).context("--log")?)),
            None => None,
        };
        let tls = match (&self.tls_cert, &self.tls_key, &self.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(protect::acceptor(cert, key)?),
            (_, _, Some(dir)) => {
                let (cert, key) = self_signed(dir, &self.listen)?;
                Some(protect::acceptor(&cert, &key)?)
            }
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
        let http_token = self.http_token_file.as_deref().map(nvt_history::guard::read_web_token).transpose()?;
        if let Some(bad) = self.http_hosts.iter().find(|h| !nvt_history::guard::host_name_fits(h)) {
            anyhow::bail!("--http-host {bad:?} is not a host name");
        }
        if let Some(dir) = &self.model_dir {
            anyhow::ensure!(dir.is_dir(), "--model-dir {} is not a folder", dir.display());
        }
        let web_tls = match (&self.http_tls_cert, &self.http_tls_key) {
            (Some(cert), Some(key)) => Some(protect::acceptor(cert, key).context("--http-tls-cert")?),
            _ => None,
        };
        if let (Some(addr), None) = (self.http, &http_token) {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    "the web view on {addr} has no --http-token-file: anyone who reaches it can watch every camera, \
                     stream as a camera from /camera and switch the model"
                );
            }
            if token.is_some() {
                tracing::warn!("{}", crate::web::PROTECTED_WITHOUT_WEB_TOKEN);
            }
        }
        let web = crate::config::WebSettings {
            host_names: self.http_hosts.clone(),
            token: http_token,
            model_dir: self.model_dir.clone(),
            tls: web_tls,
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
        crate::cameras::check_cameras(&self.cameras).map_err(anyhow::Error::msg)?;
        let objects = self.track.objects()?;
        let named = self.cameras.iter().map(|(name, _)| name.clone()).collect();
        let web_address = self.http.map(|addr| web_url(addr, &self.http_hosts, web.tls.is_some()));
        let events =
            Arc::new(nvt_events::flags::hub(&self.events, &objects, self.mqtt.start(named, web_address)?, false)?);
        // Without a detector there are no objects, so nothing to keep.
        let detects = self.model.model.is_some() || self.nats.is_some();
        let history = if detects { crate::history::open(&self.history, &self.events, &events).await? } else { None };
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
            model_source: model.model.clone().map(|path| nvt_pipeline::swap::ModelSource {
                path,
                options: model.options(),
                watch: !self.no_watch,
                workers,
            }),
            reload: Arc::default(),
            web,
            cameras: crate::cameras::Cameras::new(self.cameras.clone()),
            track: self.track.settings(&objects),
            look: self.look.settings(nvt_motion::DetectMode::Motion, self.track.track_buffer).map(Arc::new),
            events,
            history,
            fleet,
        })
    }
}
