//! The remote stage (`--nats`): each feed's newest frame goes as a NATS request to the group's
//! queue of workers instead of to a local model, one request per feed at a time. While it is
//! out, newer frames replace each other in the feed's slot (newest wins, no queue). A request
//! not answered within the deadline is abandoned, and the feed's newest frame goes instead: a
//! worker that dies costs its cameras at most that deadline. The deadline follows the times the
//! workers report. The ingest decodes the frame itself meanwhile, for the log, the web view,
//! snapshots and the window.

use crate::feed::{Feed, Incoming};
use crate::frame::{self, Output, Results};
use crate::metrics::Metrics;
use crate::record::{ms, RemoteRecord};
use crate::stage::{per_client_thread, FrameStage};
use async_nats::{HeaderMap, Request, RequestErrorKind};
use nvt_fleet::wire::{DetectReply, BUDGET_HEADER, CAMERA_HEADER, SEQ_HEADER};
use nvt_fleet::Group;
use nvt_support::sync::lock;
use opencv::prelude::*;
use prometheus::{Gauge, IntCounterVec, Opts};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The deadline before any worker has reported a time.
const FIRST_DEADLINE: Duration = Duration::from_secs(2);

/// Room the request's headers take besides the frame, for the payload check.
const HEADER_ROOM: usize = 256;

/// How long a feed's thread waits after "no workers" or a broken connection before it sends
/// the feed's newest frame again.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The deadline of a request: four times the 95th percentile of the workers' recent times, plus
/// 200 ms for the network and queueing, between 300 ms and 10 s. Each request that times out
/// doubles it (up to 10 s) until a reply comes: a slower model pushed to the fleet, or workers
/// under load, cannot leave every request timing out for good.
#[derive(Debug, Default)]
pub struct Deadline {
    recent_ms: VecDeque<f64>,
    /// Requests timed out in a row.
    missed: u32,
}

impl Deadline {
    /// A request timed out.
    pub fn missed(&mut self) {
        self.missed = self.missed.saturating_add(1);
    }

    /// A worker answered, and said it took `worker_ms` on the frame.
    pub fn observe(&mut self, worker_ms: f64) {
        self.missed = 0;
        if worker_ms.is_finite() && worker_ms >= 0.0 {
            self.recent_ms.push_back(worker_ms);
            if self.recent_ms.len() > 200 {
                self.recent_ms.pop_front();
            }
        }
    }

    /// The deadline now.
    pub fn now(&self) -> Duration {
        let base = if self.recent_ms.len() < 5 {
            FIRST_DEADLINE.as_secs_f64()
        } else {
            let mut sorted: Vec<f64> = self.recent_ms.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let p95 = sorted[((sorted.len() - 1) as f64 * 0.95).round() as usize];
            (4.0 * p95 + 200.0) / 1000.0
        };
        let backoff = 2f64.powi(self.missed.min(16) as i32);
        Duration::from_secs_f64((base * backoff).clamp(0.3, 10.0))
    }
}

/// What happened to the requests, for `/metrics` (`nvt_fleet_requests_total{outcome}`).
struct FleetMetrics {
    requests: IntCounterVec,
    deadline: Gauge,
}

/// Frames detected by the group's workers over NATS.
pub struct RemoteStage {
    fleet: Fleet,
    threads: Mutex<HashMap<u64, JoinHandle<()>>>,
}

/// What every feed's thread shares: the connection, the subject, where frames go, the
/// deadline and the counters.
#[derive(Clone)]
struct Fleet {
    nats: async_nats::Client,
    subject: String,
    runtime: tokio::runtime::Handle,
    output: Arc<Output>,
    max_pixels: u64,
    deadline: Arc<Mutex<Deadline>>,
    metrics: Arc<FleetMetrics>,
}

