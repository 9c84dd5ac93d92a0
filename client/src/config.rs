//! The client's validated settings.

use nvt_capture::SourceSpec;
use nvt_support::JsonLines;
use nvt_transport::Limits;
use std::sync::Arc;
use std::time::Duration;

/// Everything [`crate::run`] needs.
pub struct Config {
    /// Server address.
    pub connect: String,
    /// What to capture.
    pub source: SourceSpec,
    /// Resize to this before encoding.
    pub size: Option<(u32, u32)>,
    /// Frames per second to capture; `None` means the source's own (synthetic: 30), `Some(0.0)`
    /// means as fast as the server takes them.
    pub fps: Option<f64>,
    /// JPEG quality, 1-100: the most the link fitting may use (see [`crate::fit`]).
    pub jpeg_quality: i32,
    /// Fit quality and size to the link; when false, every frame uses `jpeg_quality` and `size`.
    pub adapt: bool,
    /// Stop after this many accepted frames.
    pub frames: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Where exchange records go.
    pub log: Option<Arc<JsonLines>>,
    /// Show a local preview with the returned detections.
    pub show: bool,
    /// Connection limits.
    pub limits: Limits,
    /// First reconnection delay.
    pub backoff_first: Duration,
    /// Longest reconnection delay.
    pub backoff_cap: Duration,
    /// Print a live one-line status (on a terminal).
    pub status_line: bool,
    /// Protected mode: TLS, with the name the server's certificate must carry.
    pub tls: Option<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)>,
    /// Protected mode: the token to present.
    pub token: Option<Vec<u8>>,
    /// Protected mode: the camera's name.
    pub name: Option<String>,
}

impl Config {
    /// Settings for `source` against `connect`, everything else at its default.
    pub fn new(connect: impl Into<String>, source: SourceSpec) -> Self {
        Self {
            connect: connect.into(),
            source,
            size: None,
            fps: None,
            jpeg_quality: nvt_capture::jpeg::DEFAULT_QUALITY,
            adapt: true,
            frames: None,
            duration: None,
            log: None,
            show: false,
            limits: Limits::default(),
            backoff_first: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            status_line: false,
            tls: None,
            token: None,
            name: None,
        }
    }
}
