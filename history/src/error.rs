//! What can go wrong keeping or reading the history.

use std::path::PathBuf;

/// An error of the event store, its media folder or a query.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database refused or failed a statement, or cannot be reached.
    #[error("event store {location}: {source}")]
    Database {
        /// The database, as its flag named it (a PostgreSQL URL without its password).
        location: String,
        /// What the database said.
        source: sqlx::Error,
    },
    /// Another process keeps its events in the same SQLite file.
    #[error("event store {}: another nvt-server keeps its events there (pid {pid}); give this one --db PATH of its own, or --db off", path.display())]
    InUse {
        /// The database file.
        path: PathBuf,
        /// The process that holds it, as its lock file says.
        pid: String,
    },
    /// A file or folder of the history cannot be used.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the file or folder is for.
        what: &'static str,
        /// Where it is.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A query parameter or a flag's value that cannot be used.
    #[error("{0}")]
    Invalid(String),
}

impl HistoryError {
    /// A database error at `location`.
    pub fn database(location: &str, source: sqlx::Error) -> Self {
        Self::Database { location: location.to_owned(), source }
    }

    /// A file error about `path`.
    pub fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { what, path: path.to_owned(), source }
    }
}
