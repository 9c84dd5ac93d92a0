//! `--http`: the live web view and metrics. `/` is a page with every client's annotated stream,
//! stats and latest detections, and the event history with its thumbnails and clips;
//! `/api/clients` the clients as JSON ([`clients`]), each with whether detection is happening
//! for it; `/api/status` the server's state as a whole ([`status`]); `POST /api/model` a model
//! reload or switch, answered with its outcome ([`model`]); `/api/events` and each event's files
//! as Frigate serves them (`nvt_history::api`); `/stream/{id}` a client's annotated frames as MJPEG; `/metrics`
//! Prometheus. A slow viewer never slows detection: each viewer reads the newest frame from a
//! watch channel and skips the ones it was too slow for.
//! `/camera` is a page that streams the browser's own camera to the server ([`camera`]).

use crate::session::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod camera;
pub mod clients;
mod listener;
pub mod model;
mod socket;
pub mod status;
mod tls;

pub use camera::PROTECTED_WITHOUT_WEB_TOKEN;
pub use clients::{client_views, ClientView};
pub use nvt_history::guard::{self, Gate, CONTENT_SECURITY_POLICY};

const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
const HISTORY: &str = include_str!("web/history.js");

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
    let gate = Arc::new(Gate {
        port: addr.port(),
        tls: web.tls.is_some(),
        names: web.host_names.clone(),
        token: web.token.clone(),
    });
    let app = Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }))
        .route("/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route("/history.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], HISTORY) }))
        .route("/api/clients", get(clients::clients))
        .route("/api/status", get(status::status))
        .route("/stream/{id}", get(stream))
        .route("/metrics", get(metrics))
        .route(
            "/api/model",
            axum::routing::post(model::reload_model).layer(axum::extract::DefaultBodyLimit::max(model::MAX_REQUEST)),
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
