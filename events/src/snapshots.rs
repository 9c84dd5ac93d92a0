//! `--snapshots DIR`: each event's best frame as a JPEG, at most `--snapshots-max` files, the
//! oldest removed first.
//!
//! The folder may be one others can reach, so a file is written under a fresh name nobody else
//! can have made (created exclusively, never through a link), then renamed into place; a folder
//! anyone may write to is refused.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A bounded folder of snapshots.
pub struct SnapshotStore {
    dir: PathBuf,
    max: usize,
    /// Our files, oldest first.
    files: VecDeque<PathBuf>,
}

/// Whether a file name is one nvt gives snapshots: `CAMERA-SECONDS.MICROS-XXXXXX.jpg`. Only
/// those count towards the bound, so other files in the folder are never removed.
fn is_ours(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".jpg") else { return false };
    let Some((rest, suffix)) = stem.rsplit_once('-') else { return false };
    let Some((camera, time)) = rest.rsplit_once('-') else { return false };
    let Some((seconds, micros)) = time.split_once('.') else { return false };
    !camera.is_empty()
        && suffix.len() == 6
        && suffix.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !seconds.is_empty()
        && seconds.bytes().all(|c| c.is_ascii_digit())
        && micros.len() == 6
        && micros.bytes().all(|c| c.is_ascii_digit())
}

impl SnapshotStore {
    /// Opens (creating it if need be) `dir`, keeping at most `max` snapshots in it. Snapshots a
    /// previous run left there count towards `max`, oldest first; other files are left alone.
    pub fn open(dir: &Path, max: usize) -> io::Result<Self> {
        let context = |e: io::Error| io::Error::new(e.kind(), format!("snapshot folder {}: {e}", dir.display()));
        fs::create_dir_all(dir).map_err(context)?;
        let meta = fs::symlink_metadata(dir).map_err(context)?;
        if !meta.is_dir() {
            return Err(context(io::Error::other("not a folder")));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o002 != 0 {
                return Err(context(io::Error::other("anyone may write to it; pick a folder of your own")));
            }
        }
        let mut old: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)
            .map_err(context)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .filter(|entry| entry.file_name().to_str().is_some_and(is_ours))
            .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
            .collect();
        old.sort();
        let mut store = Self { dir: dir.to_owned(), max: max.max(1), files: old.into_iter().map(|(_, p)| p).collect() };
        store.trim();
        Ok(store)
    }

    /// Saves `jpeg` as `name` (a plain file name), replacing an earlier snapshot of that name,
    /// then removes the oldest snapshots past the bound.
    pub fn save(&mut self, name: &str, jpeg: &[u8]) -> io::Result<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a plain file name: {name:?}")));
        }
        let target = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.{:08x}.part", fastrand::u32(..)));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
            file.write_all(jpeg)?;
            file.sync_data()?;
            fs::rename(&temporary, &target)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(io::Error::new(error.kind(), format!("cannot save snapshot {}: {error}", target.display())));
        }
        self.files.retain(|p| p != &target);
        self.files.push_back(target.clone());
        self.trim();
        Ok(target)
    }

    /// How many snapshots the folder holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the folder holds none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn trim(&mut self) {
        while self.files.len() > self.max {
            if let Some(oldest) = self.files.pop_front() {
                if let Err(error) = fs::remove_file(&oldest) {
                    if error.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(file = %oldest.display(), %error, "cannot remove an old snapshot");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nvt-snapshots-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keeps_at_most_max_removing_the_oldest_and_counts_an_earlier_runs_files() {
        let dir = folder("bound");
        let mut store = SnapshotStore::open(&dir, 3).expect("open");
        let name = |i: u32| format!("cam-1795822210.86337{i}-abc12{i}.jpg");
        for i in 0..5 {
            store.save(&name(i), b"jpeg").expect("save");
        }
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [name(2), name(3), name(4)]);
        store.save(&name(3), b"better").expect("replace");
        assert_eq!(fs::read(dir.join(name(3))).expect("read"), b"better");
        assert_eq!(store.len(), 3);
        drop(store);
        fs::write(dir.join("holiday.jpg"), b"a photo").expect("someone else's file");
        let mut again = SnapshotStore::open(&dir, 3).expect("reopen");
        again.save(&name(9), b"jpeg").expect("save");
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 4, "the earlier run's files count too");
        assert!(dir.join("holiday.jpg").exists(), "a file nvt did not write is never removed");
        assert!(!dir.join(name(2)).exists());
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn refuses_names_that_leave_the_folder_and_folders_anyone_may_write() {
        let dir = folder("hostile");
        let mut store = SnapshotStore::open(&dir, 3).expect("open");
        for name in ["../x.jpg", "a/b.jpg", ".hidden.jpg", ""] {
            assert!(store.save(name, b"x").is_err(), "{name}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
            let error = SnapshotStore::open(&dir, 3).err().expect("refused");
            assert!(error.to_string().contains("anyone may write"), "{error}");
        }
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_link_planted_at_the_snapshot_name_is_replaced_not_followed() {
        let dir = folder("link");
        let mut store = SnapshotStore::open(&dir, 3).expect("open");
        let victim = std::env::temp_dir().join(format!("nvt-victim-{}", std::process::id()));
        fs::write(&victim, b"precious").expect("victim");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.join("cam-1.jpg")).expect("link");
        store.save("cam-1.jpg", b"jpeg").expect("save");
        assert_eq!(fs::read(&victim).expect("victim"), b"precious");
        assert_eq!(fs::read(dir.join("cam-1.jpg")).expect("snapshot"), b"jpeg");
        fs::remove_dir_all(&dir).expect("clean up");
        fs::remove_file(&victim).expect("clean up");
    }
}
