//! The remote stage (`--nats`): each feed's newest frame goes as a NATS request to the group's
//! queue of workers instead of to a local model, one request per feed at a time. While it is
//! out, newer frames replace each other in the feed's slot (newest wins, no queue). A request
//! not answered within the deadline is abandoned, and the feed's newest frame goes instead: a
//! worker that dies costs its cameras at most that deadline. The deadline follows the round trips
//! the ingest measures, never what a worker says. The ingest decodes the frame itself meanwhile,
//! for the log, the web view, snapshots and the window. A reply is input from a peer: its
//! strings are cut and escaped, its times bounded by the round trip, its labels by a set per
//! camera.

use crate::detection::{Detection, DetectionState, Watch};
use crate::feed::{Feed, Incoming};
use crate::frame::{self, Output, Results};
use crate::metrics::Metrics;
use crate::record::{ms, RemoteRecord};
use crate::stage::{per_client_thread, FrameStage};
use async_nats::{HeaderMap, Request, RequestErrorKind};
use nvt_fleet::labels::LabelBook;
use nvt_fleet::wire::{DetectReply, BUDGET_HEADER, CAMERA_HEADER, SEQ_HEADER};
use nvt_fleet::Group;
use nvt_support::sync::lock;
use prometheus::{Gauge, IntCounter, IntCounterVec, Opts};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The deadline before any worker has reported a time.
const FIRST_DEADLINE: Duration = Duration::from_secs(2);

/// Room the request's headers take besides the frame, for the payload check.
const HEADER_ROOM: usize = 256;

/// How long a feed's thread waits after "no workers" or a broken connection before it sends
/// the feed's newest frame again.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The deadline of a request: four times the median of the last 200 round trips the ingest
/// measured (request out to reply in), plus 200 ms for the network and queueing, between 300 ms
/// and 10 s. Each request that times out doubles it (up to 10 s) until a reply comes: a slower
/// model pushed to the fleet, or workers under load, cannot leave every request timing out for
/// good. What a worker says it spent is not used: a worker could say anything. A worker that is
/// really slow moves the median only once it answers half of the requests.
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

    /// A worker answered, `round_trip_ms` after the request went out.
    pub fn observe(&mut self, round_trip_ms: f64) {
        self.missed = 0;
        if round_trip_ms.is_finite() && round_trip_ms >= 0.0 {
            self.recent_ms.push_back(round_trip_ms);
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
            let median = sorted[(sorted.len() - 1) / 2];
            (4.0 * median + 200.0) / 1000.0
        };
        let backoff = 2f64.powi(self.missed.min(16) as i32);
        Duration::from_secs_f64((base * backoff).clamp(0.3, 10.0))
    }
}

/// What happened to the requests, for `/metrics` (`nvt_fleet_requests_total{outcome}`).
struct FleetMetrics {
    requests: IntCounterVec,
    deadline: Gauge,
    labels_refused: IntCounter,
}

/// Frames detected by the group's workers over NATS.
pub struct RemoteStage {
    fleet: Fleet,
    /// Each feed's thread, and what tells it to give up the request in flight.
    threads: Mutex<HashMap<u64, (JoinHandle<()>, CancellationToken)>>,
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
    /// The labels each camera has taken from workers.
    labels: Arc<Mutex<LabelBook>>,
    metrics: Arc<FleetMetrics>,
    /// Whether each feed's frames get answers, by feed id.
    watches: Arc<Mutex<HashMap<u64, Watch>>>,
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
        let labels_refused = IntCounter::new(
            "nvt_fleet_labels_refused_total",
            "Detections dropped because their camera already has the most labels it takes from workers",
        )
        .expect("valid metric");
        metrics.register(Box::new(requests.clone()));
        metrics.register(Box::new(deadline.clone()));
        metrics.register(Box::new(labels_refused.clone()));
        deadline.set(FIRST_DEADLINE.as_secs_f64());
        let fleet = Fleet {
            nats,
            subject: group.detect_subject(),
            runtime: tokio::runtime::Handle::current(),
            output,
            max_pixels,
            deadline: Arc::default(),
            labels: Arc::default(),
            metrics: Arc::new(FleetMetrics { requests, deadline, labels_refused }),
            watches: Arc::default(),
        };
        Self { fleet, threads: Mutex::default() }
    }
}

