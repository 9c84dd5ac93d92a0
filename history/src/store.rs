//! The event store: one table, `event`, one row per tracked object with Frigate's columns,
//! in SQLite (a file, WAL, synced at each commit) or PostgreSQL (a `postgres://` URL), through
//! one code path: sqlx's `Any` driver with the runtime query API (nothing is checked against a
//! database at build time), the same SQL for both (`$1` placeholders, `ON CONFLICT`, no types
//! either lacks: times are `DOUBLE PRECISION`, flags `BIGINT` 0 or 1, lists and `data` JSON text).
//!
//! A SQLite file written by one process at a time: a lock file beside it says whose it is, so a
//! second server on the same file is refused instead of closing the first one's events.

use crate::error::HistoryError;
use crate::query::{Bind, Query};
use crate::row::EventRow;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the events are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://` URL).
    Postgres(String),
}

impl Location {
    /// `--db`'s value: a `postgres://` URL, `off` (`None`), or a SQLite file's path.
    pub fn parse(text: &str) -> Result<Option<Self>, HistoryError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Some(Self::Postgres(text.to_owned())));
        }
        if text.is_empty() || text.contains("://") {
            return Err(HistoryError::Invalid(format!("--db {text:?}: give a file path, a postgres:// URL, or off")));
        }
        Ok(Some(Self::Sqlite(PathBuf::from(text))))
    }

    /// How messages name it: a URL without its password.
    pub fn display(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => redacted(url),
        }
    }
}

/// What a process does with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Writes it (one process per SQLite file): makes the file and the table if need be.
    Write,
    /// Only reads it (`nvt-events`): the file must exist, nothing is locked or made.
    Read,
}

/// The columns `/api/events` answers with, in the order [`row`] reads them.
const COLUMNS: &str = "id, label, sub_label, camera, start_time, end_time, false_positive, zones, thumbnail, \
     has_clip, has_snapshot, retain_indefinitely, plus_id, model_hash, detector_type, model_type, data";

/// Frigate's `event` table, and nvt's `last_seen` (the latest frame the object was seen in).
const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS event (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        sub_label TEXT,
        camera TEXT NOT NULL,
        start_time DOUBLE PRECISION NOT NULL,
        end_time DOUBLE PRECISION,
        top_score DOUBLE PRECISION NOT NULL,
        score DOUBLE PRECISION,
        false_positive BIGINT NOT NULL,
        zones TEXT NOT NULL,
        thumbnail TEXT NOT NULL DEFAULT '',
        has_clip BIGINT NOT NULL DEFAULT 0,
        has_snapshot BIGINT NOT NULL,
        retain_indefinitely BIGINT NOT NULL DEFAULT 0,
        plus_id TEXT,
        model_hash TEXT,
        detector_type TEXT,
        model_type TEXT,
        data TEXT NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS event_start_time ON event (start_time)",
    "CREATE INDEX IF NOT EXISTS event_camera_start_time ON event (camera, start_time)",
    "CREATE INDEX IF NOT EXISTS event_label_start_time ON event (label, start_time)",
];

/// An event's row written or replaced. An update never reopens an ended event, never turns a
/// clip off, and never takes a row back to an older state (a message delivered again).
///
/// No parameter is ever bound to NULL: PostgreSQL keeps a prepared statement's parameter types
/// from its first use, and a NULL first bound as one type refuses a number later. The sub-label
/// is bound as text (`''` for none), `end_time` and `score` as numbers with a flag saying whether
/// they are there ($14, $15).
const UPSERT: &str = "INSERT INTO event (id, label, sub_label, camera, start_time, end_time, top_score, score, \
     false_positive, zones, has_snapshot, data, last_seen) VALUES ($1, $2, NULLIF($3, ''), $4, $5, \
     CASE WHEN $14 = 1 THEN $6 ELSE NULL END, $7, CASE WHEN $15 = 1 THEN $8 ELSE NULL END, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO UPDATE SET label = excluded.label, sub_label = excluded.sub_label, \
     end_time = COALESCE(excluded.end_time, event.end_time), top_score = excluded.top_score, score = excluded.score, \
     false_positive = excluded.false_positive, zones = excluded.zones, has_snapshot = excluded.has_snapshot, \
     data = excluded.data, last_seen = excluded.last_seen \
     WHERE excluded.last_seen >= event.last_seen";

/// One change to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An event's row, as its latest event leaves it.
    Event(Box<EventRow>),
    /// The event's clip is written.
    Clip(String),
}

/// The open store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    location: Location,
    /// Holds a SQLite file for this process while the store is open for writing.
    _lock: Option<std::sync::Arc<crate::lock::FileLock>>,
}

