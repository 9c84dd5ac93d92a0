//! Where a worker's models come from: the group's pushed model in the JetStream object store,
//! read on a connection of its own and written into a private folder only while it loads, or
//! `--model`; and the watch that swaps each session to every new push.

use anyhow::Context;
use futures_util::StreamExt;
use nvt_detect::Detector;
use nvt_detect::ModelArgs;
use nvt_fleet::models::{ModelStore, StoredModel};
use nvt_fleet::{FleetError, Group};
use nvt_support::LogBackoff;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a worker whose group has no model store yet looks for one.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// A hint about a store that cannot be opened is said at once, then after this, doubling...
const HINT_FIRST: Duration = Duration::from_secs(2);

/// ...up to this between two lines.
const HINT_MOST: Duration = Duration::from_secs(300);

/// What to check when the store cannot be opened: nothing more when the error says it (a
/// server without JetStream), else the usual suspects.
fn why_not_open(error: &FleetError) -> &'static str {
    match error {
        FleetError::NoJetStream => "",
        _ => " (is the NATS server up, with JetStream, and may this user read the store?)",
    }
}

/// Where the worker's models come from: the group's pushed model in the store (read on a
/// connection of its own), or `--model`.
pub(super) struct Models {
    nats: async_nats::Client,
    group: Group,
    folder: PrivateFolder,
    options: ModelArgs,
    sessions: usize,
    /// The upload last read (a push seen twice, as after a reconnect, is not loaded twice).
    loaded: Option<String>,
    /// Whether the sessions serve a pushed model, not `--model`.
    serving_pushed: bool,
}

impl Models {
    /// Models for `sessions` detector sessions of `group`, read through `nats` into `folder`.
    pub(super) fn new(
        nats: async_nats::Client,
        group: Group,
        folder: PrivateFolder,
        options: ModelArgs,
        sessions: usize,
    ) -> Self {
        Self { nats, group, folder, options, sessions, loaded: None, serving_pushed: false }
    }