impl FrameStage for RemoteStage {
    fn register(&self, feed: &Arc<Feed>) -> std::io::Result<()> {
        let fleet = self.fleet.clone();
        let gone = CancellationToken::new();
        let token = gone.clone();
        let thread = per_client_thread(feed, format!("remote {}", feed.peer), move |feed, frame| {
            let before = feed.counters.snapshot().finished();
            fleet.process(feed, frame, &token);
            // A frame the workers gave no detections for (abandoned, refused, no worker, a bad
            // reply) failed: every fresh frame ends counted, so that a leaving feed can tell
            // when its frames are done.
            if feed.counters.snapshot().finished() == before {
                feed.bump(|c| &c.detect_errors);
            }
        })?;
        lock(&self.threads).insert(feed.id, (thread, gone));
        Ok(())
    }

    fn frame_arrived(&self, _client: &Feed) {}

    /// The request in flight is given up at once: a feed leaving (or the server stopping)
    /// never waits for a worker.
    fn unregister(&self, feed: &Arc<Feed>) {
        let thread = lock(&self.threads).remove(&feed.id);
        if let Some((thread, gone)) = thread {
            gone.cancel();
            let _ = thread.join();
        }
        lock(&self.fleet.watches).remove(&feed.id);
    }

    fn stop(&self) {
        for (_, gone) in lock(&self.threads).values() {
            gone.cancel();
        }
    }

    /// A feed's own state; for the stage, `ok` when any feed gets answers, else the first
    /// feed's trouble.
    fn detection(&self, feed: Option<&Feed>, now: Instant) -> Detection {
        let watches = lock(&self.fleet.watches);
        match feed {
            Some(feed) => watches.get(&feed.id).map_or_else(Detection::pending, |w| w.read(now)),
            None => {
                let states: Vec<Detection> = watches.values().map(|w| w.read(now)).collect();
                if states.iter().any(|d| d.state == DetectionState::Ok) {
                    Detection::ok()
                } else {
                    states.into_iter().find(|d| d.state != DetectionState::Pending).unwrap_or_else(Detection::pending)
                }
            }
        }
    }
}

impl Fleet {
    fn outcome(&self, outcome: &str) {
        self.metrics.requests.with_label_values(&[outcome]).inc();
    }

    /// Notes whether `feed`'s frame got an answer (`None`) or not, and why.
    fn saw(&self, feed: &Feed, trouble: Option<(DetectionState, String)>) {
        let now = Instant::now();
        let mut watches = lock(&self.watches);
        let watch = watches.entry(feed.id).or_default();
        match trouble {
            None => watch.answered(now),
            Some((state, why)) => watch.failed(Detection::not(state, why), now),
        }
    }