impl Store {
    /// Opens the store at `location`, for writing (making the file, its folder and the table) or
    /// only reading.
    pub async fn open(location: &Location, mode: Mode) -> Result<Self, HistoryError> {
        sqlx::any::install_default_drivers();
        let shown = location.display();
        let (url, lock) = match location {
            Location::Sqlite(path) => {
                let lock = match mode {
                    Mode::Write => {
                        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                            crate::media::private_folder(parent)
                                .map_err(|e| HistoryError::io("event store folder", parent, e))?;
                        }
                        Some(std::sync::Arc::new(crate::lock::FileLock::take(path)?))
                    }
                    Mode::Read => {
                        if !path.is_file() {
                            return Err(HistoryError::Invalid(format!("event store {}: no such file", path.display())));
                        }
                        None
                    }
                };
                let access = if mode == Mode::Write { "rwc" } else { "ro" };
                (format!("sqlite://{}?mode={access}", url_path(path)?), lock)
            }
            Location::Postgres(url) => (url.clone(), None),
        };
        let sqlite = matches!(location, Location::Sqlite(_));
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if sqlite {
                        // Each commit reaches the disk before it is reported written.
                        connection.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| HistoryError::database(&shown, e))?;
        let store = Self { pool, location: location.clone(), _lock: lock };
        if mode == Mode::Write {
            if sqlite {
                store.run("PRAGMA journal_mode = WAL").await?;
            }
            for statement in SCHEMA {
                store.run(statement).await?;
            }
        }
        Ok(store)
    }

    /// Where it is, as messages name it.
    pub fn location(&self) -> &Location {
        &self.location
    }

    async fn run(&self, sql: &str) -> Result<(), HistoryError> {
        self.pool.execute(sql).await.map(|_| ()).map_err(|e| self.error(e))
    }

    fn error(&self, error: sqlx::Error) -> HistoryError {
        HistoryError::database(&self.location.display(), error)
    }

    /// Applies `changes` in one transaction: all are written, or none.
    pub async fn write(&self, changes: &[Change]) -> Result<(), HistoryError> {
        let mut transaction = self.pool.begin().await.map_err(|e| self.error(e))?;
        for change in changes {
            match change {
                Change::Event(row) => {
                    let zones = serde_json::to_string(&row.zones).unwrap_or_else(|_| "[]".into());
                    sqlx::query(UPSERT)
                        .bind(&row.id)
                        .bind(&row.label)
                        .bind(row.sub_label.clone().unwrap_or_default())
                        .bind(&row.camera)
                        .bind(row.start_time)
                        .bind(row.end_time.unwrap_or(0.0))
                        .bind(row.top_score())
                        .bind(row.score().unwrap_or(0.0))
                        .bind(i64::from(row.false_positive))
                        .bind(zones)
                        .bind(i64::from(row.has_snapshot))
                        .bind(row.data.to_string())
                        .bind(row.last_seen())
                        .bind(i64::from(row.end_time.is_some()))
                        .bind(i64::from(row.score().is_some()))
                        .execute(&mut *transaction)
                        .await
                        .map_err(|e| self.error(e))?;
                }
                Change::Clip(id) => {
                    sqlx::query("UPDATE event SET has_clip = 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *transaction)
                        .await
                        .map_err(|e| self.error(e))?;
                }
            }
        }
        transaction.commit().await.map_err(|e| self.error(e))
    }

    /// Ends every event still in progress at the latest frame it was seen in: what a crash left
    /// open. Only for the one process that makes these events, at its start. Returns how many.
    pub async fn close_open(&self) -> Result<u64, HistoryError> {
        let done = sqlx::query("UPDATE event SET end_time = last_seen WHERE end_time IS NULL")
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    /// One event.
    pub async fn get(&self, id: &str) -> Result<Option<EventRow>, HistoryError> {
        let sql = format!("SELECT {COLUMNS} FROM event WHERE id = $1");
        let found = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(|e| self.error(e))?;
        found.map(|r| row(&r)).transpose().map_err(|e| self.error(e))
    }

    /// Whether the store holds the event `id`.
    pub async fn has(&self, id: &str) -> Result<bool, HistoryError> {
        let found = sqlx::query("SELECT 1 FROM event WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.is_some())
    }

    /// The events that answer `query`, in its order.
    pub async fn query(&self, query: &Query) -> Result<Vec<EventRow>, HistoryError> {
        let (tail, binds) = query.sql();
        let sql = format!("SELECT {COLUMNS} FROM event{tail}");
        let mut statement = sqlx::query(&sql);
        for bind in binds {
            statement = match bind {
                Bind::Text(text) => statement.bind(text),
                Bind::Real(value) => statement.bind(value),
                Bind::Int(value) => statement.bind(value),
            };
        }
        let rows = statement.fetch_all(&self.pool).await.map_err(|e| self.error(e))?;
        rows.iter().map(row).collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Up to `limit` ended events, oldest first, that started before `before` (all of them with
    /// `None`): the ones retention removes first.
    pub async fn oldest(&self, before: Option<f64>, limit: usize) -> Result<Vec<EventRow>, HistoryError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM event WHERE end_time IS NOT NULL AND retain_indefinitely = 0 AND start_time < $1 \
             ORDER BY start_time ASC, id ASC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(before.unwrap_or(f64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter().map(row).collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Removes these events' rows.
    pub async fn delete(&self, ids: &[String]) -> Result<(), HistoryError> {
        let mut transaction = self.pool.begin().await.map_err(|e| self.error(e))?;
        for id in ids {
            sqlx::query("DELETE FROM event WHERE id = $1")
                .bind(id)
                .execute(&mut *transaction)
                .await
                .map_err(|e| self.error(e))?;
        }
        transaction.commit().await.map_err(|e| self.error(e))
    }

    /// How many events the store holds.
    pub async fn count(&self) -> Result<u64, HistoryError> {
        let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM event")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        let n: i64 = row.try_get(0).map_err(|e| self.error(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The bytes the events take: SQLite's pages in use (its write-ahead log is left out: it is
    /// bounded by SQLite's checkpoints, and it grows with every delete, so that counting it would
    /// make deleting look like growing), or PostgreSQL's table with its indexes.
    pub async fn bytes(&self) -> Result<u64, HistoryError> {
        match &self.location {
            Location::Sqlite(_) => {
                let pragma = |name: &'static str| async move {
                    let row = sqlx::query(name).fetch_one(&self.pool).await.map_err(|e| self.error(e))?;
                    row.try_get::<i64, _>(0).map_err(|e| self.error(e))
                };
                let used = pragma("PRAGMA page_count").await? - pragma("PRAGMA freelist_count").await?;
                let page = pragma("PRAGMA page_size").await?;
                Ok(u64::try_from(used.max(0) * page).unwrap_or(0))
            }
            Location::Postgres(_) => {
                let row = sqlx::query("SELECT CAST(pg_total_relation_size('event') AS BIGINT)")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.error(e))?;
                let n: i64 = row.try_get(0).map_err(|e| self.error(e))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }
    }

    /// Closes the pool, waiting for statements under way.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A row of [`COLUMNS`] as the API shows it.
fn row(r: &AnyRow) -> Result<EventRow, sqlx::Error> {
    let flag = |i: usize| r.try_get::<i64, _>(i).map(|v| v != 0);
    let json = |i: usize| -> Result<serde_json::Value, sqlx::Error> {
        let text: String = r.try_get(i)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(EventRow {
        id: r.try_get(0)?,
        label: r.try_get(1)?,
        sub_label: r.try_get(2)?,
        camera: r.try_get(3)?,
        start_time: r.try_get(4)?,
        end_time: r.try_get(5)?,
        false_positive: flag(6)?,
        zones: serde_json::from_value(json(7)?).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        thumbnail: r.try_get(8)?,
        has_clip: flag(9)?,
        has_snapshot: flag(10)?,
        retain_indefinitely: flag(11)?,
        plus_id: r.try_get(12)?,
        model_hash: r.try_get(13)?,
        detector_type: r.try_get(14)?,
        model_type: r.try_get(15)?,
        data: json(16)?,
    })
}

/// A file path in a `sqlite://` URL: UTF-8, absolute, with `%`, `?` and `#` escaped.
fn url_path(path: &Path) -> Result<String, HistoryError> {
    let absolute = std::path::absolute(path).map_err(|e| HistoryError::io("event store", path, e))?;
    let text = absolute
        .to_str()
        .ok_or_else(|| HistoryError::Invalid(format!("event store {}: the path is not UTF-8", path.display())))?;
    Ok(text.replace('%', "%25").replace('?', "%3F").replace('#', "%23"))
}

/// A URL with its password replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_values_and_urls() {
        assert_eq!(Location::parse("off").expect("off"), None);
        assert_eq!(Location::parse("a/b.db").expect("path"), Some(Location::Sqlite("a/b.db".into())));
        let pg = Location::parse("postgres://nvt:secret@db:5432/events").expect("url").expect("on");
        assert_eq!(pg.display(), "postgres://nvt:***@db:5432/events");
        assert!(Location::parse("mysql://x").is_err());
        assert_eq!(redacted("postgres://db/events"), "postgres://db/events");
        let path = url_path(Path::new("/tmp/a?b#c%d.db")).expect("utf8");
        assert_eq!(path, "/tmp/a%3Fb%23c%25d.db");
    }
}
