//! The camera page: `/camera` streams the browser's own camera (a phone's, a laptop's) to the
//! server, which serves it as one more client. `/camera/socket` is where the page streams: a
//! WebSocket carrying the classic exchange byte for byte ([`super::socket`]), served by the same
//! session as a camera-port connection (`crate::session::serve_admitted`): freshness, pacing,
//! repeats, the frame path, events, the log, the web view and `/metrics` alike.
//!
//! The socket passes the web view's doors first ([`super::guard`]: Host, Origin, the browser's
//! word on where the request comes from, the web token), so a page on another site cannot open
//! one; then the name it asks for (`?name=`, checked as `nvt-client --name` is) and a client slot
//! (`--max-clients`, `--max-clients-per-ip`). A frame larger than `--max-frame-bytes` ends the
//! connection before it is read whole.

use super::listener::Peer;
use super::socket::CameraSocket;
use super::WebState;
use crate::admission::Slot;
use crate::session::{self, Shared};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use nvt_pipeline::Counters;
use nvt_transport::field::FIELD_LEN;
use std::borrow::Cow;
use std::net::SocketAddr;

/// Why a page may not stream to a server whose camera port is protected and web view is not.
pub const PROTECTED_WITHOUT_WEB_TOKEN: &str =
    "the camera port needs a token (--token-file) and the web view has none: \
     start nvt-server with --http-token-file too to let camera pages stream";

const PAGE: &str = include_str!("camera.html");
const SCRIPT: &str = include_str!("camera.js");
const STYLE: &str = include_str!("camera.css");

/// The camera page's routes.
pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/camera", get(page))
        .route("/camera.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }))
        .route("/camera.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route("/camera/socket", get(connect))
        .route("/camera/check", get(check))
}

/// The page. A link that names the camera starts it at once (the kiosk link), but not when the
/// browser says the page was opened from another site (`Sec-Fetch-Site`: a link or a script's
/// navigation there): another site must not be able to start a visitor's camera, so the page
/// then waits for a click on Start. The two answers differ by that header alone, and neither is
/// kept by a cache (`no-store`, `Vary`), so a page cached from the own site's link never answers
/// another site's.
async fn page(headers: HeaderMap) -> impl IntoResponse {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let page = if matches!(site, Some("cross-site" | "same-site")) {
        Cow::Owned(PAGE.replacen("<body ", "<body data-autostart=\"no\" ", 1))
    } else {
        Cow::Borrowed(PAGE)
    };
    ([(header::CACHE_CONTROL, "no-store"), (header::VARY, "Sec-Fetch-Site")], Html(page))
}

/// What the page asks for when it connects.
#[derive(Debug, serde::Deserialize)]
struct Join {
    /// The camera's name; empty or absent, the camera is named after its address.
    #[serde(default)]
    name: String,
}

/// Opens a camera's socket: its name checked, a client slot taken, then the exchange.
async fn connect(
    State(state): State<WebState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Query(join): Query<Join>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let shared = state.shared;
    let (name, slot) = match admit(&shared, peer, &join) {
        Ok(admitted) => admitted,
        Err((status, why)) => {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                Counters::bump(&shared.connections.refused);
            }
            return (status, why).into_response();
        }
    };
    Counters::bump(&shared.connections.accepted);
    // One message may hold a whole exchange's worth: the length, the largest frame, the echo.
    let largest = shared.config.limits.max_frame_bytes + 2 * FIELD_LEN;
    let (stop, outside) = (state.stop, shared.outside.clone());
    // What the server writes and the page does not read (pongs to a flood of pings) may pile up
    // to this much, then the socket is dropped: the replies themselves are a few KiB.
    let unread = 1 << 20;
    upgrade.max_message_size(largest).max_frame_size(largest).max_write_buffer_size(unread).on_upgrade(move |socket| {
        outside.track_future(async move {
            let stream = Box::new(CameraSocket::new(socket));
            session::serve_admitted(stream, peer.to_string(), name, shared, stop).await;
            drop(slot);
        })
    })
}

/// Whether a page may stream now, asked the way it would open its socket (`?name=`): 204, or the
/// status and reason its socket would be refused with. A browser tells a page nothing of why a
/// WebSocket was refused, so the page asks here after its socket closed unopened, and shows the
/// reason. The client slot it would take is given back at once.
async fn check(
    State(state): State<WebState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Query(join): Query<Join>,
) -> Response {
    match admit(&state.shared, peer, &join) {
        Ok(_) => (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// What a page must pass before it streams, after the web view's doors: a camera name, if it
/// asks for one, as `nvt-client --name` takes it; a camera port that needs a token is not walked
/// around through the page; a client slot. A refusal is the status and reason to answer with.
fn admit(shared: &Shared, peer: SocketAddr, join: &Join) -> Result<(Option<String>, Slot), (StatusCode, &'static str)> {
    let name = match join.name.as_str() {
        "" => None,
        name if nvt_transport::protect::valid_name(name) => Some(name.to_owned()),
        _ => {
            let why = "a camera name is 1-64 letters, digits, '_' or '-'";
            return Err((StatusCode::BAD_REQUEST, why));
        }
    };
    // Without a web token of its own, the page may not stream to a camera port that needs one.
    if shared.config.guard.token.is_some() && shared.config.web.token.is_none() {
        if let Some(held_back) = shared.may_log() {
            tracing::warn!(%peer, held_back_since_last = held_back, "camera page refused: {PROTECTED_WITHOUT_WEB_TOKEN}");
        }
        return Err((StatusCode::FORBIDDEN, PROTECTED_WITHOUT_WEB_TOKEN));
    }
    match shared.admission.admit(peer.ip()) {
        Ok(slot) => Ok((name, slot)),
        Err(refusal) => {
            let why = match refusal {
                crate::admission::Refusal::Full => "too many clients (--max-clients)",
                crate::admission::Refusal::PerAddress => "too many clients from this address (--max-clients-per-ip)",
            };
            if let Some(held_back) = shared.may_log() {
                tracing::warn!(%peer, held_back_since_last = held_back, "camera page refused: {why}");
            }
            Err((StatusCode::SERVICE_UNAVAILABLE, why))
        }
    }
}
