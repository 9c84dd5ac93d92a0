//! The capture thread: reads the source, paces it, JPEG-encodes each frame at the rung the link
//! allows (see [`crate::fit`]) and puts it in the newest-wins slot that the exchange loop takes
//! from.
//!
//! Two captures that encode to the same bytes (a still scene, a paused video, a screen) are
//! still two frames: the second gets a JPEG comment with its number, so that the server, which
//! takes identical bytes for a repeat sent to keep the handshake fresh, sees a new frame.

use crate::fit::Rung;
use nvt_capture::slot::Slot;
use nvt_capture::{jpeg, CaptureError, FrameSource, Mat};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// A frame ready to send.
pub struct Encoded {
    /// The source's frame number.
    pub index: u64,
    /// The JPEG bytes.
    pub jpeg: Vec<u8>,
    /// The rung it was encoded at (an index into [`Settings::rungs`]).
    pub rung: usize,
    /// Its JPEG quality.
    pub quality: i32,
    /// Its width and height.
    pub size: (u32, u32),
    /// When it was captured.
    pub captured: SystemTime,
    /// The picture itself, kept only for the local preview.
    pub image: Option<Mat>,
}

/// What the capture thread has delivered so far, read live by the exchange loop.
#[derive(Debug, Default)]
pub struct Captured {
    /// Frames encoded and offered for sending.
    pub frames: AtomicU64,
    /// Their JPEG bytes.
    pub bytes: AtomicU64,
}

/// How the capture thread runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Frames per second; 0 means as fast as they are taken.
    pub fps: f64,
    /// The encoder settings to choose from.
    pub rungs: Vec<Rung>,
    /// Which of them to encode the next frame at, as the exchange loop decides.
    pub rung: Arc<AtomicUsize>,
    /// Keep the picture for the preview.
    pub keep_image: bool,
}

/// Starts the thread. It closes the slot when the source ends, fails, or `stop` is cancelled,
/// and returns how many frames it captured.
pub fn spawn(
    mut source: Box<dyn FrameSource>,
    settings: Settings,
    slot: Arc<Slot<Encoded>>,
    counts: Arc<Captured>,
    stop: CancellationToken,
) -> std::io::Result<JoinHandle<Result<u64, CaptureError>>> {
    std::thread::Builder::new().name("capture".into()).spawn(move || {
        let result = capture_loop(source.as_mut(), &settings, &slot, &counts, &stop);
        slot.close();
        if let Err(error) = &result {
            tracing::error!(%error, "capture stopped");
        }
        result
    })
}

fn capture_loop(
    source: &mut dyn FrameSource,
    settings: &Settings,
    slot: &Slot<Encoded>,
    counts: &Captured,
    stop: &CancellationToken,
) -> Result<u64, CaptureError> {
    let period = (settings.fps > 0.0).then(|| Duration::from_secs_f64(1.0 / settings.fps));
    let on_demand = period.is_none() && !source.is_live();
    let mut due = Instant::now();
    let mut captured = 0u64;
    let mut previous: Vec<u8> = Vec::new();
    while !stop.is_cancelled() {
        if on_demand && !slot.wait_empty(Duration::from_millis(100)) {
            continue;
        }
        if let Some(period) = period {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            // After a stall, start again from now rather than catch up in a burst.
            due = (due + period).max(Instant::now());
        }
        let frame = match source.read() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                tracing::info!(frames = captured, "source ended");
                break;
            }
            Err(error) if source.is_live() => {
                tracing::warn!(%error, "camera or stream read failed; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(error) => return Err(error),
        };
        let rung = settings.rung.load(Relaxed).min(settings.rungs.len().saturating_sub(1));
        let Rung { quality, scale, .. } = settings.rungs.get(rung).copied().unwrap_or(crate::fit::LADDER[0]);
        let (mut jpeg, size) = jpeg::encode_scaled(&frame.image, quality, scale)?;
        if jpeg == previous {
            jpeg = jpeg::with_comment(&jpeg, format!("nvt frame {}", frame.index).as_bytes());
        } else {
            previous.clone_from(&jpeg);
        }
        let image = settings.keep_image.then_some(frame.image);
        counts.frames.fetch_add(1, Relaxed);
        counts.bytes.fetch_add(jpeg.len() as u64, Relaxed);
        slot.put(Encoded { index: frame.index, jpeg, rung, quality, size, captured: frame.captured, image });
        captured += 1;
    }
    Ok(captured)
}
