//! One connected feed, as its network task, the frame stage, the sinks and the web view share
//! it: its newest-wins frame slot, its latest reply, its window and web viewers, its recent
//! rates and its counters.

use crate::counters::Counters;
use bytes::Bytes;
use nvt_capture::slot::Slot;
use nvt_capture::Mat;
use nvt_support::sync::lock;
use nvt_support::Throttle;
use nvt_transport::{Judgement, LinkReport, ReplyDoc};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64};
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

/// What a feed's network task, worker, the detector stage and the web view share.
pub struct Feed {
    /// A number for this connection, unique while the server runs (the web view's `/stream/{id}`).
    pub id: u64,
    /// The feed's address, as logs and window titles show it.
    pub peer: String,
    /// The camera's name (see [`crate::cameras`]).
    pub camera: String,
    /// The camera's tracker, made at its first processed frame, and the last frame it took.
    tracker: Mutex<Option<(nvt_events::Tracker, u64)>>,
    /// Where the detector looks on the camera's frames (`--detect motion`), made at its first
    /// planned frame, with the instant its clock starts from.
    pub looking: Mutex<Option<(crate::looking::Looking, Instant)>>,
    /// Whether a frame of the feed is between the detector stage taking it and finishing it
    /// (kept only when the stage needs frames one at a time, see `crate::local`).
    pub in_detector: AtomicBool,
    /// True until the feed has gone (see [`Feed::while_open`]).
    open: Mutex<bool>,
    /// The newest frame handed on in order (see [`Feed::in_order`]).
    last_in_order: Mutex<Option<u64>>,
    /// When it connected.
    pub connected: SystemTime,
    /// Newest-wins hand-over from the network task to the worker or the detector stage.
    pub frames: Slot<Incoming>,
    /// The reply for the next exchanges: the latest processed frame's results.
    pub latest: Mutex<ReplyDoc>,
    /// The feed's window, with `--show`.
    pub window: Option<Arc<Slot<Mat>>>,
    /// The latest annotated frame as JPEG, for web viewers; each viewer sees the newest.
    pub view: tokio::sync::watch::Sender<Option<Bytes>>,
    /// Recent rates and latencies, for the web view.
    pub recent: Mutex<Recent>,
    /// This feed's counters.
    pub counters: Counters,
    /// Every feed's counters summed.
    pub totals: Arc<Counters>,
    /// One warning a second at most about this feed's bad frames.
    warnings: Mutex<Throttle>,
}

/// What happened to a feed's frames over the last few seconds.
#[derive(Debug, Default)]
pub struct Recent {
    accepted: VecDeque<Instant>,
    processed: VecDeque<Instant>,
    latencies_ms: VecDeque<f64>,
    /// The model that processed the latest frame.
    pub model: Option<String>,
    /// The link as the latest exchanges measured it.
    link: VecDeque<Judgement>,
}

/// The feed's link, as recent exchanges measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkView {
    /// The round trip, in ms.
    pub rtt_ms: f64,
    /// Median time a frame took to arrive, first byte to last, in ms.
    pub upload_ms: f64,
    /// Median time a timestamp waited at the feed, in ms.
    pub wait_ms: f64,
}