    /// Sends one of `feed`'s frames and finishes it with the reply; decodes it meanwhile.
    /// `gone` gives the request up.
    fn process(&self, feed: &Feed, frame: Incoming, gone: &CancellationToken) {
        if self.nats.connection_state() != async_nats::connection::State::Connected {
            // The broker is away: the frame is not sent (nothing piles up to flood the workers
            // when it is back); the feed's newest frame goes once it is.
            self.outcome("disconnected");
            self.saw(
                feed,
                Some((
                    DetectionState::NoWorkers,
                    "the NATS server does not answer (--nats); detection resumes once it is back".into(),
                )),
            );
            std::thread::sleep(RETRY_AFTER);
            return;
        }
        let max_payload = self.nats.server_info().max_payload;
        if max_payload > 0 && frame.payload.len() + HEADER_ROOM > max_payload {
            self.outcome("too_large");
            self.saw(feed, Some((DetectionState::Failing, format!("frames of {} bytes are larger than the NATS server's max_payload ({max_payload}); raise it in its config", frame.payload.len()))));
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
        let (nats, subject) = (self.nats.clone(), self.subject.clone());
        let answer = self.runtime.spawn(async move {
            // The whole request, sending included, within the deadline and a second; timed here,
            // as the reply comes, whatever the decode beside it takes.
            let started = Instant::now();
            let answer =
                tokio::time::timeout(deadline + Duration::from_secs(1), nats.send_request(subject, request)).await;
            (answer, started.elapsed())
        });
        let decoded = frame::decode(feed, frame, self.max_pixels);
        let abort = answer.abort_handle();
        let answer = self.runtime.block_on(async {
            tokio::select! {
                answer = answer => Some(answer),
                () = gone.cancelled() => None,
            }
        });
        let (answer, round_trip_ms) = match answer {
            Some(Ok((answer, took))) => (answer, ms(took)),
            Some(Err(_)) => return,
            None => {
                abort.abort();
                return;
            }
        };
        let message = match answer {
            Ok(Ok(message)) => message,
            Err(_) => {
                lock(&self.deadline).missed();
                self.outcome("abandoned");
                self.saw(feed, Some((DetectionState::NoWorkers, late(deadline))));
                return;
            }
            Ok(Err(error)) => {
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
                let trouble = match error.kind() {
                    RequestErrorKind::TimedOut => (DetectionState::NoWorkers, late(deadline)),
                    RequestErrorKind::NoResponders => (
                        DetectionState::NoWorkers,
                        format!(
                            "no worker answers on {}: start nvt-worker with the same --nats and --group",
                            self.subject
                        ),
                    ),
                    _ => (DetectionState::Failing, format!("detection requests fail: {error}")),
                };
                let reason = trouble.1.clone();
                self.saw(feed, Some(trouble));
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, deadline_ms = ms(deadline), held_back_since_last = held_back, "no detection: {reason}");
                }
                if pause {
                    std::thread::sleep(RETRY_AFTER);
                }
                return;
            }
        };
        let reply = match DetectReply::parse(&message.payload) {
            Ok(reply) if reply.error.is_none() => reply,
            Ok(reply) => {
                self.outcome("worker_error");
                let why = format!("worker {} cannot detect: {}", reply.worker, reply.error.as_deref().unwrap_or(""));
                self.saw(feed, Some((DetectionState::ModelFailed, why)));
                feed.bump(|c| &c.detect_errors);
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, worker = %reply.worker, error = reply.error.as_deref().unwrap_or(""), held_back_since_last = held_back, "the worker could not process the frame");
                }
                return;
            }
            Err(error) => {
                self.outcome("bad_reply");
                self.saw(feed, Some((DetectionState::Failing, format!("a worker's reply was refused: {error}"))));
                if let Some(held_back) = feed.may_warn() {
                    tracing::warn!(peer = %feed.peer, %error, held_back_since_last = held_back, "a worker's reply was refused");
                }
                return;
            }
        };
        self.outcome("answered");
        self.saw(feed, None);
        lock(&self.deadline).observe(round_trip_ms);
        let t = reply.timings.bounded(round_trip_ms);
        let worker_ms = t.total();
        let Some(decoded) = decoded else { return };
        let (width, height) = decoded.size;
        let mut detections = DetectReply::sanitised(reply.detections, width, height);
        let before = detections.len();
        let mut book = lock(&self.labels);
        detections.retain(|d| book.admit(&feed.camera, &d.label));
        let labels = book.labels(&feed.camera);
        drop(book);
        let refused = before - detections.len();
        if refused > 0 {
            self.metrics.labels_refused.inc_by(refused as u64);
            if let Some(held_back) = feed.may_warn() {
                tracing::warn!(peer = %feed.peer, worker = %reply.worker, refused, labels, held_back_since_last = held_back,
                    "detections dropped: the camera already has the most labels it takes from workers");
            }
        }
        let results = Results {
            model: reply.model,
            detections,
            timings: nvt_detect::Timings { preprocess: t.preprocess, infer: t.infer, postprocess: t.postprocess },
            remote: Some(RemoteRecord { worker: reply.worker, round_trip_ms, worker_ms, deadline_ms: ms(deadline) }),
            look: None,
            runs: 1,
        };
        frame::finish(feed, &self.output, decoded, Some(results));
    }
}

/// Why a feed has no detections when no worker answered in time.
fn late(deadline: Duration) -> String {
    format!("no worker answered within {} ms: the workers are busy, slow or gone", deadline.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_the_round_trips_and_a_minority_cannot_move_it() {
        let mut deadline = Deadline::default();
        assert_eq!(deadline.now(), FIRST_DEADLINE, "nothing measured yet");
        for _ in 0..100 {
            deadline.observe(20.0);
        }
        assert_eq!(deadline.now(), Duration::from_millis(300), "4 x 20 + 200 ms, at least 300 ms");
        for _ in 0..200 {
            deadline.observe(500.0);
        }
        assert_eq!(deadline.now(), Duration::from_millis(2200));
        deadline.observe(f64::NAN);
        deadline.observe(1e300);
        assert!(deadline.now() <= Duration::from_secs(10));
        // A worker answering two requests in five, as late as it can: the median stays.
        let mut shared = Deadline::default();
        for i in 0..200 {
            shared.observe(if i % 5 < 2 { 9_000.0 } else { 25.0 });
        }
        assert_eq!(shared.now(), Duration::from_millis(300));
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
