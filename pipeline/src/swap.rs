//! Swapping models without stopping the stream. A loader thread builds and warms up the new
//! session away from the detector thread, which swaps it in between two frames; a bad file never
//! takes over (the old model keeps serving and an error says why). Reloads come from a watcher
//! of the `--model` file (a rename onto it, as deploy tools do, or a write in place), SIGHUP, and
//! `POST /api/model`. After a switch to another file, SIGHUP reloads that file and a change to the
//! `--model` file loads the `--model` file again (the log says so at the switch, and when it
//! happens). `/metrics` counts reloads by outcome; [`status`] holds the latest, which
//! `POST /api/model` waits for and `/api/status` shows.

pub mod status;

use crate::local::DetectorStage;
use crate::metrics::Metrics;
use crate::panics;
use nvt_detect::{Detector, DetectorOptions};
use status::ReloadStatus;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How often the watcher looks at the model file.
const POLL: Duration = Duration::from_millis(250);

/// Where the model comes from, for reloading it.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// The `--model` file.
    pub path: PathBuf,
    /// How to load it.
    pub options: DetectorOptions,
    /// Watch the file and reload when it changes.
    pub watch: bool,
    /// Inference workers: the model is loaded once for each.
    pub workers: usize,
}

/// What the loader is asked to do.
enum Request {
    /// Reload the file being served (SIGHUP, `POST /api/model` with `{}`).
    Reload,
    /// Switch to this file (`POST /api/model` with a path).
    Switch(PathBuf),
    /// The `--model` file changed (the watcher): load it, even after a switch to another file.
    Changed,
}

/// A request and its ticket.
type Ticketed = (Request, u64);

/// Asks the loader thread for a reload.
pub struct Reloader {
    requests: Mutex<Sender<Ticketed>>,
    tickets: Arc<AtomicU64>,
    status: tokio::sync::watch::Receiver<ReloadStatus>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Reloader {
    /// Starts the loader (and, with `source.watch`, the watcher) for `stage`.
    pub fn start(source: ModelSource, stage: Arc<DetectorStage>, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let tickets = Arc::new(AtomicU64::new(0));
        let (news, status) = tokio::sync::watch::channel(ReloadStatus::serving(&source.path));
        let mut threads = Vec::new();
        let (path, watch) = (source.path.clone(), source.watch);
        let loader = move || load_loop(&source, &stage, &rx, &metrics, &news);
        threads.push(std::thread::Builder::new().name("model loader".into()).spawn(loader)?);
        if watch {
            let (tx, stop, tickets) = (tx.clone(), Arc::clone(&stop), Arc::clone(&tickets));
            let watcher = move || watch_loop(&path, &tx, &tickets, &stop);
            threads.push(std::thread::Builder::new().name("model watcher".into()).spawn(watcher)?);
        }
        Ok(Self { requests: Mutex::new(tx), tickets, status, stop, threads: Mutex::new(threads) })
    }

    /// Reloads the model file, or loads `path` instead (which then becomes the model file).
    /// Returns the request's ticket, for [`Reloader::outcome`].
    pub fn request(&self, path: Option<PathBuf>) -> u64 {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(tx) = self.requests.lock() {
            let _ = tx.send((path.map_or(Request::Reload, Request::Switch), ticket));
        }
        ticket
    }

    /// The loader's latest news.
    pub fn status(&self) -> ReloadStatus {
        self.status.borrow().clone()
    }

    /// The outcome of the load that answered `ticket`, once it has ended; `None` when it takes
    /// longer than `within` (or the loader has stopped).
    pub async fn outcome(&self, ticket: u64, within: Duration) -> Option<ReloadStatus> {
        let mut status = self.status.clone();
        let answered = tokio::time::timeout(within, status.wait_for(|s| s.done >= ticket)).await;
        let status = answered.ok()?.ok()?.clone();
        Some(status)
    }

    /// Stops the threads, after any load under way.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut tx) = self.requests.lock() {
            // The loader ends when the last sender (ours; the watcher's ends with it) is gone.
            *tx = mpsc::channel().0;
        }
        let threads = self.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn load_loop(
    source: &ModelSource,
    stage: &DetectorStage,
    requests: &Receiver<Ticketed>,
    metrics: &Metrics,
    news: &tokio::sync::watch::Sender<ReloadStatus>,
) {
    let mut path = source.path.clone();
    while let Ok((request, ticket)) = requests.recv() {
        // Requests that piled up while a load ran collapse into one: the last that names a
        // file wins, a plain reload gives way to any of them. The load answers them all.
        let (mut wanted, mut done) = (request, ticket);
        while let Ok((next, ticket)) = requests.try_recv() {
            done = done.max(ticket);
            if !matches!(next, Request::Reload) {
                wanted = next;
            }
        }
        let target = match wanted {
            Request::Reload => path.clone(),
            Request::Switch(to) => to,
            Request::Changed if path != source.path => {
                tracing::info!(
                    model = %source.path.display(),
                    serving = %path.display(),
                    "the --model file changed: loading it in place of the file switched to"
                );
                source.path.clone()
            }
            Request::Changed => path.clone(),
        };
        tracing::info!(model = %target.display(), "loading a new model");
        news.send_modify(|s| s.loading(&target));
        // A file that fails to load, or makes the loader panic, changes nothing: the old model
        // keeps serving and later reloads still read the file that last worked.
        let load = || (0..source.workers.max(1)).map(|_| Detector::load(&target, source.options.clone())).collect();
        let failure = match panics::caught(metrics, "model loader", load) {
            Some(Ok(detectors)) => {
                stage.offer(detectors);
                if target != source.path && target != path {
                    switched(source, &target);
                }
                path = target;
                None
            }
            Some(Err(error)) => {
                let error: nvt_detect::DetectError = error;
                tracing::error!(model = %target.display(), "model reload failed; the old model keeps serving: {error}");
                Some(error.to_string())
            }
            None => {
                tracing::error!(model = %target.display(), "model reload failed; the old model keeps serving");
                Some("the loader failed on this file (a bug: see the log)".to_owned())
            }
        };
        let outcome = if failure.is_some() { "failed" } else { "loaded" };
        metrics.model_reloads.with_label_values(&[outcome]).inc();
        news.send_modify(|s| s.ended(done, failure, crate::record::unix_now()));
    }
}

/// Says, at a switch to another file, what becomes of the `--model` file.
fn switched(source: &ModelSource, target: &Path) {
    if source.watch {
        tracing::info!(
            serving = %target.display(),
            watched = %source.path.display(),
            "switched to another model file; the --model file is still watched: a change to it loads it again in place of this one"
        );
    } else {
        tracing::info!(
            serving = %target.display(),
            model = %source.path.display(),
            "switched to another model file; SIGHUP reloads this one, not the --model file"
        );
    }
}

/// Where `POST /api/model` may switch to: a regular file inside `dir` (`--model-dir`), named
/// relative to it, with every symlink and `..` resolved before the check. Without a folder,
/// switching files is off. The loader opens the file again without following it into a pipe or
/// device, so a file swapped after this check is still refused.
pub fn resolve_in(dir: Option<&Path>, asked: &Path) -> Result<PathBuf, String> {
    let Some(dir) = dir else {
        return Err("switching to another model file is off; start the server with --model-dir DIR".into());
    };
    let dir = dir.canonicalize().map_err(|e| format!("--model-dir {}: {e}", dir.display()))?;
    // One answer for missing, outside and not regular, so that the answer says nothing of what
    // exists elsewhere on the machine.
    let refused = || format!("{} is not a regular file inside --model-dir", asked.display());
    let path = dir.join(asked).canonicalize().map_err(|_| refused())?;
    if !path.starts_with(&dir) || !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(refused());
    }
    Ok(path)
}

