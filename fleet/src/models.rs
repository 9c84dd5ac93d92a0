//! One model for a whole group: `nvt-fleet push` puts the file in a JetStream object store under
//! the group's name, and every worker of the group watches that object. A worker that starts
//! later reads the group's current model from the store. `nvt-fleet models` lists what each
//! group has, and `nvt-fleet rm` removes a group's model (its workers go back to `--model`).

use crate::error::FleetError;
use crate::subjects::{Group, MODEL_BUCKET};
use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use futures_util::StreamExt;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The largest model file the store takes or a worker reads (as `--model` files).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// A model read that gets no bytes for this long fails (the broker went away mid-read).
pub const STALL: std::time::Duration = std::time::Duration::from_secs(20);

/// Messages a connection that reads models buffers per subscription: the store's chunks are
/// 128 KiB, so at most 32 MiB wait. A connection of its own, apart from the requests' small
/// buffer, so that a read is never dropped as a slow consumer.
pub const READ_BUFFER: usize = 256;

/// A group's model in the store.
pub struct ModelStore {
    store: ObjectStore,
    group: Group,
}

/// A model file to push, read before anything connects.
pub struct ModelFile {
    /// Its cleaned file name, as workers will write it.
    pub file_name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl ModelFile {
    /// Reads `path`: a regular file of at most [`MAX_MODEL_BYTES`], not empty.
    pub fn read(path: &Path) -> Result<Self, FleetError> {
        let file_error = |reason: String| FleetError::File { path: path.to_owned(), reason };
        let bytes = nvt_support::files::read_regular(path, MAX_MODEL_BYTES).map_err(|e| file_error(e.to_string()))?;
        if bytes.is_empty() {
            return Err(file_error("empty".into()));
        }
        Ok(Self { file_name: file_name(path), bytes })
    }
}

/// A model read from the store: its file name (as pushed) and its bytes.
pub struct StoredModel {
    /// The pushed file's name, without its folder (`yolo11n.onnx`).
    pub file_name: String,
    /// The store's identity of this upload (it changes with every push).
    pub nuid: String,
    /// The file.
    pub bytes: Vec<u8>,
}

impl ModelStore {
    /// Opens the store for `group`, if it is there: `None` when nothing was ever pushed (only
    /// [`ModelStore::open_or_create`] makes it, so a worker needs no right to write the store).
    /// A server without JetStream is [`FleetError::NoJetStream`].
    pub async fn open(client: &async_nats::Client, group: &Group) -> Result<Option<Self>, FleetError> {
        let jetstream = async_nats::jetstream::new(client.clone());
        if store_stream(&jetstream).await?.is_none() {
            return Ok(None);
        }
        let store = jetstream.get_object_store(MODEL_BUCKET).await.map_err(crate::jetstream::error)?;
        Ok(Some(Self { store, group: group.clone() }))
    }

    /// Opens the store for `group`, making it if need be (`nvt-fleet push`).
    pub async fn open_or_create(client: &async_nats::Client, group: &Group) -> Result<Self, FleetError> {
        if let Some(store) = Self::open(client, group).await? {
            return Ok(store);
        }
        let jetstream = async_nats::jetstream::new(client.clone());
        let store = jetstream
            .create_object_store(object_store::Config {
                bucket: MODEL_BUCKET.into(),
                description: Some("nvt: each worker group's current model".into()),
                ..Default::default()
            })
            .await
            .map_err(crate::jetstream::error)?;
        Ok(Self { store, group: group.clone() })
    }

    /// Removes the group's model, so that its workers go back to their own `--model`: `false`
    /// when the group had none.
    pub async fn remove(&self) -> Result<bool, FleetError> {
        match self.store.info(self.group.name()).await {
            Ok(info) if info.deleted => return Ok(false),
            Ok(_) => {}
            Err(error) if error.kind() == object_store::InfoErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(FleetError::nats(error)),
        }
        self.store.delete(self.group.name()).await.map_err(FleetError::nats)?;
        Ok(true)
    }

    /// Stores `model` as the group's current model; returns its size.
    pub async fn push(&self, model: &ModelFile) -> Result<usize, FleetError> {
        let meta = ObjectMetadata {
            name: self.group.name().to_owned(),
            description: Some(model.file_name.clone()),
            ..Default::default()
        };
        let info = self.store.put(meta, &mut model.bytes.as_slice()).await.map_err(FleetError::nats)?;
        Ok(info.size)
    }

