//! One writer per SQLite file: a lock file beside it (`FILE.lock`, holding the writer's pid),
//! locked with `flock` for as long as the store is open. The system lets go of the lock when the
//! process ends, however it ends, so a crash never leaves the file locked.

use crate::error::HistoryError;
use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock on a store file.
#[derive(Debug)]
pub struct FileLock {
    /// Open while the lock is held.
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

impl FileLock {
    /// Takes the lock of the store at `store`, or says which process holds it.
    pub fn take(store: &Path) -> Result<Self, HistoryError> {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| HistoryError::io("event store lock", &path, e))?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim().chars().take(20).collect::<String>();
            return Err(HistoryError::InUse { path: store.to_owned(), pid });
        }
        let written =
            file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
        written.map_err(|e| HistoryError::io("event store lock", &path, e))?;
        Ok(Self { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_file() {
        let dir = std::env::temp_dir().join(format!("nvt-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let store = dir.join("events.db");
        let first = FileLock::take(&store).expect("first");
        let second = FileLock::take(&store).expect_err("second");
        assert!(second.to_string().contains(&std::process::id().to_string()), "{second}");
        drop(first);
        FileLock::take(&store).expect("free again once the first let go");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