    /// The model to start with: the group's pushed model when there is one (it wins over
    /// `--model`), else `--model`; a pushed model that does not load leaves `--model` serving.
    /// Also the store, when it is there yet (a worker never makes it: `nvt-fleet push` does).
    pub(super) async fn first(&mut self) -> anyhow::Result<(Vec<Detector>, Option<ModelStore>)> {
        // Said at once, then at growing intervals: a worker left waiting for a day writes a
        // handful of lines.
        let mut hint = LogBackoff::new(HINT_FIRST, HINT_MOST);
        let store = loop {
            match ModelStore::open(&self.nats, &self.group).await {
                Ok(store) => break store,
                Err(error) => {
                    if let Some(held_back) = hint.allow(Instant::now()) {
                        tracing::warn!(%error, held_back_since_last = held_back, "cannot open the model store yet; retrying every second{}", why_not_open(&error));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stored = match &store {
            Some(store) => match store.current().await {
                Ok(stored) => stored,
                // Read again once the worker serves (its watch starts with a read).
                Err(error) if self.options.model.is_some() => {
                    tracing::error!(%error, "cannot read the group's model; serving --model meanwhile");
                    None
                }
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        if let Some(stored) = stored {
            tracing::info!(file = %stored.file_name, bytes = stored.bytes.len(), group = self.group.name(), "the group's model from the store");
            let nuid = stored.nuid.clone();
            match self.load(stored).await {
                Ok(detectors) => {
                    self.loaded = Some(nuid);
                    self.serving_pushed = true;
                    return Ok((detectors, store));
                }
                Err(error) if self.options.model.is_some() => {
                    self.loaded = Some(nuid);
                    tracing::error!(
                        error = nvt_support::errors::sentence(error.as_ref()),
                        "the group's stored model does not load; serving --model"
                    );
                }
                Err(error) => return Err(error),
            }
        }
        if self.options.model.is_none() {
            anyhow::bail!("no model: give --model, or push one with `nvt-fleet push`");
        }
        let (options, sessions) = (self.options.clone(), self.sessions);
        let detectors = tokio::task::spawn_blocking(move || options.load(sessions)).await??;
        Ok((detectors, store))
    }

    /// Writes a stored model into the private folder, loads it once per session and removes the
    /// file again, loaded or not: nothing piles up in the folder.
    async fn load(&self, stored: StoredModel) -> anyhow::Result<Vec<Detector>> {
        let (folder, options, sessions) = (self.folder.path.clone(), self.options.clone(), self.sessions);
        tokio::task::spawn_blocking(move || {
            let path = write_model(&folder, &stored.file_name, &stored.bytes)?;
            drop(stored);
            let loaded = ModelArgs { model: Some(path.clone()), ..options }.load(sessions);
            let _ = std::fs::remove_file(&path);
            loaded
        })
        .await?
    }

    /// Watches the group's model for good: opens the store once it is there, and swaps to each
    /// push (and to one that came before the watch began).
    pub(super) async fn watch(mut self, mut store: Option<ModelStore>, swaps: Vec<mpsc::Sender<Detector>>) {
        let (mut open_hint, mut watch_hint) =
            (LogBackoff::new(HINT_FIRST, HINT_MOST), LogBackoff::new(HINT_FIRST, HINT_MOST));
        loop {
            let opened = match store.take() {
                Some(opened) => opened,
                None => match ModelStore::open(&self.nats, &self.group).await {
                    Ok(Some(opened)) => opened,
                    Ok(None) => {
                        tokio::time::sleep(STORE_RETRY).await;
                        continue;
                    }
                    Err(error) => {
                        if let Some(held_back) = open_hint.allow(Instant::now()) {
                            tracing::warn!(%error, held_back_since_last = held_back, "cannot look for the group's model; retrying every 2 s{}", why_not_open(&error));
                        }
                        tokio::time::sleep(STORE_RETRY).await;
                        continue;
                    }
                },
            };
            open_hint.reset();
            let mut changes = match opened.changes().await {
                Ok(changes) => changes,
                Err(error) => {
                    if let Some(held_back) = watch_hint.allow(Instant::now()) {
                        tracing::warn!(%error, held_back_since_last = held_back, "cannot watch the group's model; retrying every 2 s");
                    }
                    tokio::time::sleep(STORE_RETRY).await;
                    store = Some(opened);
                    continue;
                }
            };
            watch_hint.reset();
            // A push between the first read and the watch is not missed.
            self.swap(&opened, &swaps).await;
            while let Some(()) = changes.next().await {
                self.swap(&opened, &swaps).await;
            }
            store = Some(opened);
        }
    }

    /// A push: read it, load and warm it up once per session, and hand one to each; a model that
    /// does not load changes nothing. A removal: back to `--model`.
    async fn swap(&mut self, store: &ModelStore, swaps: &[mpsc::Sender<Detector>]) {
        let stored = match store.current().await {
            Ok(Some(stored)) => stored,
            Ok(None) => return self.removed(swaps).await,
            Err(error) => {
                tracing::error!(%error, "cannot read the pushed model; the old one keeps serving");
                return;
            }
        };
        if self.loaded.as_deref() == Some(stored.nuid.as_str()) {
            return;
        }
        let nuid = stored.nuid.clone();
        tracing::info!(file = %stored.file_name, bytes = stored.bytes.len(), "a model was pushed; loading it");
        // Refused or not, this upload is not read again.
        self.loaded = Some(nuid);
        match self.load(stored).await {
            Ok(detectors) => {
                let id = detectors.first().map(|d| d.info().id.clone()).unwrap_or_default();
                for (swap, detector) in swaps.iter().zip(detectors) {
                    let _ = swap.send(detector);
                }
                self.serving_pushed = true;
                tracing::info!(model = %id, "swapped to the pushed model");
            }
            Err(error) => {
                tracing::error!(
                    error = nvt_support::errors::sentence(error.as_ref()),
                    "the pushed model was refused; the old one keeps serving"
                );
            }
        }
    }

    /// The group's model was removed (`nvt-fleet rm`): sessions serving it go back to
    /// `--model`; without one, they keep the removed model, and the log says so.
    async fn removed(&mut self, swaps: &[mpsc::Sender<Detector>]) {
        // Nothing pushed was ever read: nothing was removed.
        if self.loaded.take().is_none() {
            return;
        }
        if !self.serving_pushed {
            tracing::info!(group = self.group.name(), "the group's model was removed; serving --model as before");
            return;
        }
        let Some(own) = self.options.model.clone() else {
            tracing::warn!(
                group = self.group.name(),
                "the group's model was removed, but this worker has no --model: it keeps serving the removed model until it stops"
            );
            return;
        };
        let (options, sessions) = (self.options.clone(), self.sessions);
        match tokio::task::spawn_blocking(move || options.load(sessions)).await {
            Ok(Ok(detectors)) => {
                for (swap, detector) in swaps.iter().zip(detectors) {
                    let _ = swap.send(detector);
                }
                self.serving_pushed = false;
                tracing::info!(group = self.group.name(), model = %own.display(), "the group's model was removed; back to --model");
            }
            Ok(Err(error)) => tracing::error!(
                error = nvt_support::errors::sentence(error.as_ref()),
                "the group's model was removed, but --model does not load now; the removed model keeps serving"
            ),
            Err(error) => {
                tracing::error!(%error, "the group's model was removed, but loading --model stopped; the removed model keeps serving")
            }
        }
    }
}

/// A folder only this process uses (mode 700), for the models it reads from the store; removed
/// when the worker ends, however it ends.
pub(super) struct PrivateFolder {
    path: PathBuf,
}

impl PrivateFolder {
    /// Makes the folder.
    pub(super) fn new() -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("nvt-worker-{}-{:08x}", std::process::id(), fastrand_u32()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot make {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for PrivateFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id()
}

/// Writes a model into our folder under its own (cleaned) file name, so that its id reads as
/// the file that was pushed.
fn write_model(folder: &Path, file_name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = folder.join(file_name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
