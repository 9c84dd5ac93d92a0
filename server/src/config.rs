//! The server's validated settings.

use nvt_support::JsonLines;
use nvt_transport::Limits;
use std::sync::Arc;
use std::time::Duration;

/// Everything [`crate::run`] needs besides the listener.
pub struct Config {
    /// The freshness rule (`--max-lag`): a late frame is answered `'0'`.
    pub max_lag: nvt_transport::MaxLag,
    /// Per-connection limits (frame size, read timeout, exchange deadline).
    pub limits: Limits,
    /// Largest decoded image, in pixels, checked from the header before decoding.
    pub max_pixels: u64,
    /// Most clients served at once; more are refused at accept.
    pub max_clients: usize,
    /// Most clients served at once from one IP address.
    pub max_clients_per_ip: usize,
    /// Where processed-frame records go.
    pub log: Option<Arc<JsonLines>>,
    /// Whether to open a window per client.
    pub show: bool,
    /// How often to log a stats line.
    pub stats_every: Duration,
    /// The loaded model, once per inference worker; with none the server decodes, logs and shows
    /// frames only.
    pub detectors: Vec<nvt_detect::Detector>,
    /// Protected mode (TLS, token); classic when both are off.
    pub guard: nvt_transport::protect::Guard,
    /// Where the web view and metrics listen (`--http`).
    pub http: Option<std::net::TcpListener>,
    /// Where the model comes from, so that it can be swapped live (watch, SIGHUP, HTTP).
    pub model_source: Option<nvt_pipeline::swap::ModelSource>,
    /// Notified to reload the model (the binary connects SIGHUP to it).
    pub reload: Arc<tokio::sync::Notify>,
    /// Who may use the web view, and where it may switch models to.
    pub web: WebSettings,
    /// Camera names.
    pub cameras: crate::cameras::Cameras,
    /// The tracker's thresholds.
    pub track: nvt_events::TrackSettings,
    /// Where the detector looks (`--detect motion`, the default); `None`: on every frame, whole.
    pub look: Option<Arc<nvt_motion::LookSettings>>,
    /// Where events go.
    pub events: Arc<nvt_events::Hub>,
    /// The event store, clips and retention (`--db`, `--clips`); one of the events' outputs.
    pub history: Option<Arc<nvt_history::History>>,
    /// `--nats`: frames go to a group of workers instead of a local model.
    pub fleet: Option<FleetSettings>,
}

/// Where the fleet's workers are.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// The NATS server, with TLS and credentials.
    pub access: nvt_fleet::Access,
    /// The worker group.
    pub group: nvt_fleet::Group,
}

/// The web view's security settings.
#[derive(Clone, Default)]
pub struct WebSettings {
    /// Host names the web view answers to besides its IP addresses and `localhost`
    /// (`--http-host`).
    pub host_names: Vec<String>,
    /// The bearer token every request must carry (`--http-token-file`).
    pub token: Option<Vec<u8>>,
    /// `--model-dir`: the only folder `POST /api/model` may switch to a file in.
    pub model_dir: Option<std::path::PathBuf>,
    /// `--http-tls-cert` and `--http-tls-key`: the web view serves HTTPS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_lag: nvt_transport::MaxLag::Auto,
            limits: Limits::default(),
            max_pixels: nvt_capture::jpeg::DEFAULT_MAX_PIXELS,
            max_clients: 64,
            max_clients_per_ip: 16,
            log: None,
            show: false,
            stats_every: Duration::from_secs(5),
            detectors: Vec::new(),
            guard: nvt_transport::protect::Guard { tls: None, token: None },
            http: None,
            model_source: None,
            reload: Arc::default(),
            web: WebSettings::default(),
            cameras: crate::cameras::Cameras::default(),
            track: nvt_events::TrackSettings::default(),
            look: None,
            events: Arc::new(nvt_events::Hub::new(nvt_events::EventSettings::default(), Default::default(), false)),
            history: None,
            fleet: None,
        }
    }
}

/// Inference workers, and ONNX Runtime threads for each: as asked, or by default one worker per
/// four cores (at least one) with the cores shared among the workers.
pub fn plan_workers(workers: usize, threads: usize) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if workers == 0 { (cores / 4).max(1) } else { workers };
    let threads = if threads == 0 { (cores / workers).max(1) } else { threads };
    (workers, threads)
}

#[cfg(test)]
mod tests {
    use super::plan_workers;

    #[test]
    fn workers_and_threads_default_from_the_core_count_and_follow_the_flags() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (workers, threads) = plan_workers(0, 0);
        assert_eq!(workers, (cores / 4).max(1));
        assert!(workers * threads <= cores.max(workers), "no more threads than cores: {workers} x {threads}");
        assert_eq!(plan_workers(3, 0), (3, (cores / 3).max(1)));
        assert_eq!(plan_workers(2, 5), (2, 5), "flags win");
    }
}
