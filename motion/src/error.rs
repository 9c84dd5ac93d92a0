//! What can be wrong with what the motion check is given.

/// An error of the motion check's inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MotionError {
    /// A picture whose sizes and bytes disagree, or that is empty or too large.
    #[error("a {width}x{height} grey picture cannot hold {bytes} bytes (each side 1-4096)")]
    BadPicture {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
        /// The bytes given.
        bytes: usize,
    },
    /// A mask that is not a polygon of fractions of the frame.
    #[error("invalid motion mask {text:?}: {reason}")]
    BadMask {
        /// The mask as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}
