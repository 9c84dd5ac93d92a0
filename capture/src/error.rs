//! The typed error of this crate.

use std::path::PathBuf;

/// What can go wrong while opening a source, reading a frame or coding an image.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The `--source` text names nothing we can open.
    #[error("cannot open source {spec:?}: {reason}")]
    Open {
        /// The source as the user wrote it.
        spec: String,
        /// Why it could not be opened.
        reason: String,
    },
    /// An input file does not exist.
    #[error("no such file: {0}")]
    NoSuchFile(PathBuf),
    /// A size such as `--size` is not of the form `WxH` with both sides in range.
    #[error("invalid size {0:?}: expected WxH, for example 640x480, each side 16 to 8192")]
    InvalidSize(String),
    /// The bytes are not an image format we accept (JPEG or PNG).
    #[error("not a JPEG or PNG image ({0})")]
    UnsupportedFormat(&'static str),
    /// The image header declares more pixels than the configured limit.
    #[error("image of {width}x{height} exceeds the limit of {limit} pixels")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit in force.
        limit: u64,
    },
    /// OpenCV could not decode the bytes into an image.
    #[error("corrupt image: OpenCV could not decode it")]
    Corrupt,
    /// JPEG quality outside 1..=100.
    #[error("JPEG quality {0} is out of range 1-100")]
    InvalidQuality(i32),
    /// An error reported by OpenCV itself.
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}
