//! `--http`: the live web view and metrics. `/` is a page with every client's annotated stream,
//! stats and latest detections, and the event history with its thumbnails and clips;
//! `/api/clients` the clients as JSON; `/api/events` and each event's files as Frigate serves
//! them (`nvt_history::api`); `/stream/{id}` a client's annotated frames as MJPEG; `/metrics`
//! Prometheus. A slow viewer never slows detection: each viewer reads the newest frame from a
//! watch channel and skips the ones it was too slow for.
//! `/camera` is a page that streams the browser's own camera to the server ([`camera`]).

use crate::session::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod camera;
mod listener;
mod socket;
mod tls;

pub use nvt_history::guard::{self, Gate, CONTENT_SECURITY_POLICY};

const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
const HISTORY: &str = include_str!("web/history.js");

/// Largest body `POST /api/model` reads.
const MAX_MODEL_REQUEST: usize = 4096;
const BOUNDARY: &str = "nvtframe";

#[derive(Clone)]
struct WebState {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// Serves the web view on `listener` until `stop` is cancelled.
pub fn start(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let web = &shared.config.web;
    let tls = web.tls.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, "web view and metrics");
    let gate = Arc::new(Gate { port: addr.port(), names: web.host_names.clone(), token: web.token.clone() });
    let app = Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }))
        .route("/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route("/history.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], HISTORY) }))
        .route("/api/clients", get(clients))
        .route("/stream/{id}", get(stream))
        .route("/metrics", get(metrics))
        .route(
            "/api/model",
            axum::routing::post(reload_model).layer(axum::extract::DefaultBodyLimit::max(MAX_MODEL_REQUEST)),
        )
        .merge(camera::routes())
        .with_state(WebState { shared: Arc::clone(&shared), stop: stop.clone() })
        .merge(nvt_history::api::routes(history_api(&shared)))
        .layer(axum::middleware::from_fn_with_state(gate, guard::guard));
    Ok(tokio::spawn(async move {
        let listener = listener::Capped::new(listener, listener::MAX_CONNECTIONS, listener::MAX_PER_ADDRESS, tls);
        let app = app.into_make_service_with_connect_info::<listener::Peer>();
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
            tracing::error!(%error, "web view stopped");
        }
    }))
}

/// Where `/api/events` answers from: the event store, or else the events hub's memory.
fn history_api(shared: &Shared) -> Arc<nvt_history::api::Api> {
    let hub = Arc::clone(&shared.config.events);
    Arc::new(nvt_history::api::Api { history: shared.config.history.clone(), recent: Box::new(move || hub.recent()) })
}

/// The page, with a card for every client connected now already in it, so that their streams
/// start as the page loads (and show without JavaScript).
async fn page(State(state): State<WebState>) -> Html<String> {
    let views = client_views(&state.shared);
    let cards: String = if views.is_empty() {
        r#"<div class="empty">No client is streaming yet.</div>"#.to_owned()
    } else {
        views.iter().map(card).collect()
    };
    Html(PAGE.replace("<!--CLIENTS-->", &cards))
}

