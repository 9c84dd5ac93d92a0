//! The one-off commands on a group's model: `nvt-fleet push`, `models` and `rm`. Each connects
//! once and fails fast, with a hint, when nothing answers at the URL or the server runs without
//! JetStream; the broker's slower answers are bounded too, so no command hangs.

use crate::access::Access;
use crate::check::{check, Checked, LoadHints};
use crate::connect::{connect, Role};
use crate::error::FleetError;
use crate::models::{self, ModelFile, ModelStore, PushedModel};
use crate::subjects::Group;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// How long a command waits for the broker's answers about the store (the upload of a push has
/// [`PUSH_WITHIN`]).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How long a push may take in all, the upload included.
pub const PUSH_WITHIN: Duration = Duration::from_secs(60);

/// What a push did.
pub struct Pushed {
    /// Bytes stored.
    pub bytes: usize,
    /// What the check found, unless it was skipped.
    pub checked: Option<Checked>,
}

/// Reads `path`, loads it as a worker would (unless `hints` is `None`: `--no-check`), and only
/// then connects and stores it as `group`'s model.
pub async fn push(
    access: &Access,
    group: &Group,
    path: &Path,
    hints: Option<&LoadHints>,
) -> Result<Pushed, FleetError> {
    let model = ModelFile::read(path)?;
    let (model, checked) = match hints {
        Some(hints) => {
            let (path, hints) = (path.to_owned(), hints.clone());
            let (model, checked) = tokio::task::spawn_blocking(move || {
                let checked = check(&path, &model, &hints);
                (model, checked)
            })
            .await
            .map_err(|e| FleetError::Nats(format!("the model check stopped: {e}")))?;
            (model, Some(checked?))
        }
        None => (model, None),
    };
    let client = connect(access, Role::Push, "nvt-fleet push", 64).await?;
    let store = within(ANSWER_WITHIN, access, ModelStore::open_or_create(&client, group)).await.map_err(may_write)?;
    let bytes = within(PUSH_WITHIN, access, store.push(&model)).await.map_err(may_write)?;
    within(ANSWER_WITHIN, access, async { client.flush().await.map_err(FleetError::nats) }).await?;
    Ok(Pushed { bytes, checked })
}

/// Every group's pushed model.
pub async fn list(access: &Access) -> Result<Vec<PushedModel>, FleetError> {
    let client = connect(access, Role::Push, "nvt-fleet models", 64).await?;
    within(ANSWER_WITHIN, access, models::list(&client)).await
}

/// Removes `group`'s model: `false` when it had none.
pub async fn remove(access: &Access, group: &Group) -> Result<bool, FleetError> {
    let client = connect(access, Role::Push, "nvt-fleet rm", 64).await?;
    let removed = within(ANSWER_WITHIN, access, async {
        match ModelStore::open(&client, group).await? {
            Some(store) => store.remove().await,
            None => Ok(false),
        }
    })
    .await
    .map_err(may_write)?;
    within(ANSWER_WITHIN, access, async { client.flush().await.map_err(FleetError::nats) }).await?;
    Ok(removed)
}

/// `work`, given up after `limit` with an error naming the server.
async fn within<T>(
    limit: Duration,
    access: &Access,
    work: impl Future<Output = Result<T, FleetError>>,
) -> Result<T, FleetError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(FleetError::Nats(format!("no answer from {} within {} s", access.url(), limit.as_secs())))
    })
}

/// A user not allowed to write the store sees its requests go unanswered (the server logs a
/// permission violation): say so. A server without JetStream is said as is.
fn may_write(error: FleetError) -> FleetError {
    match error {
        FleetError::NoJetStream | FleetError::Unreachable { .. } => error,
        other => FleetError::Nats(format!("{other} (may this user write the model store? see the NATS server's log)")),
    }
}