/// How many exchanges [`LinkView`] looks at.
const LINK_WINDOW: usize = 64;

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

    /// An exchange was judged.
    pub fn exchanged(&mut self, judgement: Judgement) {
        if self.link.len() == LINK_WINDOW {
            self.link.pop_front();
        }
        self.link.push_back(judgement);
    }

    /// The link as the last exchanges measured it; `None` before the first.
    pub fn link(&self) -> Option<LinkView> {
        let latest = self.link.back()?;
        let median = |pick: fn(&Judgement) -> Duration| {
            let mut values: Vec<Duration> = self.link.iter().map(pick).collect();
            values.sort();
            crate::record::ms(values[values.len() / 2])
        };
        Some(LinkView {
            rtt_ms: crate::record::ms(latest.rtt),
            upload_ms: median(|j| j.upload),
            wait_ms: median(|j| j.wait),
        })
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

impl Feed {
    /// A feed with nothing processed yet.
    pub fn new(id: u64, peer: String, camera: String, window: Option<Arc<Slot<Mat>>>, totals: Arc<Counters>) -> Self {
        Self {
            id,
            peer,
            camera,
            tracker: Mutex::default(),
            looking: Mutex::default(),
            in_detector: AtomicBool::new(false),
            open: Mutex::new(true),
            last_in_order: Mutex::new(None),
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

    /// Adds one to a counter of this feed and of the totals.
    pub fn bump(&self, pick: impl Fn(&Counters) -> &AtomicU64) {
        Counters::bump(pick(&self.counters));
        Counters::bump(pick(&self.totals));
    }

    /// Whether a warning about this feed may be logged now (one a second at most); `Some(held)`
    /// counts the ones held back since the last, when there were any.
    pub fn may_warn(&self) -> Option<Option<u64>> {
        lock(&self.warnings).allow(Instant::now())
    }

    /// The reply to send now, telling the feed how its exchange was judged.
    pub fn reply(&self, link: LinkReport) -> [u8; nvt_transport::field::REPLY_LEN] {
        let mut doc = lock(&self.latest).clone();
        doc.link = Some(link);
        doc.encode()
    }

    /// Runs `f` unless the feed has gone, holding off [`Feed::close`] meanwhile: what a
    /// sink keeps per feed (a camera's objects, its metric series) is not made again by a
    /// frame that finishes after the feed left.
    pub fn while_open(&self, f: impl FnOnce()) {
        let open = lock(&self.open);
        if *open {
            f();
        }
    }

    /// Runs `f` for frame `seq` while the feed is open, unless a newer frame of the feed ran it
    /// already: two workers that tracked frames 5 and 6 in order may reach here 6 first, and
    /// frame 5 is then left out rather than applied after 6. Calls run one at a time, in order.
    pub fn in_order(&self, seq: u64, f: impl FnOnce()) {
        let mut last = lock(&self.last_in_order);
        if last.is_some_and(|newest| seq <= newest) {
            return;
        }
        *last = Some(seq);
        self.while_open(f);
    }

    /// Marks the feed gone, then runs `f` (the sinks forgetting the feed).
    pub fn close(&self, f: impl FnOnce()) {
        let mut open = lock(&self.open);
        *open = false;
        f();
    }

    /// Whether this feed's frame that arrived at `arrived` is decoded whole before it is
    /// planned: the lookout wants it so ([`Looking::wants_whole`]: the detector ran on the last
    /// frame, or an object came or moved a moment ago), or someone watches the camera. Such a
    /// frame is planned from its whole picture ([`Feed::plan_whole`]); any other from its JPEG
    /// alone ([`Feed::plan_jpeg`]), and decoded whole after only if the detector runs on it.
    ///
    /// [`Looking::wants_whole`]: crate::looking::Looking::wants_whole
    pub fn needs_whole(&self, arrived: Instant) -> bool {
        let wants = lock(&self.looking)
            .as_ref()
            .is_some_and(|(looking, epoch)| looking.wants_whole(camera_time(*epoch, arrived)));
        wants || self.watched()
    }

    /// Plans a frame decoded whole, which arrived at `arrived` (see [`Looking::plan`]).
    ///
    /// [`Looking::plan`]: crate::looking::Looking::plan
    pub fn plan_whole(
        &self,
        settings: &Arc<nvt_motion::LookSettings>,
        image: &Mat,
        arrived: Instant,
        input: (u32, u32),
    ) -> crate::looking::FramePlan {
        self.with_looking(settings, arrived, |looking, at| looking.plan(image, at, input))
    }

    /// Plans a frame from its `jpeg` alone, which arrived at `arrived` (see
    /// [`Looking::plan_jpeg`]); with it, whether the frame must be decoded whole all the same:
    /// the detector runs on it, or someone watches the camera by now.
    ///
    /// [`Looking::plan_jpeg`]: crate::looking::Looking::plan_jpeg
    pub fn plan_jpeg(
        &self,
        settings: &Arc<nvt_motion::LookSettings>,
        jpeg: &[u8],
        size: (u32, u32),
        max_pixels: u64,
        arrived: Instant,
        input: (u32, u32),
    ) -> Result<(crate::looking::FramePlan, bool), nvt_capture::CaptureError> {
        let plan =
            self.with_looking(settings, arrived, |looking, at| looking.plan_jpeg(jpeg, size, max_pixels, at, input))?;
        let whole = plan.looked != nvt_transport::Looked::None || self.watched();
        Ok((plan, whole))
    }

    /// Runs `f` with the camera's lookout (made on its first frame, with `settings`) and the
    /// time in seconds on the camera's clock of a frame that arrived at `arrived`.
    fn with_looking<T>(
        &self,
        settings: &Arc<nvt_motion::LookSettings>,
        arrived: Instant,
        f: impl FnOnce(&mut crate::looking::Looking, f64) -> T,
    ) -> T {
        let mut looking = lock(&self.looking);
        let (looking, epoch) =
            looking.get_or_insert_with(|| (crate::looking::Looking::new(&self.camera, Arc::clone(settings)), arrived));
        f(looking, camera_time(*epoch, arrived))
    }

    /// Tells the camera's lookout what a frame decoded whole showed of nvt's pixel stamp.
    pub fn saw_whole(&self, image: &Mat) {
        if let Some((looking, _)) = lock(&self.looking).as_mut() {
            looking.saw_whole(image);
        }
    }

    /// Fills `plan.carried` from the camera's lookout as it is now (see [`Looking::carry`]).
    ///
    /// [`Looking::carry`]: crate::looking::Looking::carry
    pub fn carry(&self, plan: &mut crate::looking::FramePlan) {
        if let Some((looking, _)) = lock(&self.looking).as_ref() {
            looking.carry(plan);
        }
    }

    /// Tells the camera's lookout what a frame planned by `plan` was found to hold, once tracked.
    pub fn learn(&self, plan: &crate::looking::FramePlan, detections: &[nvt_transport::ReplyDetection]) {
        if let Some((looking, _)) = lock(&self.looking).as_mut() {
            looking.learn(plan, detections);
        }
    }

    /// Gives frame `seq`'s detections (of a `size` frame) their track ids, through the camera's
    /// object filters; returns the milliseconds it took, or `None` when the frame is not
    /// tracked. The tracker takes frames in order only: a frame older than one it has taken
    /// (several inference workers, or the fleet, can finish a feed's frames out of order) keeps
    /// its detections untracked, and must make no events (its objects would all read missed).
    pub fn track(
        &self,
        settings: &nvt_events::TrackSettings,
        seq: u64,
        detections: &mut [nvt_transport::ReplyDetection],
        size: (u32, u32),
    ) -> Option<f64> {
        let started = Instant::now();
        let mut tracker = lock(&self.tracker);
        let (tracker, last) = tracker.get_or_insert_with(|| (nvt_events::Tracker::new(settings, &self.camera), seq));
        if seq < *last {
            return None;
        }
        *last = seq;
        tracker.update(detections, size);
        Some(crate::record::ms(started.elapsed()))
    }

    /// The recent-activity record, locked.
    pub fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        lock(&self.recent)
    }

    /// Whether anyone is watching this feed's frames (a window or a web viewer), so that
    /// boxes are worth drawing.
    pub fn watched(&self) -> bool {
        self.window.is_some() || self.view.receiver_count() > 0
    }
}

/// The time in seconds on a camera's clock (from `epoch`, when its first frame arrived) of a
/// frame that arrived at `arrived`.
fn camera_time(epoch: Instant, arrived: Instant) -> f64 {
    arrived.saturating_duration_since(epoch).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_handed_on_in_order_or_not_at_all() {
        let feed = Feed::new(1, "127.0.0.1:5000".into(), "door".into(), None, Arc::default());
        let ran = Mutex::new(Vec::new());
        for seq in [5, 7, 6, 8, 8, 2, 9] {
            feed.in_order(seq, || lock(&ran).push(seq));
        }
        assert_eq!(*lock(&ran), [5, 7, 8, 9]);
        feed.close(|| {});
        feed.in_order(10, || lock(&ran).push(10));
        assert_eq!(lock(&ran).last(), Some(&9), "nothing once the feed has gone");
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
