//! Reading a model file as the untrusted input it is: only a regular file, never more than
//! [`MAX_MODEL_BYTES`]. A named pipe would block the reader for good and a device such as
//! `/dev/zero` would never end, so the file is opened without blocking and checked for what it
//! is before a byte is read.

use crate::DetectError;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest model file read: ONNX's own protobuf limit is 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// `O_NONBLOCK` on Linux: opening a FIFO with no writer returns at once instead of waiting.
const O_NONBLOCK: i32 = 0o4000;

/// Reads the whole of a model file, refusing anything but a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, DetectError> {
    let fail = |source: std::io::Error| DetectError::ModelRead { path: path.into(), source };
    let invalid = |what: String| fail(std::io::Error::new(std::io::ErrorKind::InvalidInput, what));
    let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file (a directory, pipe, socket or device)".into()));
    }
    if meta.len() > cap {
        return Err(invalid(format!("{} bytes, more than the {cap} a model may have", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read still stops at the cap.
    file.take(cap + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > cap {
        return Err(invalid(format!("grew past the {cap} bytes a model may have while it was read")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nvt-model-file-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let path = dir("regular").join("m.onnx");
        std::fs::write(&path, b"model bytes").expect("write");
        assert_eq!(read(&path, 100).expect("read"), b"model bytes");
    }

    #[test]
    fn pipes_devices_folders_and_oversized_files_are_refused_at_once() {
        let folder = dir("hostile");
        let fifo = folder.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        let big = folder.join("big.onnx");
        std::fs::write(&big, vec![0u8; 101]).expect("write");
        for (path, says) in [
            (fifo.as_path(), "not a regular file"),
            (Path::new("/dev/zero"), "not a regular file"),
            (folder.as_path(), "not a regular file"),
            (big.as_path(), "more than the 100"),
        ] {
            let error = read(path, 100).expect_err("refused");
            assert!(error.to_string().contains(says), "{}: {error}", path.display());
        }
        assert!(read(&folder.join("missing"), 100).is_err());
        std::fs::remove_dir_all(&folder).ok();
    }
}
