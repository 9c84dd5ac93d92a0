//! Reading a file named by a flag, a request or a model as the untrusted input it may be: only a
//! regular file, never more than a cap. A named pipe would block the reader for good and a device
//! such as `/dev/zero` would never end, so the file's type is checked before it is opened, and
//! again on the open descriptor (it may have been swapped in between), which is opened without
//! blocking.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `O_NONBLOCK` on Linux: opening a FIFO with no writer returns at once instead of waiting.
const O_NONBLOCK: i32 = 0o4000;

/// Reads the whole of `path`, refusing anything but a regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let not_regular = || invalid("not a regular file (a directory, pipe, socket or device)".into());
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > cap {
        return Err(invalid(format!("{} bytes, more than the {cap} allowed", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read still stops at the cap.
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(invalid(format!("grew past the {cap} bytes allowed while it was read")));
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_devices_folders_and_oversized_files_are_refused_at_once() {
        let folder = std::env::temp_dir().join(format!("nvt-files-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("dir");
        let fifo = folder.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        let small = folder.join("small");
        std::fs::write(&small, b"model bytes").expect("write");
        assert_eq!(read_regular(&small, 100).expect("read"), b"model bytes");
        assert_eq!(read_text(&small, 100).expect("text"), "model bytes");
        for (path, says) in [
            (fifo.as_path(), "not a regular file"),
            (Path::new("/dev/zero"), "not a regular file"),
            (folder.as_path(), "not a regular file"),
            (small.as_path(), "more than the 5 allowed"),
        ] {
            let cap = if path == small { 5 } else { 100 };
            let error = read_regular(path, cap).expect_err("refused");
            assert!(error.to_string().contains(says), "{}: {error}", path.display());
        }
        assert!(read_regular(&folder.join("missing"), 100).is_err());
        std::fs::remove_dir_all(&folder).ok();
    }
}
