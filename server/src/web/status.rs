//! `/api/status`: the server's state as a whole, which the page shows as a banner when something
//! is wrong: whether detection is happening (and why not), and the model loader's latest news
//! (a reload that failed, and why).

use super::WebState;
use axum::extract::State;
use axum::Json;
use nvt_pipeline::swap::status::ReloadStatus;
use nvt_pipeline::Detection;
use serde::Serialize;

/// What `/api/status` answers.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Whether frames get detections: `ok` when any camera's do; otherwise why not.
    pub detection: Detection,
    /// The model loader's latest news (absent without a local model).
    pub model: Option<ReloadStatus>,
}

pub(super) async fn status(State(state): State<WebState>) -> Json<Status> {
    let shared = &state.shared;
    Json(Status {
        detection: shared.frames.detection(None, std::time::Instant::now()),
        model: shared.reloader.as_ref().map(|r| r.status()),
    })
}
