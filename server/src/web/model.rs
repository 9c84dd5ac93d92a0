//! `POST /api/model`: reload the model file, or switch to another file inside `--model-dir`, and
//! answer with how it went. The request waits for the load, up to [`ANSWER_WITHIN`]: `200` when
//! the model took over, `422` with the reason when it did not (the old model keeps serving). A
//! load that takes longer is answered `202`, and `/api/status` (which the page shows) tells the
//! outcome once it is known.

use super::WebState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nvt_pipeline::swap::status::{ReloadState, ReloadStatus};
use serde_json::json;
use std::time::Duration;

/// Largest body `POST /api/model` reads.
pub const MAX_REQUEST: usize = 4096;

/// The longest `POST /api/model` waits for the load before it answers `202`.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(30);

#[derive(serde::Deserialize)]
struct ModelRequest {
    path: Option<std::path::PathBuf>,
}

/// `POST /api/model` with `Content-Type: application/json`: `{}` reloads the model file;
/// `{"path": "NAME"}` switches to another file, only inside `--model-dir`.
pub(super) async fn reload_model(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "model changes take Content-Type: application/json")
            .into_response();
    }
    let Some(reloader) = &state.shared.reloader else {
        return (StatusCode::CONFLICT, "the server runs without a model (--model)").into_response();
    };
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ModelRequest { path: None }
    } else {
        match serde_json::from_slice::<ModelRequest>(&body) {
            Ok(request) => request,
            Err(error) => {
                return (StatusCode::BAD_REQUEST, format!("expected {{\"path\": \"...\"}}: {error}")).into_response()
            }
        }
    };
    let path = match request.path {
        None => None,
        Some(asked) => {
            let dir = state.shared.config.web.model_dir.clone();
            let resolved =
                tokio::task::spawn_blocking(move || nvt_pipeline::swap::resolve_in(dir.as_deref(), &asked)).await;
            match resolved {
                Ok(Ok(path)) => Some(path),
                Ok(Err(why)) => return (StatusCode::FORBIDDEN, why).into_response(),
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    };
    let target = path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the model file".into());
    let ticket = reloader.request(path);
    let outcome = tokio::select! {
        outcome = reloader.outcome(ticket, ANSWER_WITHIN) => outcome,
        () = state.stop.cancelled() => None,
    };
    match outcome {
        Some(status) => answer(&status),
        None => (
            StatusCode::ACCEPTED,
            Json(json!({ "reloading": target, "status": "the load goes on; /api/status tells how it ends" })),
        )
            .into_response(),
    }
}

/// The answer for a load that has ended.
fn answer(status: &ReloadStatus) -> Response {
    let file = status.file.clone().unwrap_or_default();
    match status.state {
        ReloadState::Failed => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "failed": file,
                "error": status.error,
                "serving": status.serving,
                "note": "the model before it keeps serving",
            })),
        )
            .into_response(),
        _ => (StatusCode::OK, Json(json!({ "loaded": file, "serving": status.serving }))).into_response(),
    }
}
