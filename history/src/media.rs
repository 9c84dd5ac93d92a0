//! The media folder (`--clips DIR`): each event's clip (`ID.avi`) and thumbnail (`ID.jpg`),
//! named by the event's id and nothing else, so that no name from a request or a peer ever
//! reaches the file system unchecked. Files are written under a temporary name (`.ID.*.part`) and
//! renamed into place once whole; a crash leaves only `.part` files, removed at the next start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The media folder.
#[derive(Debug, Clone)]
pub struct Media {
    dir: PathBuf,
}

/// What a file of an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The clip, MJPEG in AVI.
    Clip,
    /// The thumbnail, a JPEG.
    Thumbnail,
}

impl Kind {
    fn extension(self) -> &'static str {
        match self {
            Self::Clip => "avi",
            Self::Thumbnail => "jpg",
        }
    }
}

/// Whether `id` has the form nvt gives event ids: `SECONDS.MICROS-xxxxxx` (digits, six
/// fraction digits, six lowercase letters or digits).
pub fn is_event_id(id: &str) -> bool {
    let Some((time, suffix)) = id.split_once('-') else { return false };
    let Some((seconds, micros)) = time.split_once('.') else { return false };
    (1..=20).contains(&seconds.len())
        && seconds.bytes().all(|c| c.is_ascii_digit())
        && micros.len() == 6
        && micros.bytes().all(|c| c.is_ascii_digit())
        && suffix.len() == 6
        && suffix.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Makes `dir` (and its parents) if need be, readable by this user only; refuses a folder
/// anyone may write to.
pub fn private_folder(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new().recursive(true).mode_private().create(dir)?;
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other("not a folder"));
    }
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(io::Error::other("anyone may write to it; pick a folder of your own"));
    }
    Ok(())
}

trait Private {
    fn mode_private(&mut self) -> &mut Self;
}

impl Private for fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

impl Media {
    /// Opens (making it if need be) the folder, and removes what a crash left half-written.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let context = |e: io::Error| io::Error::new(e.kind(), format!("media folder {}: {e}", dir.display()));
        private_folder(dir).map_err(context)?;
        for entry in fs::read_dir(dir).map_err(context)?.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".part") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where an event's file is (or would be); `None` for an id nvt never gives.
    pub fn path(&self, id: &str, kind: Kind) -> Option<PathBuf> {
        is_event_id(id).then(|| self.dir.join(format!("{id}.{}", kind.extension())))
    }

    /// A fresh temporary file for an event's file, made exclusively (never through a link).
    pub fn create_part(&self, id: &str, kind: Kind) -> io::Result<(fs::File, PathBuf)> {
        if !is_event_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not an event id: {id:?}")));
        }
        let part = self.dir.join(format!(".{id}.{}.{:08x}.part", kind.extension(), fastrand::u32(..)));
        let file = OpenOptions::new().write(true).read(true).create_new(true).open(&part)?;
        Ok((file, part))
    }

    /// Moves a finished temporary file into its place.
    pub fn commit(&self, part: &Path, id: &str, kind: Kind) -> io::Result<u64> {
        let target = self.path(id, kind).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        fs::rename(part, &target)?;
        Ok(fs::metadata(&target).map_or(0, |m| m.len()))
    }

    /// Writes an event's thumbnail, replacing the one before.
    pub fn save_thumbnail(&self, id: &str, jpeg: &[u8]) -> io::Result<u64> {
        let (mut file, part) = self.create_part(id, Kind::Thumbnail)?;
        let written = file.write_all(jpeg).and_then(|()| file.sync_data());
        drop(file);
        match written.and_then(|()| self.commit(&part, id, Kind::Thumbnail)) {
            Ok(bytes) => Ok(bytes),
            Err(error) => {
                let _ = fs::remove_file(&part);
                Err(error)
            }
        }
    }

    /// Removes an event's files; returns the bytes freed.
    pub fn remove(&self, id: &str) -> u64 {
        [Kind::Clip, Kind::Thumbnail]
            .into_iter()
            .filter_map(|kind| self.path(id, kind))
            .map(|path| {
                let bytes = fs::metadata(&path).map_or(0, |m| m.len());
                match fs::remove_file(&path) {
                    Ok(()) => bytes,
                    Err(error) => {
                        if error.kind() != io::ErrorKind::NotFound {
                            tracing::warn!(file = %path.display(), %error, "cannot remove an old event's file");
                        }
                        0
                    }
                }
            })
            .sum()
    }

    /// The ids of the events that have a finished file (a clip or a thumbnail) in the folder.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let id = name.strip_suffix(".avi").or_else(|| name.strip_suffix(".jpg"))?;
                        is_event_id(id).then(|| id.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The bytes of every file in the folder.
    pub fn bytes(&self) -> u64 {
        folder_bytes(&self.dir)
    }
}

/// The bytes of the regular files directly in `dir`.
pub fn folder_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nvts_ids_name_files() {
        assert!(is_event_id("1700000000.250000-ab12cd"));
        assert!(is_event_id("0.100000-abcdef"));
        for bad in ["../etc/passwd", "1.1-abcdef", "1700000000.250000-AB12CD", "x.250000-ab12cd", "1.000000-abc/ef", ""]
        {
            assert!(!is_event_id(bad), "{bad}");
        }
        let media = Media { dir: PathBuf::from("/m") };
        assert_eq!(media.path("1.000000-abcdef", Kind::Clip), Some(PathBuf::from("/m/1.000000-abcdef.avi")));
        assert_eq!(media.path("../x", Kind::Clip), None);
    }
}