/// What identifies a version of the file: a rename onto it changes the inode, a write its size
/// or time.
fn signature(path: &Path) -> Option<(u64, SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok()?, inode))
}

/// Asks for a reload once a change to the file has held still for one look, so that a file
/// being written is not loaded half-written.
fn watch_loop(path: &Path, requests: &Sender<Ticketed>, tickets: &AtomicU64, stop: &AtomicBool) {
    let mut current = signature(path);
    let mut changed = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let now = signature(path);
        match (now, changed) {
            (Some(sig), Some(pending)) if sig == pending => {
                changed = None;
                current = Some(sig);
                let ticket = tickets.fetch_add(1, Ordering::Relaxed) + 1;
                if requests.send((Request::Changed, ticket)).is_err() {
                    return;
                }
            }
            (Some(sig), _) if Some(sig) != current => changed = Some(sig),
            // Missing (mid-rename) or unchanged: look again.
            _ => changed = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_model_dir_are_taken() {
        let root = std::env::temp_dir().join(format!("nvt-model-dir-{}", std::process::id()));
        let dir = root.join("models");
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        std::fs::write(dir.join("good.onnx"), b"x").expect("write");
        std::fs::write(dir.join("sub/nested.onnx"), b"x").expect("write");
        std::fs::write(root.join("outside.onnx"), b"x").expect("write");
        std::os::unix::fs::symlink(root.join("outside.onnx"), dir.join("escape.onnx")).expect("symlink");
        let fifo = dir.join("fifo.onnx");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());

        let canonical = dir.canonicalize().expect("canonical");
        assert_eq!(resolve_in(Some(&dir), Path::new("good.onnx")), Ok(canonical.join("good.onnx")));
        assert_eq!(resolve_in(Some(&dir), Path::new("sub/nested.onnx")), Ok(canonical.join("sub/nested.onnx")));
        for asked in [
            "../outside.onnx",
            "escape.onnx",
            root.join("outside.onnx").to_str().expect("utf8"),
            "fifo.onnx",
            "sub",
            "missing.onnx",
        ] {
            let why = resolve_in(Some(&dir), Path::new(asked)).expect_err(asked);
            assert_eq!(why, format!("{asked} is not a regular file inside --model-dir"), "one answer for all");
        }
        let off = resolve_in(None, Path::new("good.onnx")).expect_err("off");
        assert!(off.contains("--model-dir"), "{off}");
        std::fs::remove_dir_all(&root).ok();
    }
}
