//! The Prometheus series named `nvt_*` that the frame path keeps, and the registry a program
//! adds its own to (the server's connections, the fleet's requests) and renders (`/metrics`).
//! Frame counts are read from the cameras' counters at scrape time; stage latencies are
//! histograms observed per frame.

use crate::counters::Counters;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Counter, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use std::sync::Arc;

mod events;

/// Buckets from 0.5 ms to 2.5 s.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5];

/// The metrics of a program that runs the frame path.
pub struct Metrics {
    registry: Registry,
    /// Seconds per stage: decode, preprocess, infer, postprocess.
    pub stage_seconds: HistogramVec,
    /// Seconds from a frame's last byte arriving to its results being ready.
    pub latency_seconds: Histogram,
    /// Clients connected now.
    pub connected: IntGauge,
    /// How long the model took to load and warm up.
    pub model_load_seconds: Gauge,
    /// 1 for the model being served, labelled with its id.
    pub model_info: GaugeVec,
    /// Model reloads (the file watcher, SIGHUP, `POST /api/model`) by outcome: `loaded`, `failed`.
    pub model_reloads: IntCounterVec,
    /// Time the inference workers spent on frames (inference, post-processing, finishing).
    pub detector_busy_seconds: Counter,
    /// Time the inference workers spent waiting for a prepared frame.
    pub detector_idle_seconds: Counter,
    /// Panics caught (and survived), by the thread or task they happened in.
    pub panics: IntCounterVec,
    /// Frames processed, per connected camera.
    pub camera_frames: IntCounterVec,
    /// Each connected camera's link round trip, as its exchanges taught it.
    camera_rtt: GaugeVec,
    /// The time each connected camera's latest frame took to arrive, first byte to last.
    camera_upload: GaugeVec,
    /// Frames answered stale, per connected camera and reason (`waited`, `link`).
    camera_stale: IntCounterVec,
}

