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
use crate::admission::Refusal;
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
    let taken = may_stream(&shared, &join).and_then(|name| {
        let slot = shared.admission.admit(peer.ip()).map_err(|refusal| {
            Counters::bump(&shared.connections.refused);
            no_slot(refusal)
        })?;
        Ok((name, slot))
    });
    let (name, slot) = match taken {
        Ok(taken) => taken,
        Err((status, why)) => {
            if let Some(held_back) = shared.may_log() {
                tracing::warn!(%peer, held_back_since_last = held_back, "camera page refused: {why}");
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
/// reason. Asking takes no client slot, counts nothing and logs nothing.
async fn check(
    State(state): State<WebState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Query(join): Query<Join>,
) -> Response {
    let shared = state.shared;
    let answer = may_stream(&shared, &join).and_then(|_| shared.admission.would_admit(peer.ip()).map_err(no_slot));
    match answer {
        Ok(()) => (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// A refusal: the status and the reason to answer with.
type Refused = (StatusCode, &'static str);

/// What a page must pass before it asks for a client slot, after the web view's doors: the
/// camera name it asks for, if any (as `nvt-client --name` takes it), which this returns; and a
/// camera port that needs a token is not walked around through the page.
fn may_stream(shared: &Shared, join: &Join) -> Result<Option<String>, Refused> {
    let name = match join.name.as_str() {
        "" => None,
        name if nvt_transport::protect::valid_name(name) => Some(name.to_owned()),
        _ => return Err((StatusCode::BAD_REQUEST, "a camera name is 1-64 letters, digits, '_' or '-'")),
    };
    // Without a web token of its own, the page may not stream to a camera port that needs one.
    if shared.config.guard.token.is_some() && shared.config.web.token.is_none() {
        return Err((StatusCode::FORBIDDEN, PROTECTED_WITHOUT_WEB_TOKEN));
    }
    Ok(name)
}

/// The answer to a page that gets no client slot.
fn no_slot(refusal: Refusal) -> Refused {
    let why = match refusal {
        Refusal::Full => "too many clients (--max-clients)",
        Refusal::PerAddress => "too many clients from this address (--max-clients-per-ip)",
    };
    (StatusCode::SERVICE_UNAVAILABLE, why)
}
