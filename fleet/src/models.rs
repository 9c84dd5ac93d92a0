//! One model for a whole group: `nvt-fleet push` puts the file in a JetStream object store under
//! the group's name, and every worker of the group watches that object. A worker that starts
//! later reads the group's current model from the store.

use crate::subjects::{Group, MODEL_BUCKET};
use crate::FleetError;
use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use futures_util::StreamExt;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The largest model file the store takes or a worker reads (as `--model` files).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// A group's model in the store.
pub struct ModelStore {
    store: ObjectStore,
    group: Group,
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
    /// Opens the store (making it on first use) for `group`.
    pub async fn open(client: &async_nats::Client, group: &Group) -> Result<Self, FleetError> {
        let jetstream = async_nats::jetstream::new(client.clone());
        let store = match jetstream.get_object_store(MODEL_BUCKET).await {
            Ok(store) => store,
            Err(_) => jetstream
                .create_object_store(object_store::Config {
                    bucket: MODEL_BUCKET.into(),
                    description: Some("nvt: each worker group's current model".into()),
                    ..Default::default()
                })
                .await
                .map_err(FleetError::nats)?,
        };
        Ok(Self { store, group: group.clone() })
    }

    /// Stores the model file at `path` as the group's current model.
    pub async fn push(&self, path: &Path) -> Result<usize, FleetError> {
        let file_error = |reason: String| FleetError::File { path: path.to_owned(), reason };
        let bytes = nvt_support::files::read_regular(path, MAX_MODEL_BYTES).map_err(|e| file_error(e.to_string()))?;
        let meta = ObjectMetadata {
            name: self.group.name().to_owned(),
            description: Some(file_name(path)),
            ..Default::default()
        };
        let info = self.store.put(meta, &mut bytes.as_slice()).await.map_err(FleetError::nats)?;
        Ok(info.size)
    }

    /// The group's current model, if one was pushed.
    pub async fn current(&self) -> Result<Option<StoredModel>, FleetError> {
        let mut object = match self.store.get(self.group.name()).await {
            Ok(object) => object,
            Err(error) if error.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(FleetError::nats(error)),
        };
        let info = object.info().clone();
        if info.size as u64 > MAX_MODEL_BYTES {
            return Err(FleetError::Nats(format!(
                "the stored model is {} bytes, more than {MAX_MODEL_BYTES}",
                info.size
            )));
        }
        let mut bytes = Vec::with_capacity(info.size);
        // Never more than the size the store states, whatever its chunks hold.
        (&mut object).take(info.size as u64 + 1).read_to_end(&mut bytes).await.map_err(FleetError::nats)?;
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

    /// Waits for the group's model to change (a push); each item is one change.
    pub async fn changes(&self) -> Result<impl futures_util::Stream<Item = ()> + Unpin, FleetError> {
        let group = self.group.name().to_owned();
        let watch = self.store.watch().await.map_err(FleetError::nats)?;
        Ok(Box::pin(watch.filter_map(move |info| {
            let ours = matches!(&info, Ok(info) if info.name == group && !info.deleted);
            async move { ours.then_some(()) }
        })))
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