impl RemoteStage {
    /// A stage sending to `group`'s workers through `nats`; its counters go to `metrics`.
    pub fn new(
        nats: async_nats::Client,
        group: &Group,
        output: Arc<Output>,
        max_pixels: u64,
        metrics: &Metrics,
    ) -> Self {
        let requests = IntCounterVec::new(
            Opts::new("nvt_fleet_requests_total", "Detection requests to the workers, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let deadline =
            Gauge::new("nvt_fleet_deadline_seconds", "How long a detection request may take").expect("valid");
        metrics.register(Box::new(requests.clone()));
        metrics.register(Box::new(deadline.clone()));
        deadline.set(FIRST_DEADLINE.as_secs_f64());
        let fleet = Fleet {
            nats,
            subject: group.detect_subject(),
            runtime: tokio::runtime::Handle::current(),
            output,
            max_pixels,
            deadline: Arc::default(),
            metrics: Arc::new(FleetMetrics { requests, deadline }),
        };
        Self { fleet, threads: Mutex::default() }
    }
}

impl FrameStage for RemoteStage {
    fn register(&self, feed: &Arc<Feed>) -> std::io::Result<()> {
        let fleet = self.fleet.clone();
        let thread = per_client_thread(feed, format!("remote {}", feed.peer), move |feed, frame| {
            fleet.process(feed, frame);
        })?;
        lock(&self.threads).insert(feed.id, thread);
        Ok(())
    }

    fn frame_arrived(&self, _client: &Feed) {}

    fn unregister(&self, feed: &Arc<Feed>) {
        let thread = lock(&self.threads).remove(&feed.id);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn stop(&self) {}
}

impl Fleet {
    fn outcome(&self, outcome: &str) {
        self.metrics.requests.with_label_values(&[outcome]).inc();
    }

    /// Sends one of `feed`'s frames and finishes it with the reply; decodes it meanwhile.
    fn process(&self, feed: &Feed, frame: Incoming) {
        if self.nats.connection_state() != async_nats::connection::State::Connected {
            // The broker is away: the frame is not sent (nothing piles up to flood the workers
            // when it is back); the feed's newest frame goes once it is.
            self.outcome("disconnected");
            std::thread::sleep(RETRY_AFTER);
            return;
        }
        let max_payload = self.nats.server_info().max_payload;
        if max_payload > 0 && frame.payload.len() + HEADER_ROOM > max_payload {
            self.outcome("too_large");
            if let Some(held_back) = feed.may_warn() {
                tracing::warn!(peer = %feed.peer, bytes = frame.payload.len(), max_payload, held_back_since_last = held_back,
                    "frame too large for the NATS server's max_payload; not sent to the workers (raise max_payload in its config)");
            }
            return;
        }
        let deadline = lock(&self.deadline).now();
        self.metrics.deadline.set(deadline.as_secs_f64());
        let mut headers = HeaderMap::new();
        headers.insert(CAMERA_HEADER, feed.camera.as_str());
        headers.insert(SEQ_HEADER, frame.seq.to_string().as_str());
        headers.insert(BUDGET_HEADER, deadline.as_millis().to_string().as_str());
        // An inbox of its own, unsubscribed when the request ends either way, so that requests
        // nobody answers leave nothing behind.
        let request = Request::new()
            .payload(frame.payload.clone())
            .headers(headers)
            .timeout(Some(deadline))
            .inbox(self.nats.new_inbox());
        let started = Instant::now();
        let (nats, subject) = (self.nats.clone(), self.subject.clone());
        let answer = self.runtime.spawn(async move {
            // The whole request, sending included, within the deadline and a second.
            tokio::time::timeout(deadline + Duration::from_secs(1), nats.send_request(subject, request)).await
        });
        let decoded = frame::decode(feed, frame, self.max_pixels);
        let answer = self.runtime.block_on(answer);
        let round_trip_ms = ms(started.elapsed());
        let message = match answer {
            Ok(Ok(Ok(message))) => message,
            Ok(Err(_)) => {
                lock(&self.deadline).missed();
                self.outcome("abandoned");
                return;
            }
            Ok(Ok(Err(error))) => {
                if error.kind() == RequestErrorKind::TimedOut {
                    lock(&self.deadline).missed();
                }
                let (outcome, pause) = match error.kind() {
                    RequestErrorKind::TimedOut => ("abandoned", false),
                    RequestErrorKind::NoResponders => ("no_workers", true),
                    RequestErrorKind::MaxPayloadExceeded => ("too_large", false),
                    _ => ("failed", true),
                };
                self.outcome(outcome);
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, %error, deadline_ms = ms(deadline), held_back_since_last = held_back, "detection request {outcome}");
                }
                if pause {
                    std::thread::sleep(RETRY_AFTER);
                }
                return;
            }
            Err(_) => return,
        };
        let reply = match DetectReply::parse(&message.payload) {
            Ok(reply) if reply.error.is_none() => reply,
            Ok(reply) => {
                self.outcome("worker_error");
                feed.bump(|c| &c.detect_errors);
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, worker = %reply.worker, error = reply.error.as_deref().unwrap_or(""), held_back_since_last = held_back, "the worker could not process the frame");
                }
                return;
            }
            Err(error) => {
                self.outcome("bad_reply");
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, %error, held_back_since_last = held_back, "a worker's reply was refused");
                }
                return;
            }
        };
        self.outcome("answered");
        let worker_ms = reply.timings.total();
        lock(&self.deadline).observe(worker_ms);
        let Some(decoded) = decoded else { return };
        let t = reply.timings;
        let (width, height) = (decoded.image.cols().max(0) as u32, decoded.image.rows().max(0) as u32);
        let results = Results {
            model: reply.model.chars().take(200).collect(),
            detections: DetectReply::sanitised(reply.detections, width, height),
            timings: nvt_detect::Timings { preprocess: t.preprocess, infer: t.infer, postprocess: t.postprocess },
            remote: Some(RemoteRecord { worker: reply.worker, round_trip_ms, worker_ms, deadline_ms: ms(deadline) }),
        };
        frame::finish(feed, &self.output, decoded, Some(results));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_the_workers_times() {
        let mut deadline = Deadline::default();
        assert_eq!(deadline.now(), FIRST_DEADLINE, "nothing reported yet");
        for _ in 0..100 {
            deadline.observe(20.0);
        }
        assert_eq!(deadline.now(), Duration::from_millis(300), "4 x 20 + 200 ms, at least 300 ms");
        for _ in 0..100 {
            deadline.observe(500.0);
        }
        assert_eq!(deadline.now(), Duration::from_millis(2200));
        deadline.observe(f64::NAN);
        deadline.observe(1e12);
        assert!(deadline.now() <= Duration::from_secs(10));
        let mut stuck = Deadline::default();
        for _ in 0..100 {
            stuck.observe(20.0);
        }
        stuck.missed();
        assert_eq!(stuck.now(), Duration::from_millis(560), "a timeout doubles it (2 x 280 ms)");
        for _ in 0..40 {
            stuck.missed();
        }
        assert_eq!(stuck.now(), Duration::from_secs(10), "up to 10 s");
        stuck.observe(20.0);
        assert_eq!(stuck.now(), Duration::from_millis(300), "a reply brings it back");
    }
}
