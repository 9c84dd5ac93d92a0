//! Frame sources and JPEG coding for nvt: the only place that talks to OpenCV's video and image
//! I/O. Pictures come in from cameras, files, URLs and the synthetic scene, or as JPEG bytes;
//! they go out as OpenCV BGR frames, JPEG bytes, and image and video files.
//!
//! - [`source`]: cameras, video and image files, URLs and the built-in [`synthetic`] scene, all
//!   behind [`FrameSource`].
//! - [`jpeg`]: encode to JPEG and decode to BGR, refusing oversized images before allocating.
//! - [`stamp`]: a frame number and capture time written into the pixels so that they survive JPEG.
//! - [`media`]: image and video files for offline work, read and written.
//! - [`draw`]: detection boxes with their labels drawn on a frame.
//! - [`library_log`]: OpenCV's, FFmpeg's and GStreamer's own messages, quieted.

pub mod draw;
pub mod error;
pub mod frame;
pub mod jpeg;
pub mod library_log;
pub mod media;
pub mod slot;
pub mod source;
pub mod stamp;
pub mod synthetic;

pub use error::CaptureError;
pub use frame::{Frame, FrameSource, GroundTruth};
pub use source::{open, SourceSpec};
pub use stamp::Stamp;

/// OpenCV's image type, re-exported so that users of this crate need no direct OpenCV dependency.
pub use opencv::core::Mat;
