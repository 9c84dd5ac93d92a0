//! `/api/clients`: every connected client's stats, latest detections, and whether detection is
//! happening for it (and why not), as the page and scripts read them.

use super::WebState;
use crate::session::Shared;
use axum::extract::State;
use axum::Json;
use nvt_pipeline::Detection;
use serde::Serialize;
use std::time::{Instant, SystemTime};

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
    /// Whether its frames get detections now, and if not why.
    pub detection: Detection,
}

/// Every connected client's stats and latest detections.
pub fn client_views(shared: &Shared) -> Vec<ClientView> {
    let now = Instant::now();
    shared
        .clients()
        .iter()
        .map(|client| {
            let c = client.counters.snapshot();
            let recent = client.recent();
            let (fps_in, fps_processed) = recent.rates(now);
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
                detection: shared.frames.detection(Some(client), now),
            }
        })
        .collect()
}

pub(super) async fn clients(State(state): State<WebState>) -> Json<Vec<ClientView>> {
    Json(client_views(&state.shared))
}
