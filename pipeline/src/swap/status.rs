//! What the model loader did last, as `/api/status` shows it and `POST /api/model` answers: the
//! file served, the latest load's file and outcome, and why it failed. Each request to the loader
//! gets a ticket; a status answers every ticket up to its `done`, so that a caller can wait for
//! the outcome of its own request (requests that piled up during a load are answered by the one
//! load that covered them).

use serde::Serialize;
use std::path::Path;

/// What the loader is doing, or did last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadState {
    /// Nothing asked since the server started.
    #[default]
    Idle,
    /// A load is under way.
    Loading,
    /// The latest load took over.
    Loaded,
    /// The latest load failed; the model before it keeps serving.
    Failed,
}

/// The loader's latest news.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    /// What it is doing, or did last.
    pub state: ReloadState,
    /// The file being served (the last that loaded).
    pub serving: String,
    /// The file of the latest load, under way or done.
    pub file: Option<String>,
    /// Why the latest load failed.
    pub error: Option<String>,
    /// Unix seconds the latest load ended.
    pub ended: Option<f64>,
    /// The last ticket answered.
    #[serde(skip)]
    pub done: u64,
}

impl ReloadStatus {
    /// Before any request: serving `path`.
    pub fn serving(path: &Path) -> Self {
        Self { serving: path.display().to_string(), ..Self::default() }
    }

    /// A load of `file` has started.
    pub(crate) fn loading(&mut self, file: &Path) {
        self.state = ReloadState::Loading;
        self.file = Some(file.display().to_string());
        self.error = None;
        self.ended = None;
    }

    /// The load started last ended, answering tickets up to `done`: `error` is why it failed.
    pub(crate) fn ended(&mut self, done: u64, error: Option<String>, now: f64) {
        self.done = done;
        self.ended = Some(now);
        self.state = if error.is_some() { ReloadState::Failed } else { ReloadState::Loaded };
        if error.is_none() {
            self.serving = self.file.clone().unwrap_or_default();
        }
        self.error = error;
    }
}
