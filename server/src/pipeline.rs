//! A client's frames after the network. With a model, the detector stage takes each client's
//! newest frame when its turn comes (see [`crate::detection`]); without one, the client's worker
//! thread decodes its newest fresh frame and finishes it at once. Finishing a frame writes its
//! record, makes its detections the client's reply, and passes the picture to the client's window.

use crate::metrics::Metrics;
use crate::record::{ms, FrameRecord, Measured};
use crate::sinks::{Processed, Sink};
use crate::stats::Counters;
use crate::throttle::Throttle;
use bytes::Bytes;
use nvt_capture::slot::Slot;
use nvt_capture::{jpeg, Mat};
use nvt_support::sync::lock;
use nvt_transport::{ReplyDetection, ReplyDoc};
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A fresh frame as it came off the network.
pub struct Incoming {
    /// The server's number of the frame on its connection.
    pub seq: u64,
    /// The JPEG bytes.
    pub payload: Bytes,
    /// When its last byte arrived.
    pub arrived: Instant,
    /// The handshake lag it passed with.
    pub lag: Duration,
}

/// A decoded frame.
pub struct Decoded {
    /// See [`Incoming::seq`].
    pub seq: u64,
    /// The BGR picture.
    pub image: Mat,
    /// See [`Incoming::arrived`].
    pub arrived: Instant,
    /// See [`Incoming::lag`].
    pub lag: Duration,
    /// Milliseconds spent decoding.
    pub decode_ms: f64,
}

/// What a client's network task, worker, the detector stage and the web view share.
pub struct Client {
    /// A number for this connection, unique while the server runs (the web view's `/stream/{id}`).
    pub id: u64,
    /// The client's address, as logs and window titles show it.
    pub peer: String,
    /// When it connected.
    pub connected: SystemTime,
    /// Newest-wins hand-over from the network task to the worker or the detector stage.
    pub frames: Slot<Incoming>,
    /// The reply for the next exchanges: the latest processed frame's results.
    pub latest: Mutex<ReplyDoc>,
    /// The client's window, with `--show`.
    pub window: Option<Arc<Slot<Mat>>>,
    /// The latest annotated frame as JPEG, for web viewers; each viewer sees the newest.
    pub view: tokio::sync::watch::Sender<Option<Bytes>>,
    /// Recent rates and latencies, for the web view.
    pub recent: Mutex<Recent>,
    /// This client's counters.
    pub counters: Counters,
    /// Every client's counters summed.
    pub totals: Arc<Counters>,
    /// One warning a second at most about this client's bad frames.
    warnings: Mutex<Throttle>,
}

/// What happened to a client's frames over the last few seconds.
#[derive(Debug, Default)]
pub struct Recent {
    accepted: VecDeque<Instant>,
    processed: VecDeque<Instant>,
    latencies_ms: VecDeque<f64>,
    /// The model that processed the latest frame.
    pub model: Option<String>,
}

/// The window over which rates are measured.
const RATE_WINDOW: Duration = Duration::from_secs(3);

impl Recent {
    fn note(times: &mut VecDeque<Instant>, now: Instant) {
        times.push_back(now);
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) > RATE_WINDOW) {
            times.pop_front();
        }
    }

    /// A frame passed the freshness check at `now`.
    pub fn accepted(&mut self, now: Instant) {
        Self::note(&mut self.accepted, now);
    }

    /// A frame's results were ready at `now`, `latency_ms` after it arrived.
    pub fn processed(&mut self, now: Instant, latency_ms: f64) {
        Self::note(&mut self.processed, now);
        self.latencies_ms.push_back(latency_ms);
        if self.latencies_ms.len() > 300 {
            self.latencies_ms.pop_front();
        }
    }

    /// Frames per second accepted and processed over the few seconds before `now`.
    pub fn rates(&self, now: Instant) -> (f64, f64) {
        let rate = |times: &VecDeque<Instant>| {
            let recent = times.iter().filter(|t| now.saturating_duration_since(**t) <= RATE_WINDOW).count();
            recent as f64 / RATE_WINDOW.as_secs_f64()
        };
        (rate(&self.accepted), rate(&self.processed))
    }

    /// Median and 95th percentile of the last 300 frames' latency, in milliseconds.
    pub fn latency_percentiles(&self) -> (f64, f64) {
        let mut sorted: Vec<f64> = self.latencies_ms.iter().copied().collect();
        if sorted.is_empty() {
            return (0.0, 0.0);
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.95))
    }
}

impl Client {
    /// A client with nothing processed yet.
    pub fn new(id: u64, peer: String, window: Option<Arc<Slot<Mat>>>, totals: Arc<Counters>) -> Self {
        Self {
            id,
            peer,
            connected: SystemTime::now(),
            frames: Slot::new(),
            latest: Mutex::default(),
            window,
            view: tokio::sync::watch::Sender::new(None),
            recent: Mutex::default(),
            counters: Counters::default(),
            totals,
            warnings: Mutex::new(Throttle::new(Duration::from_secs(1))),
        }
    }

    /// Adds one to a counter of this client and of the totals.
    pub fn bump(&self, pick: impl Fn(&Counters) -> &AtomicU64) {
        Counters::bump(pick(&self.counters));
        Counters::bump(pick(&self.totals));
    }

    /// Whether a warning about this client may be logged now (one a second at most); `Some(n)`
    /// counts the ones held back since the last.
    pub fn may_warn(&self) -> Option<u64> {
        lock(&self.warnings).allow(Instant::now())
    }

    /// The reply to send now.
    pub fn reply(&self) -> [u8; nvt_transport::field::REPLY_LEN] {
        lock(&self.latest).encode()
    }

