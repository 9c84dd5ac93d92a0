//! `--snapshots DIR`: each event's best frame as a JPEG, at most `--snapshots-max` files, the
//! oldest removed first.
//!
//! The folder may be one others can reach, so a file is written under a fresh name nobody else
//! can have made (created exclusively, never through a link), then renamed into place; a folder
//! anyone may write to is refused.
//!
//! Only files nvt wrote count towards the bound, and only they are ever removed: their names are
//! kept in a manifest in the folder ([`MANIFEST`], one line per file saved or removed, compacted
//! now and then), not guessed from a pattern (Frigate's own snapshots, or anyone's
//! `holiday-2019.000001-family.jpg`, look like nvt's). Files of an earlier run are counted when
//! its manifest lists them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// The manifest's file name in the folder.
pub const MANIFEST: &str = ".nvt-snapshots";

/// Longest line of the manifest read (a file name is at most 255 bytes).
const MAX_LINE: usize = 512;

/// A bounded folder of snapshots.
pub struct SnapshotStore {
    dir: PathBuf,
    max: usize,
    /// Our files, oldest first.
    files: VecDeque<PathBuf>,
    /// The manifest, open for appending, and the lines appended since it was last compacted.
    manifest: fs::File,
    appended: usize,
}

/// Whether a file name is one nvt gives snapshots: `CAMERA-SECONDS.MICROS-XXXXXX.jpg`. A name
/// of another shape in the manifest is not nvt's (a manifest edited by hand, say).
fn is_ours(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".jpg") else { return false };
    let Some((rest, suffix)) = stem.rsplit_once('-') else { return false };
    let Some((camera, time)) = rest.rsplit_once('-') else { return false };
    let Some((seconds, micros)) = time.split_once('.') else { return false };
    !camera.is_empty()
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && suffix.len() == 6
        && suffix.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !seconds.is_empty()
        && seconds.bytes().all(|c| c.is_ascii_digit())
        && micros.len() == 6
        && micros.bytes().all(|c| c.is_ascii_digit())
}

/// The files an earlier run's manifest lists as saved and not removed, oldest first. At most
/// `limit` lines are read.
fn read_manifest(path: &Path, limit: usize) -> io::Result<Vec<String>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let (mut order, mut live): (BTreeMap<usize, String>, HashMap<String, usize>) = Default::default();
    let mut reader = io::BufReader::new(file);
    let mut line = Vec::new();
    for n in 0..limit {
        line.clear();
        if io::Read::take(&mut reader, MAX_LINE as u64).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let Ok(text) = std::str::from_utf8(&line) else { continue };
        let text = text.trim_end_matches('\n');
        if let Some(name) = text.strip_prefix('+').filter(|name| is_ours(name)) {
            if let Some(old) = live.insert(name.to_owned(), n) {
                order.remove(&old);
            }
            order.insert(n, name.to_owned());
        } else if let Some(old) = text.strip_prefix('-').and_then(|name| live.remove(name)) {
            order.remove(&old);
        }
    }
    Ok(order.into_values().collect())
}

impl SnapshotStore {
    /// Opens (creating it if need be) `dir`, keeping at most `max` snapshots in it. Snapshots an
    /// earlier run's manifest lists count towards `max`, oldest first; other files are left
    /// alone.
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
        let max = max.max(1);
        let path = dir.join(MANIFEST);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(context(io::Error::other(format!("{MANIFEST} is not a plain file"))));
        }
        // An earlier run wrote at most about two lines per file between compactions.
        let listed = read_manifest(&path, max.saturating_mul(4).saturating_add(4096)).map_err(context)?;
        let files: VecDeque<PathBuf> = listed
            .into_iter()
            .map(|name| dir.join(name))
            .filter(|path| fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
            .collect();
        let manifest = OpenOptions::new().append(true).create(true).open(&path).map_err(context)?;
        let mut store = Self { dir: dir.to_owned(), max, files, manifest, appended: 0 };
        store.compact().map_err(context)?;
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
        if !self.files.contains(&target) {
            self.note('+', name);
        }
        self.files.retain(|p| p != &target);
        self.files.push_back(target.clone());
        self.trim();
        if self.appended > 2 * self.max + 64 {
            if let Err(error) = self.compact() {
                tracing::warn!(%error, "cannot rewrite the snapshots' manifest");
            }
        }
        Ok(target)
    }

    /// Appends a line to the manifest: `+name` for a file saved, `-name` for one removed.
    fn note(&mut self, what: char, name: &str) {
        self.appended += 1;
        if let Err(error) = writeln!(self.manifest, "{what}{name}") {
            tracing::warn!(%error, "cannot write the snapshots' manifest");
        }
    }

    /// Rewrites the manifest with the files kept now (a fresh file renamed into place).
    fn compact(&mut self) -> io::Result<()> {
        let path = self.dir.join(MANIFEST);
        let temporary = self.dir.join(format!("{MANIFEST}.{:08x}.part", fastrand::u32(..)));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
            let mut text = String::new();
            for name in self.files.iter().filter_map(|p| p.file_name()).filter_map(|n| n.to_str()) {
                text.push('+');
                text.push_str(name);
                text.push('\n');
            }
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            fs::rename(&temporary, &path)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        self.manifest = OpenOptions::new().append(true).open(&path)?;
        self.appended = 0;
        Ok(())
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
                if let Some(name) = oldest.file_name().and_then(|n| n.to_str()).map(str::to_owned) {
                    self.note('-', &name);
                }
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
            .filter(|name| name != MANIFEST)
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
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 5, "the earlier run's files count too (and the manifest)");
        assert!(dir.join("holiday.jpg").exists(), "a file nvt did not write is never removed");
        assert!(!dir.join(name(2)).exists());
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn files_nvt_did_not_write_are_never_removed_even_when_named_like_its_own() {
        let dir = folder("others");
        fs::create_dir_all(&dir).expect("dir");
        // Frigate's own snapshot and someone's photo, both of the shape nvt gives its files.
        let others = ["frigate_front-1700000000.123456-ab12cd.jpg", "holiday-2019.000001-family.jpg"];
        for name in others {
            fs::write(dir.join(name), b"not nvt's").expect("write");
        }
        let name = |i: u32| format!("door-1795822210.86337{i}-abc12{i}.jpg");
        let mut store = SnapshotStore::open(&dir, 2).expect("open");
        assert!(store.is_empty(), "files nvt did not write do not count");
        for i in 0..4 {
            store.save(&name(i), b"jpeg").expect("save");
        }
        drop(store);
        // Again, with a smaller bound: the earlier run's own files go first, no one else's.
        let store = SnapshotStore::open(&dir, 1).expect("reopen");
        assert_eq!(store.len(), 1);
        for name in others {
            assert_eq!(fs::read(dir.join(name)).expect(name), b"not nvt's", "{name}");
        }
        assert!(dir.join(name(3)).exists() && !dir.join(name(2)).exists());
        // A manifest rewritten many times keeps listing what is there.
        let mut store = store;
        for i in 0..400u32 {
            store.save(&format!("yard-1795822210.{i:06}-abc123.jpg"), b"jpeg").expect("save");
        }
        drop(store);
        let store = SnapshotStore::open(&dir, 10).expect("reopen");
        assert_eq!(store.len(), 1, "the newest one, as listed");
        assert!(dir.join("yard-1795822210.000399-abc123.jpg").exists());
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
