//! Reading a model file: a regular file of at most [`MAX_MODEL_BYTES`], as `nvt_support::files`
//! reads every untrusted file.

use crate::error::DetectError;
use std::path::Path;

/// The largest model file read: ONNX's own protobuf limit is 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The largest labels file read: 10,000 names of 200 characters fit in well under it.
pub const MAX_LABELS_BYTES: u64 = 4 << 20;

/// Reads the whole of a model file, refusing anything but a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, DetectError> {
    nvt_support::files::read_regular(path, cap).map_err(|error| DetectError::ModelRead { path: path.into(), error })
}

/// Reads a labels file the same way.
pub fn read_labels(path: &Path) -> Result<String, DetectError> {
    nvt_support::files::read_text(path, MAX_LABELS_BYTES)
        .map_err(|error| DetectError::LabelsRead { path: path.into(), error })
}
