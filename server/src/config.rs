//! The server's validated settings.

use nvt_transport::{JsonLines, Limits};
use std::sync::Arc;
use std::time::Duration;

/// Everything [`crate::run`] needs besides the listener.
pub struct Config {
    /// The classic freshness check: a frame whose echo takes longer is answered `'0'`.
    pub max_lag: Duration,
    /// Per-connection limits (frame size, read timeout, exchange deadline).
    pub limits: Limits,
    /// Largest decoded image, in pixels, checked from the header before decoding.
    pub max_pixels: u64,
    /// Most clients served at once; more are refused at accept.
    pub max_clients: usize,
    /// Where processed-frame records go.
    pub log: Option<Arc<JsonLines>>,
    /// Whether to open a window per client.
    pub show: bool,
    /// How often to log a stats line.
    pub stats_every: Duration,
    /// The loaded model; without one the server decodes, logs and shows frames only.
    pub detector: Option<nvt_detect::Detector>,
    /// Protected mode (TLS, token); classic when both are off.
    pub guard: nvt_transport::protect::Guard,
    /// Where the web view and metrics listen (`--http`).
    pub http: Option<std::net::TcpListener>,
    /// Where the model comes from, so that it can be swapped live (watch, SIGHUP, HTTP).
    pub model_source: Option<crate::swap::ModelSource>,
    /// Notified to reload the model (the binary connects SIGHUP to it).
    pub reload: Arc<tokio::sync::Notify>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_millis(80),
            limits: Limits::default(),
            max_pixels: nvt_capture::jpeg::DEFAULT_MAX_PIXELS,
            max_clients: 64,
            log: None,
            show: false,
            stats_every: Duration::from_secs(5),
            detector: None,
            guard: nvt_transport::protect::Guard { tls: None, token: None },
            http: None,
            model_source: None,
            reload: Arc::default(),
        }
    }
}
