//! The history's flags, for the programs that keep one (`nvt-server`, `nvt-fleet history`):
//! `--db`, `--clips`, `--clip-pre`, `--clip-post`, `--clip-max`, `--retain-days`,
//! `--retain-max-size`, `--retain-every`; and the data folder their defaults live in.

use crate::clips::ClipSettings;
use crate::history::Settings;
use crate::retention::Rules;
use crate::store::Location;
use nvt_support::units::{bytes_in, duration_in};
use std::path::PathBuf;
use std::time::Duration;

/// Where the history keeps its events and files.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// The event store: a SQLite file, a postgres:// URL, or off. By default events.db in the
    /// data folder ($XDG_DATA_HOME/nvt, or ~/.local/share/nvt).
    #[arg(long, value_name = "PATH|URL|off")]
    pub db: Option<String>,
    /// Where each event's clip (MJPEG in AVI) and thumbnail go, or off. By default clips/ beside
    /// a SQLite store (none with a PostgreSQL one unless given).
    #[arg(long, value_name = "DIR|off")]
    pub clips: Option<String>,
    /// Seconds of frames a clip keeps from before its event started.
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::ZERO, Duration::from_secs(60)))]
    pub clip_pre: Duration,
    /// Seconds of frames a clip keeps from after its event ended.
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::ZERO, Duration::from_secs(60)))]
    pub clip_post: Duration,
    /// The longest clip: an object in view for longer gets the first part of its event.
    #[arg(long, default_value = "5m", value_parser = duration_in(Duration::from_secs(1), Duration::from_secs(3600)))]
    pub clip_max: Duration,
    /// Days an event, its clip, thumbnail and snapshot are kept after it started (Frigate's
    /// default, 10).
    #[arg(long, default_value_t = 10.0, value_parser = nvt_support::units::number_in(0.001, 36_500.0))]
    pub retain_days: f64,
    /// Most bytes the store, clips, thumbnails and snapshots may take together (e.g. 20GiB); the
    /// oldest events go first. No bound by default.
    #[arg(long, value_name = "SIZE", value_parser = bytes_in(1 << 20, usize::MAX))]
    pub retain_max_size: Option<usize>,
    /// How often the retention rules are applied (the first time at the start).
    #[arg(long, default_value = "1m", value_parser = duration_in(Duration::from_secs(1), Duration::from_secs(86_400)))]
    pub retain_every: Duration,
}

/// The data folder: `$XDG_DATA_HOME/nvt`, or `~/.local/share/nvt`; `None` without a home.
pub fn data_folder() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|home| home.join(".local/share")))
        .map(|data| data.join("nvt"))
}

impl HistoryArgs {
    /// Whether the store was named (not left to its default).
    pub fn db_given(&self) -> bool {
        self.db.is_some()
    }

    /// The settings the flags give, with `--snapshots` (whose files go with their events);
    /// `None` with `--db off`. `close_open` is for the process that makes the events.
    pub fn settings(&self, snapshots: Option<PathBuf>, close_open: bool) -> anyhow::Result<Option<Settings>> {
        let location = match &self.db {
            Some(text) => Location::parse(text)?,
            None => match data_folder() {
                Some(folder) => Some(Location::Sqlite(folder.join("events.db"))),
                None => {
                    tracing::warn!("no home folder for the event store (HOME is not set): give --db PATH, or --db off");
                    None
                }
            },
        };
        let Some(location) = location else {
            anyhow::ensure!(
                self.clips.as_deref().is_none_or(|c| c.eq_ignore_ascii_case("off")),
                "--clips needs the event store: give --db PATH (or leave it to its default) instead of --db off"
            );
            return Ok(None);
        };
        let media = match (self.clips.as_deref(), &location) {
            (Some(off), _) if off.trim().eq_ignore_ascii_case("off") => None,
            (Some(""), _) => anyhow::bail!("--clips: give a folder, or off"),
            (Some(dir), _) => Some(PathBuf::from(dir)),
            (None, Location::Sqlite(file)) => {
                Some(file.parent().map_or_else(|| PathBuf::from("clips"), |p| p.join("clips")))
            }
            (None, Location::Postgres(_)) => None,
        };
        Ok(Some(Settings {
            location,
            media,
            clips: ClipSettings {
                pre: self.clip_pre.as_secs_f64(),
                post: self.clip_post.as_secs_f64(),
                max_length: self.clip_max.as_secs_f64(),
            },
            retention: Rules {
                max_age: Some(self.retain_days * 86_400.0),
                max_bytes: self.retain_max_size.map(|b| b as u64),
            },
            retain_every: self.retain_every,
            snapshots,
            close_open,
        }))
    }
}
