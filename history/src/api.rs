//! The history over HTTP, as Frigate serves it: `/api/events` (its query parameters, newest
//! first, Frigate's event JSON), `/api/events/{id}`, and each event's files: `thumbnail.jpg`,
//! `snapshot.jpg`, `clip.avi`. Answered from the store; without one (`--db off`), from the events
//! the hub keeps in memory, asked the same questions. A file is found by the event's id, checked
//! against the form nvt gives ids, and by nothing a request names.

use crate::history::History;
use crate::media::{is_event_id, Kind};
use crate::query::{Query, Sort};
use crate::row::EventRow;
use crate::HistoryError;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nvt_events::hub::Recent;
use std::collections::HashSet;
use std::sync::Arc;

/// Where the answers come from.
pub struct Api {
    /// The store, when there is one.
    pub history: Option<Arc<History>>,
    /// The events kept in memory, newest first, with their snapshots.
    pub recent: Box<dyn Fn() -> Vec<Recent> + Send + Sync>,
}

/// The routes, ready to merge into a server's (whose doors then guard them).
pub fn routes(api: Arc<Api>) -> Router {
    json_routes()
        .route("/api/events/{id}/thumbnail.jpg", get(thumbnail))
        .route("/api/events/{id}/snapshot.jpg", get(snapshot))
        .route("/api/events/{id}/clip.avi", get(clip))
        .with_state(api)
}

/// Only the events, without their files: for a history that keeps no clips, thumbnails or
/// snapshots (the fleet's, whose files stay with the server that made them).
pub fn event_routes(api: Arc<Api>) -> Router {
    json_routes().with_state(api)
}

fn json_routes() -> Router<Arc<Api>> {
    Router::new().route("/api/events", get(events)).route("/api/events/{id}", get(event))
}

/// A refusal for a query that cannot be asked, or a store that cannot answer.
fn failed(error: &HistoryError) -> Response {
    match error {
        HistoryError::Invalid(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
        other => {
            tracing::warn!(error = %other, "the event store cannot answer");
            (StatusCode::SERVICE_UNAVAILABLE, "the event store cannot answer now\n").into_response()
        }
    }
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no such {what}\n")).into_response()
}

/// The events that answer `query`, from the store or else from memory.
pub async fn answer(api: &Api, query: &Query) -> Result<Vec<EventRow>, HistoryError> {
    match &api.history {
        Some(history) => history.query(query).await,
        None => Ok(from_memory(&(api.recent)(), query)),
    }
}

/// The in-memory events as rows: each object's latest event, filtered, sorted and cut as the
/// store would.
pub fn from_memory(recent: &[Recent], query: &Query) -> Vec<EventRow> {
    let mut seen = HashSet::new();
    let mut rows: Vec<EventRow> = recent
        .iter()
        .filter(|r| seen.insert(r.event.after.id.clone()))
        .map(|r| EventRow::from_event(&r.event))
        .filter(|row| query.matches(row))
        .collect();
    let score = |row: &EventRow| row.score().unwrap_or(f64::MIN);
    let by_date = |a: &EventRow, b: &EventRow| a.start_time.total_cmp(&b.start_time).then_with(|| a.id.cmp(&b.id));
    rows.sort_by(|a, b| match query.sort {
        Sort::DateDesc => by_date(b, a),
        Sort::DateAsc => by_date(a, b),
        Sort::ScoreDesc => score(b).total_cmp(&score(a)).then_with(|| by_date(b, a)),
        Sort::ScoreAsc => score(a).total_cmp(&score(b)).then_with(|| by_date(b, a)),
    });
    rows.truncate(query.limit);
    rows
}

async fn events(
    State(api): State<Arc<Api>>,
    axum::extract::Query(pairs): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let query = match Query::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(query) => query,
        Err(error) => return failed(&error),
    };
    match answer(&api, &query).await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => failed(&error),
    }
}

/// One event's row, from the store or memory.
async fn find(api: &Api, id: &str) -> Result<Option<EventRow>, HistoryError> {
    if !is_event_id(id) {
        return Ok(None);
    }
    match &api.history {
        Some(history) => history.get(id).await,
        None => Ok((api.recent)().iter().find(|r| r.event.after.id == id).map(|r| EventRow::from_event(&r.event))),
    }
}

async fn event(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match find(&api, &id).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => not_found("event"),
        Err(error) => failed(&error),
    }
}

/// A snapshot kept in memory.
fn in_memory(api: &Api, id: &str) -> Option<Arc<Vec<u8>>> {
    (api.recent)().into_iter().find(|r| r.event.after.id == id).and_then(|r| r.jpeg)
}

fn jpeg(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-cache")], Body::from(bytes)).into_response()
}

/// The thumbnail file, or else the snapshot (the page scales it down).
async fn thumbnail(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    if let Some(path) = api.history.as_ref().and_then(|h| h.file(&id, Kind::Thumbnail)) {
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return jpeg(bytes);
        }
    }
    snapshot(State(api), Path(id)).await
}

/// The snapshot: the one in memory, or else the `--snapshots` file the event names.
async fn snapshot(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    if let Some(bytes) = in_memory(&api, &id) {
        return jpeg(bytes.to_vec());
    }
    let Some(history) = &api.history else { return not_found("event snapshot") };
    let row = match find(&api, &id).await {
        Ok(Some(row)) => row,
        Ok(None) => return not_found("event snapshot"),
        Err(error) => return failed(&error),
    };
    match history.snapshot(&row) {
        Some(path) => match tokio::fs::read(&path).await {
            Ok(bytes) => jpeg(bytes),
            Err(_) => not_found("event snapshot"),
        },
        None => not_found("event snapshot"),
    }
}

/// The clip, streamed from its file.
async fn clip(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    let Some(path) = api.history.as_ref().and_then(|h| h.file(&id, Kind::Clip)) else { return not_found("clip") };
    let Ok(file) = tokio::fs::File::open(&path).await else { return not_found("clip") };
    let length = file.metadata().await.map_or(0, |m| m.len());
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 << 10));
    Response::builder()
        .header(header::CONTENT_TYPE, "video/x-msvideo")
        .header(header::CONTENT_LENGTH, length)
        .header(header::CONTENT_DISPOSITION, format!("inline; filename=\"{id}.avi\""))
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
