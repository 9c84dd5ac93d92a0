//! JSON Lines output for `--log PATH` or `--log -`: one record per line, each line written whole
//! and flushed, so that a crash or a kill loses nothing already logged and readers never see a
//! torn line.

use serde::Serialize;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

/// A shared JSON Lines writer.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Opens `-` (standard output) or a file, appending; an unwritable path fails here, at
    /// start-up, not at the first record.
    pub fn open(target: &str) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            let file =
                OpenOptions::new().create(true).append(true).open(Path::new(target)).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot open log file {target:?} for writing: {e}"))
                })?;
            Box::new(file)
        };
        Ok(Self { out: Mutex::new(out) })
    }

    /// A writer into any sink (tests use a buffer).
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Self { out: Mutex::new(out) }
    }

    /// Writes one record as one line.
    pub fn write<T: Serialize>(&self, record: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut out = crate::sync::lock(&self.out);
        out.write_all(&line)?;
        out.flush()
    }

    /// Flushes and closes the log for good: a record written after this goes nowhere, so that a
    /// process ending at once cannot cut a line in half.
    pub fn seal(&self) -> io::Result<()> {
        let mut out = crate::sync::lock(&self.out);
        let flushed = out.flush();
        *out = Box::new(io::sink());
        flushed
    }

    /// [`JsonLines::seal`], unless a writer is stuck (a full pipe nobody reads) for longer than
    /// `patience`: then the log is left as it is, and the line being written may be lost, but
    /// the process is not held.
    pub fn seal_within(&self, patience: std::time::Duration) -> io::Result<()> {
        let until = std::time::Instant::now() + patience;
        loop {
            match self.out.try_lock() {
                Ok(mut out) => {
                    let flushed = out.flush();
                    *out = Box::new(io::sink());
                    return flushed;
                }
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    let mut out = poisoned.into_inner();
                    *out = Box::new(io::sink());
                    return Ok(());
                }
                Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "a log write is stuck"));
                }
            }
        }
    }

    /// Flushes whatever the sink buffers.
    pub fn flush(&self) -> io::Result<()> {
        crate::sync::lock(&self.out).flush()
    }
}
