//! The server's history (`--db`, `--clips`, `--retain-*`): opened from the flags as one more
//! output of the events hub, on the hub's clock; the sessions hand it each fresh frame's bytes
//! for the clips, and the web view answers `/api/events` from it.

use anyhow::Context;
use nvt_events::flags::EventArgs;
use nvt_events::Hub;
use nvt_history::flags::HistoryArgs;
use nvt_history::{History, HistoryError};
use std::sync::Arc;

/// Opens the history the flags ask for; `None` with `--db off`. A default store that another
/// server already keeps is left to it: this server then keeps none, and says so.
pub async fn open(args: &HistoryArgs, events: &EventArgs, hub: &Arc<Hub>) -> anyhow::Result<Option<Arc<History>>> {
    let Some(settings) = args.settings(events.snapshots.clone(), true)? else { return Ok(None) };
    let (location, media) = (settings.location.display(), settings.media.clone());
    let clock_of = Arc::clone(hub);
    let clock = Arc::new(move || clock_of.now());
    match History::open(settings, clock).await {
        Ok(history) => {
            let history = Arc::new(history);
            hub.add_output(Box::new(history.output()));
            let clips = media.map(|m| m.display().to_string()).unwrap_or_else(|| "off".into());
            tracing::info!(db = %location, %clips, "event store");
            Ok(Some(history))
        }
        Err(error @ HistoryError::InUse { .. }) if !args.db_given() => {
            tracing::warn!(%error, "this server keeps no event history");
            Ok(None)
        }
        Err(error) => Err(error).context("--db"),
    }
}
