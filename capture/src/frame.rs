//! A captured frame, what a synthetic source knows about it, and what every source of frames
//! can do.

use crate::error::CaptureError;
use opencv::core::Mat;
use std::time::SystemTime;

/// One captured image, in OpenCV's 8-bit BGR layout.
pub struct Frame {
    /// The pixels (BGR, 8 bits per channel).
    pub image: Mat,
    /// The source's own frame counter, starting at 0.
    pub index: u64,
    /// Wall-clock time at which the frame was captured.
    pub captured: SystemTime,
    /// Objects known to be in the frame (only the synthetic source knows them).
    pub truth: Vec<GroundTruth>,
}

/// An object the synthetic scene drew, with its exact bounding box.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Class number, in the order of [`crate::synthetic::CLASS_NAMES`].
    pub class_id: usize,
    /// Human-readable class name.
    pub label: &'static str,
    /// Bounding box in pixels: x1, y1, x2, y2.
    pub bbox: [f32; 4],
}

/// Something that yields frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` when a finite source (a video file) has ended.
    fn read(&mut self) -> Result<Option<Frame>, CaptureError>;

    /// Whether frames arrive in real time whether or not anyone reads them (cameras, streams).
    /// A source that is not live produces a frame only when asked.
    fn is_live(&self) -> bool;

    /// The source's own frame rate, when it has one.
    fn nominal_fps(&self) -> Option<f64>;
}
