//! Retention: events (with their clips, thumbnails and snapshots) are kept for `--retain-days`
//! after they started and, all together, within `--retain-max-size` bytes, the oldest removed
//! first. An event in progress is never removed. The time is passed in, so that the rules are
//! tested on a virtual clock.

use crate::error::HistoryError;
use crate::media::{folder_bytes, Kind, Media};
use crate::row::EventRow;
use crate::store::Store;
use std::path::PathBuf;

/// Events removed per statement.
const BATCH: usize = 200;

/// The rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Seconds an event is kept after it started (`--retain-days`); `None` keeps them for ever.
    pub max_age: Option<f64>,
    /// Most bytes of events, clips, thumbnails and snapshots (`--retain-max-size`); `None`: no
    /// bound.
    pub max_bytes: Option<u64>,
}

impl Default for Rules {
    fn default() -> Self {
        Self { max_age: Some(10.0 * 86_400.0), max_bytes: None }
    }
}

/// Where an event's files are.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// Clips and thumbnails.
    pub media: Option<Media>,
    /// `--snapshots DIR`.
    pub snapshots: Option<PathBuf>,
}

impl Files {
    /// Removes `row`'s files; returns the bytes freed.
    pub fn remove(&self, row: &EventRow) -> u64 {
        let mut freed = self.media.as_ref().map_or(0, |m| m.remove(&row.id));
        if let Some(path) = self.snapshot(row) {
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            if std::fs::remove_file(&path).is_ok() {
                freed += bytes;
            }
        }
        freed
    }

    /// The bytes of `row`'s files: its clip, thumbnail and snapshot.
    pub fn bytes_of(&self, row: &EventRow) -> u64 {
        let size = |path: Option<PathBuf>| path.and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        let media = |kind| self.media.as_ref().and_then(|m| m.path(&row.id, kind));
        size(media(Kind::Clip)) + size(media(Kind::Thumbnail)) + size(self.snapshot(row))
    }

    /// Where `row`'s snapshot is, when it names one in a folder there is.
    pub fn snapshot(&self, row: &EventRow) -> Option<PathBuf> {
        let name = row.snapshot_file()?;
        let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']) && name.ends_with(".jpg");
        plain.then(|| self.snapshots.as_deref().map(|dir| dir.join(name))).flatten()
    }

    /// The bytes of every file there: clips, thumbnails, snapshots.
    pub fn bytes(&self) -> u64 {
        self.media.as_ref().map_or(0, Media::bytes) + self.snapshots.as_deref().map_or(0, folder_bytes)
    }
}

/// What a pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Events older than `--retain-days`.
    pub by_age: u64,
    /// Events removed to stay within `--retain-max-size`.
    pub by_size: u64,
    /// The bytes that the store, its files and snapshots take after the pass.
    pub bytes_left: u64,
}

/// Applies the rules at `now` (Unix seconds).
pub async fn apply(store: &Store, files: &Files, rules: &Rules, now: f64) -> Result<Removed, HistoryError> {
    let mut removed = Removed::default();
    if let Some(max_age) = rules.max_age {
        loop {
            let old = store.oldest(Some(now - max_age), BATCH).await?;
            if old.is_empty() {
                break;
            }
            remove(store, files, &old).await?;
            removed.by_age += old.len() as u64;
        }
    }
    let mut total = store.bytes().await? + files.bytes();
    if let Some(max_bytes) = rules.max_bytes {
        while total > max_bytes {
            let oldest = store.oldest(None, BATCH).await?;
            if oldest.is_empty() {
                tracing::warn!(total, max_bytes, "--retain-max-size is smaller than what the events in progress take");
                break;
            }
            // As many of the oldest as free what is over the bound (a row's share of the store
            // is its average), and at least one: no more than the bound asks for.
            let row_bytes = store.bytes().await? / store.count().await?.max(1);
            let (mut take, mut freeing) = (0, 0);
            for row in &oldest {
                if total - freeing.min(total) <= max_bytes {
                    break;
                }
                freeing += files.bytes_of(row) + row_bytes;
                take += 1;
            }
            let freed = remove(store, files, &oldest[..take.max(1)]).await?;
            removed.by_size += take.max(1) as u64;
            total = store.bytes().await? + files.bytes();
            tracing::debug!(freed, total, "removed the oldest events to stay within --retain-max-size");
        }
    }
    removed.bytes_left = total;
    Ok(removed)
}

/// Removes the clips and thumbnails whose event the store no longer holds; returns how many
/// events they were for.
///
/// An event can go before its clip is done: the size rule may remove an ended event while its
/// post-roll is still being recorded, and the clip then arrives with no event to go with it.
/// Without this pass such files would count against `--retain-max-size` for ever, and nothing
/// would ever remove them. The writer calls it only with nothing waiting to be written, so that
/// every event whose files exist is in the store.
pub async fn orphans(store: &Store, files: &Files) -> Result<u64, HistoryError> {
    let Some(media) = files.media.clone() else { return Ok(0) };
    let ids = tokio::task::spawn_blocking({
        let media = media.clone();
        move || media.ids()
    })
    .await
    .unwrap_or_default();
    let mut gone = Vec::new();
    for id in ids {
        if !store.has(&id).await? {
            gone.push(id);
        }
    }
    let removed = gone.len() as u64;
    if removed > 0 {
        let _ = tokio::task::spawn_blocking(move || gone.iter().map(|id| media.remove(id)).sum::<u64>()).await;
    }
    Ok(removed)
}

async fn remove(store: &Store, files: &Files, rows: &[EventRow]) -> Result<u64, HistoryError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    // The rows go first: a crash between the two leaves files without events (harmless, and
    // counted in the size), never events whose files are gone.
    store.delete(&ids).await?;
    let files = files.clone();
    let rows = rows.to_vec();
    let freed = tokio::task::spawn_blocking(move || rows.iter().map(|r| files.remove(r)).sum::<u64>()).await;
    Ok(freed.unwrap_or(0))
}