fn card(c: &ClientView) -> String {
    let template = PAGE
        .split_once(r#"<template id="card-template">"#)
        .and_then(|(_, rest)| rest.split_once("</template>"))
        .map_or("", |(inner, _)| inner);
    let filled = template
        .replace("{id}", &c.id.to_string())
        .replace(
            r#"<span class="peer"></span>"#,
            &format!(r#"<span class="peer">{} · {}</span>"#, escape(&c.camera), escape(&c.peer)),
        )
        .replace(
            r#"<span class="model"></span>"#,
            &format!(r#"<span class="model">{}</span>"#, escape(c.model.as_deref().unwrap_or("no model"))),
        );
    format!(r#"<section class="card" id="client-{id}" data-id="{id}">{filled}</section>"#, id = c.id)
}

/// Text made safe for HTML content and quoted attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// One client as `/api/clients` lists it.
#[derive(Debug, Serialize)]
pub struct ClientView {
    /// For `/stream/{id}`.
    pub id: u64,
    /// Its address.
    pub peer: String,
    /// Its camera name.
    pub camera: String,
    /// Seconds since it connected.
    pub connected_s: f64,
    /// Frames accepted per second, over the last few seconds.
    pub fps_in: f64,
    /// Frames processed per second, over the last few seconds.
    pub fps_processed: f64,
    /// Frames accepted since it connected.
    pub frames_in: u64,
    /// Frames processed since it connected.
    pub frames_processed: u64,
    /// Frames answered '0' for being late.
    pub stale: u64,
    /// Of those, frames the link alone made late (a strict `--max-lag` only); the rest waited
    /// at the client.
    pub stale_link: u64,
    /// The link's round trip, as the exchanges taught it (ms; absent before the first frame).
    pub rtt_ms: Option<f64>,
    /// Median time a frame takes to arrive, first byte to last (ms).
    pub upload_ms: Option<f64>,
    /// Median time a timestamp waits at the client before its frame comes (ms).
    pub wait_ms: Option<f64>,
    /// Frames the client sent again to keep the handshake fresh (answered without decoding).
    pub repeated: u64,
    /// Frames not processed: late, refused, or replaced by a newer one.
    pub dropped: u64,
    /// Median latency, frame arrival to results, over the last 300 frames.
    pub latency_ms_p50: f64,
    /// 95th percentile of the same.
    pub latency_ms_p95: f64,
    /// The model that processed its latest frame.
    pub model: Option<String>,
    /// The server's number of its latest processed frame.
    pub seq: u64,
    /// The latest frame's detections.
    pub detections: Vec<nvt_transport::ReplyDetection>,
}

/// Every connected client's stats and latest detections.
pub fn client_views(shared: &Shared) -> Vec<ClientView> {
    shared
        .clients()
        .iter()
        .map(|client| {
            let c = client.counters.snapshot();
            let recent = client.recent();
            let (fps_in, fps_processed) = recent.rates(std::time::Instant::now());
            let (p50, p95) = recent.latency_percentiles();
            let link = recent.link();
            let round = |v: f64| (v * 10.0).round() / 10.0;
            let latest = client.latest.lock().map(|l| l.clone()).unwrap_or_default();
            ClientView {
                id: client.id,
                peer: client.peer.clone(),
                camera: client.camera.clone(),
                connected_s: SystemTime::now().duration_since(client.connected).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                fps_in,
                fps_processed,
                frames_in: c.fresh,
                frames_processed: c.processed,
                stale: c.stale,
                stale_link: c.stale_link,
                rtt_ms: link.map(|l| round(l.rtt_ms)),
                upload_ms: link.map(|l| round(l.upload_ms)),
                wait_ms: link.map(|l| round(l.wait_ms)),
                repeated: c.repeated,
                dropped: c.stale + c.refused + c.superseded + c.decode_errors + c.detect_errors,
                latency_ms_p50: p50,
                latency_ms_p95: p95,
                model: recent.model.clone(),
                seq: latest.seq,
                detections: latest.detections,
            }
        })
        .collect()
}

async fn clients(State(state): State<WebState>) -> Json<Vec<ClientView>> {
    Json(client_views(&state.shared))
}

/// `POST /api/model` with `Content-Type: application/json`: `{}` reloads the model file;
/// `{"path": "NAME"}` switches to another file, only inside `--model-dir`.
async fn reload_model(State(state): State<WebState>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
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
    reloader.request(path);
    (StatusCode::ACCEPTED, Json(serde_json::json!({ "reloading": target }))).into_response()
}

#[derive(serde::Deserialize)]
struct ModelRequest {
    path: Option<std::path::PathBuf>,
}

async fn metrics(State(state): State<WebState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.shared.metrics.render()).into_response()
}

async fn stream(State(state): State<WebState>, Path(id): Path<u64>) -> Response {
    let Some(client) = state.shared.clients().into_iter().find(|c| c.id == id) else {
        return (StatusCode::NOT_FOUND, format!("no client {id}")).into_response();
    };
    let mut frames = client.view.subscribe();
    frames.mark_changed();
    drop(client);
    let stop = state.stop;
    let parts = futures_util::stream::unfold((frames, stop), |(mut frames, stop)| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return None,
                changed = frames.changed() => changed.ok()?,
            }
            let Some(jpeg) = frames.borrow_and_update().clone() else { continue };
            return Some((Ok::<_, Infallible>(part(&jpeg)), (frames, stop)));
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, format!("multipart/x-mixed-replace; boundary={BOUNDARY}"))
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(parts))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One JPEG as a part of the multipart stream.
fn part(jpeg: &Bytes) -> Bytes {
    let head = format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len());
    let mut out = Vec::with_capacity(head.len() + jpeg.len() + 2);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(jpeg);
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}