    /// The recent-activity record, locked.
    pub fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        lock(&self.recent)
    }

    /// Whether anyone is watching this client's frames (a window or a web viewer), so that
    /// boxes are worth drawing.
    pub fn watched(&self) -> bool {
        self.window.is_some() || self.view.receiver_count() > 0
    }
}

/// Where finished frames go.
pub struct Output {
    /// Every output of processed frames, in the order they get each frame.
    pub sinks: Vec<Box<dyn Sink>>,
    /// The server's metrics, for what the stages count beside the frames (busy time, panics).
    pub metrics: Arc<Metrics>,
}

/// The results of detection on one frame.
pub struct Results {
    /// The model's id.
    pub model: String,
    /// Detections, most confident first.
    pub detections: Vec<ReplyDetection>,
    /// Preprocess, inference and postprocess milliseconds.
    pub timings: nvt_detect::Timings,
}

/// Decodes a frame's JPEG (its header was checked on arrival); a failure is counted and logged,
/// and costs only this frame.
pub fn decode(client: &Client, frame: Incoming, max_pixels: u64) -> Option<Decoded> {
    let started = Instant::now();
    match jpeg::decode(&frame.payload, max_pixels) {
        Ok(image) => Some(Decoded {
            seq: frame.seq,
            image,
            arrived: frame.arrived,
            lag: frame.lag,
            decode_ms: ms(started.elapsed()),
        }),
        Err(error) => {
            client.bump(|c| &c.decode_errors);
            if let Some(held_back) = client.may_warn() {
                tracing::warn!(peer = %client.peer, seq = frame.seq, %error, held_back_since_last = held_back, "frame refused: cannot decode");
            }
            None
        }
    }
}

/// Makes a processed frame's record and hands it to every sink: the reply, the metrics, the web
/// view, the log, the window.
pub fn finish(client: &Client, output: &Output, frame: Decoded, results: Option<Results>) {
    let (model, detections, detect) = match results {
        Some(r) => (Some(r.model), r.detections, r.timings),
        None => (None, Vec::new(), nvt_detect::Timings::default()),
    };
    let measured = Measured { decode_ms: frame.decode_ms, detect, since: frame.arrived, lag: Some(frame.lag) };
    let record = FrameRecord::new(&frame.image, client.peer.clone(), frame.seq, model, measured, detections);
    let processed = Processed { client, record: &record, image: &frame.image };
    for sink in &output.sinks {
        sink.frame(&processed);
    }
    client.bump(|c| &c.processed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Connections;

    /// A sink that writes down what it was given.
    struct Recording(Arc<Mutex<Vec<(String, u64, usize)>>>, &'static str);

    impl Sink for Recording {
        fn frame(&self, frame: &Processed<'_>) {
            lock(&self.0).push((self.1.to_owned(), frame.record.seq, frame.record.detections.len()));
        }
    }

    #[test]
    fn every_sink_gets_every_processed_frame_in_the_order_they_were_assembled() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let totals = Arc::new(Counters::default());
        let metrics = Arc::new(Metrics::new(Arc::clone(&totals), Arc::new(Connections::default())));
        let sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(crate::sinks::ReplySink),
            Box::new(Recording(Arc::clone(&seen), "first")),
            Box::new(Recording(Arc::clone(&seen), "second")),
        ];
        let output = Output { sinks, metrics };
        let client = Client::new(1, "127.0.0.1:5000".into(), None, Arc::clone(&totals));
        let image = Mat::new_rows_cols_with_default(48, 64, opencv::core::CV_8UC3, 0.into()).expect("mat");
        let detection =
            ReplyDetection { class_id: 2, label: "blue triangle".into(), score: 0.9, bbox: [1.0, 2.0, 3.0, 4.0] };
        for seq in [7, 8] {
            let frame =
                Decoded { seq, image: image.clone(), arrived: Instant::now(), lag: Duration::ZERO, decode_ms: 1.0 };
            let results =
                Results { model: "m".into(), detections: vec![detection.clone()], timings: Default::default() };
            finish(&client, &output, frame, Some(results));
        }
        let order: Vec<_> = lock(&seen).clone();
        let expected = [("first", 7), ("second", 7), ("first", 8), ("second", 8)];
        assert_eq!(order.iter().map(|(n, s, _)| (n.as_str(), *s)).collect::<Vec<_>>(), expected);
        assert!(order.iter().all(|(_, _, n)| *n == 1));
        assert_eq!(lock(&client.latest).seq, 8, "the reply sink made the newest frame the reply");
        assert_eq!(client.counters.snapshot().processed, 2);
    }

    #[test]
    fn rates_count_the_last_three_seconds_only() {
        let t0 = Instant::now();
        let mut recent = Recent::default();
        // 30 frames a second for 5 s, every one processed 12 ms after it was accepted.
        for i in 0..150u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 1000 / 30);
            recent.accepted(at);
            recent.processed(at + Duration::from_millis(12), 12.0);
        }
        let now = t0 + Duration::from_secs(5);
        let (fps_in, fps_processed) = recent.rates(now);
        assert!((fps_in - 30.0).abs() <= 0.4, "{fps_in}");
        assert!((fps_processed - 30.0).abs() <= 0.4, "{fps_processed}");
        assert_eq!(recent.rates(now + Duration::from_secs(4)), (0.0, 0.0), "a stream that stopped reads 0");
        assert_eq!(recent.latency_percentiles(), (12.0, 12.0));
        assert!(recent.accepted.len() <= 91, "old instants are dropped as new ones come");
    }
}