    /// The group's current model, if one was pushed. The read gives up when no bytes come for
    /// [`STALL`]; a link to another object is refused (nvt never pushes one).
    pub async fn current(&self) -> Result<Option<StoredModel>, FleetError> {
        let info = match self.store.info(self.group.name()).await {
            Ok(info) if info.deleted => return Ok(None),
            Ok(info) => info,
            Err(error) if error.kind() == object_store::InfoErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(FleetError::nats(error)),
        };
        if info.options.as_ref().is_some_and(|o| o.link.is_some()) {
            return Err(FleetError::Nats("the stored model is a link, which nvt does not follow".into()));
        }
        if info.size as u64 > MAX_MODEL_BYTES {
            return Err(FleetError::Nats(format!(
                "the stored model is {} bytes, more than {MAX_MODEL_BYTES}",
                info.size
            )));
        }
        let mut object = match self.store.get(self.group.name()).await {
            Ok(object) => object,
            Err(error) if error.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(FleetError::nats(error)),
        };
        let info = object.info().clone();
        if info.size as u64 > MAX_MODEL_BYTES || info.options.as_ref().is_some_and(|o| o.link.is_some()) {
            return Err(FleetError::Nats("the stored model changed while it was read".into()));
        }
        let mut bytes = Vec::with_capacity(info.size);
        // Never more than the size the store states, whatever its chunks hold.
        let mut limited = (&mut object).take(info.size as u64 + 1);
        let mut chunk = vec![0u8; 256 << 10];
        loop {
            let read = tokio::time::timeout(STALL, limited.read(&mut chunk))
                .await
                .map_err(|_| FleetError::Nats(format!("reading the stored model: no bytes for {} s", STALL.as_secs())))?
                .map_err(FleetError::nats)?;
            if read == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..read]);
        }
        if bytes.len() != info.size {
            return Err(FleetError::Nats(format!(
                "the stored model has {} bytes, not the {} it states",
                bytes.len(),
                info.size
            )));
        }
        let file_name = info.description.as_deref().map_or_else(|| format!("{}.onnx", self.group.name()), safe_name);
        Ok(Some(StoredModel { file_name, nuid: info.nuid, bytes }))
    }

    /// Waits for the group's model to change (a push, or its removal); each item is one
    /// change, read with [`ModelStore::current`].
    pub async fn changes(&self) -> Result<impl futures_util::Stream<Item = ()> + Unpin, FleetError> {
        let group = self.group.name().to_owned();
        let watch = self.store.watch().await.map_err(FleetError::nats)?;
        Ok(Box::pin(watch.filter_map(move |info| {
            let ours = matches!(&info, Ok(info) if info.name == group);
            async move { ours.then_some(()) }
        })))
    }
}

/// A group's model as the store describes it (`nvt-fleet models`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PushedModel {
    /// The group (the object's name).
    pub name: String,
    /// The pushed file's name.
    #[serde(default)]
    pub description: Option<String>,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// When it was pushed (RFC 3339, as the store keeps it).
    #[serde(default)]
    pub mtime: Option<String>,
    /// Its digest (`SHA-256=...`), when the store keeps one.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    deleted: bool,
}

/// The most groups listed: names are 1-64 characters, so a store is not expected to hold more.
pub const MAX_LISTED: usize = 10_000;

/// Every group's current model, by group name; empty when nothing was ever pushed. Read from
/// the store's stream (its subjects, then the last description of each), so it needs no
/// consumer, only the rights `nvt-fleet push` has.
pub async fn list(client: &async_nats::Client) -> Result<Vec<PushedModel>, FleetError> {
    let jetstream = async_nats::jetstream::new(client.clone());
    let Some(stream) = store_stream(&jetstream).await? else { return Ok(Vec::new()) };
    let mut subjects = stream.info_with_subjects(format!("$O.{MODEL_BUCKET}.M.>")).await.map_err(FleetError::nats)?;
    let mut names = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _count) = subject.map_err(FleetError::nats)?;
        names.push(subject);
        if names.len() >= MAX_LISTED {
            break;
        }
    }
    let mut models = Vec::new();
    for subject in names {
        let message = stream.direct_get_last_for_subject(subject).await.map_err(FleetError::nats)?;
        // What another writer put there is not trusted to be ours: skipped unless it reads.
        match serde_json::from_slice::<PushedModel>(&message.payload) {
            Ok(model) if !model.deleted => {
                models.push(PushedModel { description: model.description.as_deref().map(safe_name), ..model })
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "a description in the model store does not read; skipped"),
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

/// The store's stream, if it is there.
async fn store_stream(
    jetstream: &async_nats::jetstream::Context,
) -> Result<Option<async_nats::jetstream::stream::Stream>, FleetError> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::ErrorCode;
    match jetstream.get_stream(format!("OBJ_{MODEL_BUCKET}")).await {
        Ok(stream) => Ok(Some(stream)),
        Err(error) => {
            if let GetStreamErrorKind::JetStream(inner) = error.kind() {
                if inner.error_code() == ErrorCode::STREAM_NOT_FOUND {
                    return Ok(None);
                }
            }
            Err(crate::jetstream::error(error))
        }
    }
}

/// A file name safe to write in a folder of ours: the last component, other characters `_`.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String =
        base.chars().take(100).map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        format!("model{cleaned}")
    } else {
        cleaned
    }
}

fn file_name(path: &Path) -> String {
    safe_name(&path.file_name().unwrap_or_default().to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_cannot_leave_the_folder() {
        assert_eq!(safe_name("yolo11n.onnx"), "yolo11n.onnx");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name(".."), "model..");
        assert_eq!(safe_name("a b$c.onnx"), "a_b_c.onnx");
        assert_eq!(safe_name(""), "model");
    }
}
