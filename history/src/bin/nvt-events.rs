//! `nvt-events`: the event store from a shell, with `/api/events`'s questions: a table, newest
//! first, or JSON Lines (`--json`). It only reads: a server may be writing the same store.

use clap::Parser;
use nvt_history::store::{Location, Mode, Store};
use nvt_history::{table, Query};
use std::process::ExitCode;

/// Lists the events an nvt-server (or nvt-fleet history) keeps.
#[derive(Debug, Parser)]
#[command(name = "nvt-events", version)]
struct Args {
    /// The event store: a SQLite file or a postgres:// URL (default: the server's, events.db in
    /// $XDG_DATA_HOME/nvt or ~/.local/share/nvt).
    #[arg(long, value_name = "PATH|URL")]
    db: Option<String>,
    /// Only these cameras (comma-separated).
    #[arg(long)]
    camera: Option<String>,
    /// Only these labels (comma-separated).
    #[arg(long)]
    label: Option<String>,
    /// Only events in any of these zones (comma-separated).
    #[arg(long)]
    zone: Option<String>,
    /// Only events that started after this: Unix seconds, a UTC time (2025-06-01T22:00:00Z), or
    /// a while ago (8h).
    #[arg(long, value_parser = parse_time)]
    after: Option<f64>,
    /// Only events that started before this (the same forms).
    #[arg(long, value_parser = parse_time)]
    before: Option<f64>,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Only events with (1) or without (0) a clip.
    #[arg(long, value_name = "0|1")]
    has_clip: Option<String>,
    /// Only events with (1) or without (0) a snapshot.
    #[arg(long, value_name = "0|1")]
    has_snapshot: Option<String>,
    /// Only events in progress (1) or ended (0).
    #[arg(long, value_name = "0|1")]
    in_progress: Option<String>,
    /// JSON Lines (Frigate's event JSON, one a line) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Unix seconds, an RFC 3339 time, or a duration before now.
fn parse_time(text: &str) -> Result<f64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Some(seconds).filter(|s| s.is_finite()).ok_or_else(|| format!("{text:?} is not a time"));
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).map_err(|e| e.to_string());
    }
    let ago = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?}: give Unix seconds, a time (2025-06-01T22:00:00Z), or a while ago (8h)"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    Ok(now - ago.as_secs_f64())
}

impl Args {
    fn query(&self) -> Result<Query, nvt_history::HistoryError> {
        let numbers = [("after", self.after), ("before", self.before)].map(|(k, v)| (k, v.map(|v| v.to_string())));
        let mut pairs: Vec<(&str, String)> = vec![("limit", self.limit.to_string())];
        for (name, value) in [
            ("cameras", &self.camera),
            ("labels", &self.label),
            ("zones", &self.zone),
            ("has_clip", &self.has_clip),
            ("has_snapshot", &self.has_snapshot),
            ("in_progress", &self.in_progress),
        ] {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        pairs.extend(numbers.into_iter().filter_map(|(name, value)| Some((name, value?))));
        Query::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
    }
}

fn main() -> ExitCode {
    nvt_support::program::init_logging();
    let args = Args::parse();
    let query = match args.query() {
        Ok(query) => query,
        Err(error) => return refused(error),
    };
    let location = match &args.db {
        Some(text) => match Location::parse(text) {
            Ok(Some(location)) => location,
            Ok(None) => return refused("--db off: there is no store to read"),
            Err(error) => return refused(error),
        },
        None => match nvt_history::flags::data_folder() {
            Some(folder) => Location::Sqlite(folder.join("events.db")),
            None => return refused("no home folder: give --db PATH"),
        },
    };
    let Some(runtime) = nvt_support::program::runtime("nvt-events") else { return ExitCode::FAILURE };
    let answered = runtime.block_on(async {
        let store = Store::open(&location, Mode::Read).await?;
        let rows = store.query(&query).await;
        store.close().await;
        rows
    });
    let rows = match answered {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("nvt-events: {error}");
            return ExitCode::FAILURE;
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut lines: Vec<String> = Vec::with_capacity(rows.len() + 1);
    if args.json {
        lines.extend(rows.iter().map(table::json_line));
    } else {
        lines.push(table::HEADER.to_owned());
        lines.extend(rows.iter().map(table::line));
    }
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            // A closed pipe (`| head`) ends the listing.
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}

/// Exit status 2, with the message.
fn refused(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("nvt-events: {error}");
    ExitCode::from(2)
}