impl Metrics {
    /// Registers the frame path's series; `totals` is read at each scrape.
    pub fn new(totals: Arc<Counters>) -> Self {
        let registry = Registry::new();
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("nvt_stage_seconds", "Time per frame in each stage").buckets(BUCKETS.to_vec()),
            &["stage"],
        )
        .expect("valid metric");
        let latency_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "nvt_frame_latency_seconds",
                "From a frame's last byte arriving to its results being ready",
            )
            .buckets(BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let connected = IntGauge::new("nvt_connected_clients", "Clients connected now").expect("valid metric");
        let model_load_seconds =
            Gauge::new("nvt_model_load_seconds", "Time to load and warm up the model").expect("valid metric");
        let model_info =
            GaugeVec::new(Opts::new("nvt_model_info", "The model being served"), &["model"]).expect("valid");
        let model_reloads = IntCounterVec::new(
            Opts::new(
                "nvt_model_reloads_total",
                "Model reloads by outcome: loaded (now serving), failed (the old model keeps serving)",
            ),
            &["outcome"],
        )
        .expect("valid");
        for outcome in ["loaded", "failed"] {
            model_reloads.with_label_values(&[outcome]);
        }
        let detector_busy_seconds =
            Counter::new("nvt_detector_busy_seconds_total", "Time inference workers spent on frames").expect("valid");
        let detector_idle_seconds = Counter::new(
            "nvt_detector_idle_seconds_total",
            "Time inference workers spent waiting for a prepared frame",
        )
        .expect("valid");
        let panics = IntCounterVec::new(
            Opts::new("nvt_panics_total", "Panics caught and survived, by where they happened"),
            &["thread"],
        )
        .expect("valid");
        let camera_frames = IntCounterVec::new(
            Opts::new("nvt_camera_frames_processed_total", "Frames processed, per connected camera"),
            &["camera"],
        )
        .expect("valid");
        let camera_rtt = GaugeVec::new(
            Opts::new("nvt_camera_rtt_seconds", "The round trip of each connected camera's link"),
            &["camera"],
        )
        .expect("valid");
        let camera_upload = GaugeVec::new(
            Opts::new("nvt_camera_upload_seconds", "How long each connected camera's latest frame took to arrive"),
            &["camera"],
        )
        .expect("valid");
        let camera_stale = IntCounterVec::new(
            Opts::new(
                "nvt_camera_frames_stale_total",
                "Frames answered stale, per connected camera and reason: waited (at the feed), link",
            ),
            &["camera", "reason"],
        )
        .expect("valid");
        for collector in [
            Box::new(camera_frames.clone()) as Box<dyn Collector>,
            Box::new(camera_rtt.clone()),
            Box::new(camera_upload.clone()),
            Box::new(camera_stale.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(latency_seconds.clone()),
            Box::new(connected.clone()),
            Box::new(model_load_seconds.clone()),
            Box::new(model_info.clone()),
            Box::new(model_reloads.clone()),
            Box::new(detector_busy_seconds.clone()),
            Box::new(detector_idle_seconds.clone()),
            Box::new(panics.clone()),
            Box::new(frame_counters(totals)),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            stage_seconds,
            latency_seconds,
            connected,
            model_load_seconds,
            model_info,
            model_reloads,
            detector_busy_seconds,
            detector_idle_seconds,
            panics,
            camera_frames,
            camera_rtt,
            camera_upload,
            camera_stale,
        }
    }

    /// Records how `camera`'s latest exchange was judged.
    pub fn link(&self, camera: &str, judged: &nvt_transport::Judgement) {
        self.camera_rtt.with_label_values(&[camera]).set(judged.rtt.as_secs_f64());
        self.camera_upload.with_label_values(&[camera]).set(judged.upload.as_secs_f64());
        if let Some(reason) = judged.stale {
            self.camera_stale.with_label_values(&[camera, reason.as_str()]).inc();
        }
    }

    /// Drops `camera`'s link series when it leaves.
    pub fn forget_link(&self, camera: &str) {
        let _ = self.camera_rtt.remove_label_values(&[camera]);
        let _ = self.camera_upload.remove_label_values(&[camera]);
        for reason in [nvt_transport::StaleReason::Waited, nvt_transport::StaleReason::Link] {
            let _ = self.camera_stale.remove_label_values(&[camera, reason.as_str()]);
        }
    }

    /// Adds a program's own series (the server's connections, the fleet's requests).
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Err(error) = self.registry.register(collector) {
            tracing::warn!(%error, "cannot add a metric");
        }
    }

    /// Adds the events' and MQTT's counters, read from `hub` at each scrape.
    pub fn watch_events(&self, hub: Arc<nvt_events::Hub>) {
        if let Err(error) = self.registry.register(Box::new(events::EventCollector::new(hub))) {
            tracing::warn!(%error, "cannot add the event metrics");
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counters kept as atomics elsewhere, exposed as Prometheus counters at scrape time: each name
/// and help text with the function that reads the current values, in the same order.
pub struct ScrapedCounters {
    names: &'static [(&'static str, &'static str)],
    read: Box<dyn Fn() -> Vec<u64> + Send + Sync>,
    descs: Vec<Desc>,
}

impl ScrapedCounters {
    /// Counters named by `names`, whose values `read` gives.
    pub fn new(
        names: &'static [(&'static str, &'static str)],
        read: impl Fn() -> Vec<u64> + Send + Sync + 'static,
    ) -> Self {
        let descs = names
            .iter()
            .filter_map(|(name, help)| Desc::new((*name).into(), (*help).into(), vec![], Default::default()).ok())
            .collect();
        Self { names, read: Box::new(read), descs }
    }
}

impl Collector for ScrapedCounters {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.names
            .iter()
            .zip((self.read)())
            .filter_map(|((name, help), value)| {
                let counter = IntCounter::new(*name, *help).ok()?;
                counter.inc_by(value);
                counter.collect().pop()
            })
            .collect()
    }
}

/// The frame counters, summed over every camera.
const FRAME_COUNTERS: [(&str, &str); 11] = [
    ("nvt_frames_received_total", "Frames received (fresh, repeated, stale or refused)"),
    ("nvt_frames_accepted_total", "Distinct frames that passed the freshness check and were accepted"),
    ("nvt_frames_repeated_total", "Frames a client sent again to keep the handshake fresh, answered without decoding"),
    ("nvt_frames_stale_total", "Frames answered '0' because they were late (--max-lag)"),
    ("nvt_frames_stale_link_total", "Of the stale frames, those the link alone made late (its round trip and upload under a strict --max-lag, an upload over 2 s under auto)"),
    ("nvt_frames_refused_total", "Frames refused because they were not an acceptable image"),
    ("nvt_frames_processed_total", "Frames decoded, run through the model and logged"),
    ("nvt_frames_superseded_total", "Frames replaced by a newer one before they were processed"),
    ("nvt_frames_failed_total", "Frames that failed to decode or to run through the model, or that the fleet's workers did not answer"),
    ("nvt_detector_runs_total", "Detector runs: one per frame looked at whole, one per region looked at (--detect motion)"),
    ("nvt_frames_carried_total", "Processed frames the detector did not run on, their objects carried over by the tracker (--detect motion)"),
];

fn frame_counters(totals: Arc<Counters>) -> ScrapedCounters {
    ScrapedCounters::new(&FRAME_COUNTERS, move || {
        let f = totals.snapshot();
        vec![
            f.fresh + f.repeated + f.stale + f.refused,
            f.fresh,
            f.repeated,
            f.stale,
            f.stale_link,
            f.refused,
            f.processed,
            f.superseded,
            f.decode_errors + f.detect_errors,
            f.detector_runs,
            f.carried,
        ]
    })
}
