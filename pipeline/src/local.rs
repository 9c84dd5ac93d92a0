//! The detector stage: one or more inference workers serve the feeds in turn, always taking
//! each feed's newest frame, so a busy feed cannot starve the others and no feed's frames
//! queue up behind the model.
//!
//! Each worker is a pair of threads. The inference thread owns an ONNX Runtime session and does
//! nothing but run it, post-process and finish frames. Its preparer thread picks the next feed,
//! decodes that feed's newest JPEG and fits it into a spare input tensor *just before* the
//! session is due to be free: late enough that the frame is as fresh as it can be, early enough
//! that the session never waits for it. Frames that are superseded before their turn are never
//! decoded at all.

use crate::detection::{DetectionState, Watch};
use crate::feed::{Feed, Incoming};
use crate::frame::{self, Decoded, Output, Results};
use crate::looking::{self, FramePlan};
use crate::panics;
use crate::record::ms;
use crate::stage::FrameStage;
use nvt_capture::Mat;
use nvt_detect::{DetectError, Detection, Detector, Prepared, Preparer};
use nvt_support::sync::lock;
use nvt_transport::Looked;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a thread waits before looking again at a stop request it was not woken for.
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// The inference workers and the feeds they serve.
pub struct DetectorStage {
    shared: Arc<Shared>,
    workers: Vec<Arc<Worker>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What every worker shares: the feeds, and the signal that one of them has a new frame.
struct Shared {
    feeds: Mutex<Roster>,
    /// Bumped on every new frame; preparers with nothing to do sleep on it.
    arrivals: Mutex<u64>,
    arrived: Condvar,
    stop: AtomicBool,
    output: Arc<Output>,
    max_pixels: u64,
    /// Whether the model gives frames their detections (it can load and then fail on every one).
    watch: Mutex<Watch>,
    /// At most one frame of a feed between being taken and being finished: with `--detect
    /// motion` and several workers, a frame the detector skips must not overtake the one before
    /// it (which the tracker would then refuse), and each is planned from the one before.
    one_per_feed: bool,
}

/// The feeds, and where the round robin goes next.
#[derive(Default)]
struct Roster {
    feeds: Vec<Arc<Feed>>,
    next: usize,
}

/// One inference worker: the hand-over between its preparer and inference threads.
struct Worker {
    state: Mutex<WorkerState>,
    changed: Condvar,
}

struct WorkerState {
    /// A prepared frame waiting for the session.
    ready: Option<Job>,
    /// A new model for this worker, loaded and warmed up elsewhere, to swap in between frames.
    pending: Option<Detector>,
    /// When the session took the frame it is on now; `None` while it waits.
    busy_since: Option<Instant>,
    /// Spare input tensors (two in all circulate: one being prepared, one being run).
    spare: Vec<Prepared>,
    /// How the current model wants its input.
    preparer: Preparer,
    /// Typical time from taking a frame to being ready for the next (inference, post-processing,
    /// finishing), and typical time to decode and prepare one: together they say when to start
    /// preparing the next frame.
    busy_estimate: Duration,
    prepare_estimate: Duration,
}

/// A frame decoded and prepared, with the feed it belongs to.
struct Job {
    feed: Arc<Feed>,
    frame: Decoded,
    input: Prepared,
    /// Where the detector looks on it (`--detect motion`): `input` holds its first region, or
    /// nothing when it looks nowhere.
    plan: Option<FramePlan>,
}

/// Moves a running estimate a quarter of the way towards a new measurement.
fn smooth(estimate: &mut Duration, sample: Duration) {
    *estimate = estimate.mul_f64(0.75) + sample.mul_f64(0.25);
}

impl DetectorStage {
    /// Starts one inference worker per detector (each owns its session), sending finished frames
    /// to `output`. Frames larger than `max_pixels` are refused before decoding.
    pub fn start(detectors: Vec<Detector>, output: Arc<Output>, max_pixels: u64) -> std::io::Result<Self> {
        let output_looks = output.look.is_some();
        let shared = Arc::new(Shared {
            feeds: Mutex::default(),
            arrivals: Mutex::new(0),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            output,
            max_pixels,
            watch: Mutex::default(),
            one_per_feed: output_looks && detectors.len() > 1,
        });
        let mut stage = Self { shared, workers: Vec::new(), threads: Mutex::default() };
        for (n, detector) in detectors.into_iter().enumerate() {
            if let Err(error) = stage.start_worker(n, detector) {
                stage.stop_threads();
                return Err(error);
            }
        }
        Ok(stage)
    }

    /// Starts worker `n`'s inference and preparer threads around `detector`.
    fn start_worker(&mut self, n: usize, detector: Detector) -> std::io::Result<()> {
        let worker = Arc::new(Worker {
            state: Mutex::new(WorkerState {
                ready: None,
                pending: None,
                busy_since: None,
                spare: Vec::new(),
                preparer: detector.preparer(),
                busy_estimate: detector.warm_up_time(),
                prepare_estimate: Duration::ZERO,
            }),
            changed: Condvar::new(),
        });
        self.workers.push(Arc::clone(&worker));
        // A panic (a model or frame that trips a bug) costs the frame in hand, never the worker.
        let (shared, w) = (Arc::clone(&self.shared), Arc::clone(&worker));
        let infer = move || {
            let mut detector = detector;
            panics::restarted(&shared.output.metrics, "detector", || infer_loop(&mut detector, &w, &shared));
        };
        let (shared, w) = (Arc::clone(&self.shared), worker);
        let prepare = move || panics::restarted(&shared.output.metrics, "preparer", || prepare_loop(&w, &shared));
        let threads = self.threads.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        threads.push(std::thread::Builder::new().name(format!("detector {n}")).spawn(infer)?);
        threads.push(std::thread::Builder::new().name(format!("preparer {n}")).spawn(prepare)?);
        Ok(())
    }

    /// How many inference workers there are (one session each).
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Hands over new models, one per worker; each worker swaps its own in before its next frame.
    pub fn offer(&self, detectors: Vec<Detector>) {
        for (worker, detector) in self.workers.iter().zip(detectors) {
            lock(&worker.state).pending = Some(detector);
            worker.changed.notify_all();
        }
    }

    /// Finishes the frames in hand and stops the threads.
    fn stop_threads(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.arrived.notify_all();
        for worker in &self.workers {
            worker.changed.notify_all();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl FrameStage for DetectorStage {
    fn register(&self, feed: &Arc<Feed>) -> std::io::Result<()> {
        lock(&self.shared.feeds).feeds.push(Arc::clone(feed));
        Ok(())
    }

    fn frame_arrived(&self, _client: &Feed) {
        *lock(&self.shared.arrivals) += 1;
        self.shared.arrived.notify_all();
    }

    /// A frame of the feed still waiting is dropped.
    fn unregister(&self, feed: &Arc<Feed>) {
        lock(&self.shared.feeds).feeds.retain(|c| !Arc::ptr_eq(c, feed));
    }

    fn stop(&self) {
        self.stop_threads();
    }

    /// One state for every feed: they share the model.
    fn detection(&self, _feed: Option<&Feed>, now: Instant) -> crate::Detection {
        lock(&self.shared.watch).read(now)
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Round robin: the newest frame of the first feed after the last one served that has one.
    fn take_next(&self) -> Option<(Arc<Feed>, Incoming)> {
        let mut roster = lock(&self.feeds);
        let n = roster.feeds.len();
        (0..n).find_map(|i| {
            let at = (roster.next + i) % n;
            let feed = Arc::clone(&roster.feeds[at]);
            if self.one_per_feed && feed.in_detector.swap(true, Ordering::AcqRel) {
                return None;
            }
            let Some(frame) = feed.frames.try_take() else {
                feed.in_detector.store(false, Ordering::Release);
                return None;
            };
            roster.next = at + 1;
            Some((feed, frame))
        })
    }
}

/// The preparer thread: waits until the session is nearly free, then decodes and prepares the
/// next feed's newest frame into a spare tensor.
fn prepare_loop(worker: &Worker, shared: &Shared) {
    while let Some((preparer, mut input)) = wait_for_turn(worker, shared) {
        let seen = *lock(&shared.arrivals);
        let Some((feed, incoming)) = shared.take_next() else {
            lock(&worker.state).spare.push(input);
            let arrivals = lock(&shared.arrivals);
            let _ = shared.arrived.wait_timeout_while(arrivals, LOOK_AGAIN, |a| *a == seen && !shared.stopped());
            continue;
        };
        let started = Instant::now();
        let look = shared.output.look.as_ref();
        let frame = prepare(&feed, incoming, &preparer, &mut input, shared.max_pixels, look);
        let mut state = lock(&worker.state);
        match frame {
            Some((frame, plan)) => {
                smooth(&mut state.prepare_estimate, started.elapsed());
                state.ready = Some(Job { feed, frame, input, plan });
                worker.changed.notify_all();
            }
            None => {
                state.spare.push(input);
                feed.in_detector.store(false, Ordering::Release);
            }
        }
    }
}

/// Decodes a feed's frame, plans where the detector looks on it with `look` (`--detect motion`),
/// and fits the whole frame or its first region into `input`; a failure is counted and logged,
/// and costs only this frame.
fn prepare(
    feed: &Feed,
    incoming: Incoming,
    preparer: &Preparer,
    input: &mut Prepared,
    max_pixels: u64,
    look: Option<&Arc<nvt_motion::LookSettings>>,
) -> Option<(Decoded, Option<FramePlan>)> {
    let (frame, plan) = match look {
        Some(settings) => planned(feed, incoming, max_pixels, settings, preparer.input_size)?,
        None => (frame::decode(feed, incoming, max_pixels)?, None),
    };
    let prepared = match &plan {
        Some(plan) if plan.looked == Looked::None => Ok(()),
        Some(plan) if plan.looked == Looked::Regions => {
            looking::prepare_region(preparer, &frame.image, plan.rects[0], input)
        }
        _ => preparer.prepare(&frame.image, input),
    };
    match prepared {
        Ok(()) => Some((frame, plan)),
        Err(error) => {
            feed.bump(|c| &c.detect_errors);
            if let Some(held_back) = feed.may_warn() {
                tracing::warn!(peer = %feed.peer, seq = frame.seq, %error, held_back_since_last = held_back, "cannot prepare the frame");
            }
            None
        }
    }
}

/// Plans a feed's frame (`--detect motion`), decoding it whole only when the plan or the feed
/// needs it: a frame after one the detector ran on, a moment after an object came or moved, or
/// of a camera someone watches, is decoded whole and planned from that ([`Feed::needs_whole`]);
/// any other is planned from its JPEG alone, and decoded whole after only if the detector runs
/// on it. A frame the detector skips
/// (nothing moves; tracked objects are carried over) costs a small grey decode, and only the
/// first frame the detector runs on after such frames is decoded twice. A frame that cannot be
/// decoded is counted and logged, and costs only itself.
fn planned(
    feed: &Feed,
    incoming: Incoming,
    max_pixels: u64,
    settings: &Arc<nvt_motion::LookSettings>,
    input: (u32, u32),
) -> Option<(Decoded, Option<FramePlan>)> {
    if feed.needs_whole(incoming.arrived) {
        return planned_whole(feed, incoming, max_pixels, settings, input);
    }
    let started = Instant::now();
    let size = nvt_capture::jpeg::check_header(&incoming.payload, max_pixels);
    let planned = size.and_then(|size| {
        let (plan, whole) = feed.plan_jpeg(settings, &incoming.payload, size, max_pixels, incoming.arrived, input)?;
        Ok((size, plan, whole))
    });
    let (size, plan, whole) = match planned {
        Ok(planned) => planned,
        // A picture the reduced decode does not give at its header's size (an orientation tag
        // turns it, as the whole decode does) is decoded whole and planned from that, as after
        // a detector run; one that cannot be decoded whole either is counted and logged there.
        Err(error) => {
            tracing::debug!(peer = %feed.peer, seq = incoming.seq, %error, "no plan from the JPEG: decoded whole");
            return planned_whole(feed, incoming, max_pixels, settings, input);
        }
    };
    if whole {
        let mut frame = frame::decode(feed, incoming, max_pixels)?;
        feed.saw_whole(&frame.image);
        frame.decode_ms = ms(started.elapsed());
        return Some((frame, Some(plan)));
    }
    let (seq, arrived, lag) = (incoming.seq, incoming.arrived, incoming.lag);
    let frame = Decoded { seq, image: Mat::default(), size, arrived, lag, decode_ms: ms(started.elapsed()) };
    Some((frame, Some(plan)))
}

/// Decodes a feed's frame whole and plans it from that picture ([`Feed::plan_whole`]); a frame
/// that cannot be decoded is counted and logged by [`frame::decode`].
fn planned_whole(
    feed: &Feed,
    incoming: Incoming,
    max_pixels: u64,
    settings: &Arc<nvt_motion::LookSettings>,
    input: (u32, u32),
) -> Option<(Decoded, Option<FramePlan>)> {
    let frame = frame::decode(feed, incoming, max_pixels)?;
    let plan = feed.plan_whole(settings, &frame.image, frame.arrived, input);
    Some((frame, Some(plan)))
}

/// Blocks until it is time to prepare the next frame: the session is idle, or will be within
/// about the time a preparation takes (with a margin, so that it is the frame, not the session,
/// that waits). Returns the current model's preparer and a spare tensor, or `None` on stop.
fn wait_for_turn(worker: &Worker, shared: &Shared) -> Option<(Preparer, Prepared)> {
    let mut state = lock(&worker.state);
    loop {
        if shared.stopped() {
            return None;
        }
        let wait = match (&state.ready, state.busy_since) {
            (Some(_), _) => LOOK_AGAIN,
            (None, None) => break,
            (None, Some(since)) => {
                let due = prepare_from(since, state.busy_estimate, state.prepare_estimate);
                match due.checked_duration_since(Instant::now()) {
                    Some(wait) if !wait.is_zero() => wait,
                    _ => break,
                }
            }
        };
        state = worker.changed.wait_timeout(state, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0;
    }
    let input = state.spare.pop().unwrap_or_default();
    Some((state.preparer, input))
}

/// When to start preparing the next frame, for a session busy since `since` that typically stays
/// busy `busy` and a preparation that typically takes `prepare`: a quarter more than a
/// preparation, plus a tenth of the busy time and a millisecond, before the session is due to be
/// free, so that the frame waits for the session and never the session for the frame.
fn prepare_from(since: Instant, busy: Duration, prepare: Duration) -> Instant {
    let lead = prepare.mul_f64(1.25) + busy / 10 + Duration::from_millis(1);
    since + busy.saturating_sub(lead)
}

/// What the inference thread does next.
enum Next {
    Run(Box<Job>),
    /// Nothing ready yet: wait again.
    LookAgain,
    Stop,
}

/// The inference thread: takes prepared frames as they become ready and runs the model on them.
fn infer_loop(detector: &mut Detector, worker: &Worker, shared: &Shared) {
    let metrics = &shared.output.metrics;
    loop {
        let waiting = Instant::now();
        let next = next_job(worker, shared);
        let taken = Instant::now();
        metrics.detector_idle_seconds.inc_by((taken - waiting).as_secs_f64());
        // A model offered while this worker waited takes over before the frame it waited for.
        let offered = lock(&worker.state).pending.take();
        if let Some(new) = offered {
            swap(detector, new, worker, &shared.output);
        }
        let Job { feed, frame, mut input, plan } = match next {
            Next::Run(job) => *job,
            Next::LookAgain => continue,
            Next::Stop => return,
        };
        let result = detect(detector, &frame, &mut input, plan.as_ref());
        let ran = result.as_ref().is_ok_and(|(_, _, runs)| *runs > 0);
        lock(&worker.state).spare.push(input);
        process(detector, &feed, frame, result, plan, shared);
        feed.in_detector.store(false, Ordering::Release);
        let busy = taken.elapsed();
        metrics.detector_busy_seconds.inc_by(busy.as_secs_f64());
        let mut state = lock(&worker.state);
        state.busy_since = None;
        // A frame the detector did not run on says nothing of how long a run takes.
        if ran {
            smooth(&mut state.busy_estimate, busy);
        }
        worker.changed.notify_all();
    }
}

/// Waits for the preparer's next frame (or a new model) and marks the session busy with it.
fn next_job(worker: &Worker, shared: &Shared) -> Next {
    let mut state = lock(&worker.state);
    if state.ready.is_none() && state.pending.is_none() && !shared.stopped() {
        state = worker.changed.wait_timeout(state, LOOK_AGAIN).unwrap_or_else(std::sync::PoisonError::into_inner).0;
    }
    match state.ready.take() {
        Some(job) => {
            state.busy_since = Some(Instant::now());
            worker.changed.notify_all();
            Next::Run(Box::new(job))
        }
        None if shared.stopped() => Next::Stop,
        None => Next::LookAgain,
    }
}

/// Puts a newly loaded model in place of the old one, between two frames.
fn swap(detector: &mut Detector, new: Detector, worker: &Worker, output: &Output) {
    let old = std::mem::replace(detector, new);
    let new = &*detector;
    let info = new.info();
    let what = if old.info().id == info.id { "model reloaded; its file has not changed" } else { "model swapped" };
    tracing::info!(
        from = %old.info().id,
        to = %info.id,
        layout = %info.layout,
        classes = info.names.len(),
        load_ms = format!("{:.1}", ms(new.load_time())),
        warm_up_ms = format!("{:.1}", ms(new.warm_up_time())),
        "{what}"
    );
    let metrics = &output.metrics;
    metrics.model_info.reset();
    metrics.model_info.with_label_values(&[&info.id]).set(1.0);
    metrics.model_load_seconds.set(new.load_time().as_secs_f64());
    {
        let mut state = lock(&worker.state);
        state.preparer = new.preparer();
        state.busy_estimate = new.warm_up_time();
    }
    // The old session is released here, on this thread, between frames.
    drop(old);
}

/// Runs the model where `plan` says (everywhere without one) on a frame whose whole or first
/// region is in `input`; returns the detections in frame pixels, the stages' times and the
/// number of runs. A frame prepared for the model swapped out just now is prepared again for
/// this one.
fn detect(
    detector: &mut Detector,
    frame: &Decoded,
    input: &mut Prepared,
    plan: Option<&FramePlan>,
) -> Result<(Vec<Detection>, nvt_detect::Timings, u64), DetectError> {
    match plan {
        Some(plan) if plan.looked == Looked::None => Ok((Vec::new(), nvt_detect::Timings::default(), 0)),
        Some(plan) if plan.looked == Looked::Regions => {
            looking::detect_regions(detector, &frame.image, &plan.rects, input, true)
        }
        _ => {
            let preparer = detector.preparer();
            if !input.is_for(&preparer) {
                preparer.prepare(&frame.image, input)?;
            }
            let (detections, timings) = detector.run(input)?;
            Ok((detections, timings, 1))
        }
    }
}

fn process(
    detector: &Detector,
    feed: &Feed,
    frame: Decoded,
    result: Result<(Vec<Detection>, nvt_detect::Timings, u64), DetectError>,
    plan: Option<FramePlan>,
    shared: &Shared,
) {
    let (detections, timings, runs) = match result {
        Ok(found) => {
            if found.2 > 0 {
                lock(&shared.watch).answered(Instant::now());
            }
            found
        }
        Err(error) => {
            let why = format!("the model {} fails on the frames: {error}", detector.info().id);
            lock(&shared.watch).failed(crate::Detection::not(DetectionState::ModelFailed, why), Instant::now());
            feed.bump(|c| &c.detect_errors);
            if let Some(held_back) = feed.may_warn() {
                tracing::warn!(peer = %feed.peer, seq = frame.seq, %error, held_back_since_last = held_back, "detection failed");
            }
            return;
        }
    };
    let results = Results {
        model: detector.info().id.clone(),
        detections: detections.iter().map(crate::record::to_record).collect(),
        timings,
        remote: None,
        look: plan,
        runs,
    };
    frame::finish(feed, &shared.output, frame, Some(results));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use crate::metrics::Metrics;
    use bytes::Bytes;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A camera whose JPEGs carry an orientation tag (a phone held upright): the decoder turns
    /// the picture, so the reduced grey one is not its header's size. Every frame is decoded
    /// whole instead (turned, as the web view and the snapshots show it), and none is lost.
    #[test]
    fn a_turned_jpeg_is_decoded_whole_and_planned_not_dropped() {
        use opencv::prelude::MatTraitConst;
        let image = Mat::new_rows_cols_with_default(720, 1280, opencv::core::CV_8UC3, opencv::core::Scalar::all(90.0))
            .expect("mat");
        let jpeg = nvt_capture::jpeg::encode(&image, 90).expect("jpeg");
        // An APP1 Exif segment after the start of image: one IFD entry, orientation 6 (turned
        // 90 degrees clockwise), big-endian.
        let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
        let mut turned = vec![0xFF, 0xD8, 0xFF, 0xE1];
        turned.extend_from_slice(&u16::try_from(exif.len() + 2).expect("short").to_be_bytes());
        turned.append(&mut exif);
        turned.extend_from_slice(&jpeg[2..]);
        assert!(
            crate::picture::motion_picture_of_jpeg(&turned, (1280, 720), 1 << 24).is_err(),
            "the tag turns the picture"
        );
        let feed = Feed::new(1, "127.0.0.1:5000".into(), "door".into(), None, Arc::default());
        let settings = Arc::new(nvt_motion::LookSettings::default());
        for seq in 0..3 {
            let incoming =
                Incoming { seq, payload: Bytes::from(turned.clone()), arrived: Instant::now(), lag: Duration::ZERO };
            let (frame, plan) = planned(&feed, incoming, 1 << 24, &settings, (320, 320)).expect("planned, not dropped");
            assert_eq!((frame.image.cols(), frame.image.rows(), frame.size), (720, 1280, (720, 1280)), "frame {seq}");
            assert!(plan.is_some());
        }
        assert_eq!(feed.counters.decode_errors.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn preparation_starts_just_before_the_session_is_due_to_be_free() {
        let t0 = Instant::now();
        // Inference takes 100 ms, preparation 8 ms: start at 100 - (10 + 10 + 1) = 79 ms.
        assert_eq!(prepare_from(t0, ms(100), ms(8)), t0 + ms(79));
        // A session faster than a preparation: start at once, never late.
        assert_eq!(prepare_from(t0, ms(4), ms(8)), t0);
        // Nothing known yet (no estimates): at once.
        assert_eq!(prepare_from(t0, Duration::ZERO, Duration::ZERO), t0);
    }

    fn shared_with(n: usize) -> (Shared, Vec<Arc<Feed>>) {
        let totals = Arc::new(Counters::default());
        let metrics = Arc::new(Metrics::new(Arc::clone(&totals)));
        let shared = Shared {
            feeds: Mutex::default(),
            arrivals: Mutex::new(0),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            output: Arc::new(Output {
                sinks: Vec::new(),
                metrics,
                track: nvt_events::TrackSettings::default(),
                look: None,
            }),
            max_pixels: 1 << 24,
            watch: Mutex::default(),
            one_per_feed: false,
        };
        let feeds: Vec<Arc<Feed>> = (0..n)
            .map(|i| Arc::new(Feed::new(i as u64, format!("peer{i}"), format!("camera{i}"), None, Arc::clone(&totals))))
            .collect();
        lock(&shared.feeds).feeds.extend(feeds.iter().cloned());
        (shared, feeds)
    }

    fn give(feed: &Feed, seq: u64) {
        let incoming = Incoming { seq, payload: Bytes::new(), arrived: Instant::now(), lag: Duration::ZERO };
        feed.frames.put(incoming);
    }

    #[test]
    fn clients_are_served_in_turn_and_those_without_a_frame_are_passed_over() {
        let (shared, feeds) = shared_with(3);
        let served = |shared: &Shared| shared.take_next().map(|(c, f)| (c.id, f.seq));
        for c in &feeds {
            give(c, 1);
        }
        assert_eq!(served(&shared), Some((0, 1)));
        give(&feeds[0], 2);
        assert_eq!(served(&shared), Some((1, 1)), "the next feed, not the one just served again");
        assert_eq!(served(&shared), Some((2, 1)));
        assert_eq!(served(&shared), Some((0, 2)));
        assert_eq!(served(&shared), None, "nobody has a frame");
        give(&feeds[2], 3);
        give(&feeds[2], 4);
        assert_eq!(served(&shared), Some((2, 4)), "newest wins: frame 3 was superseded");
    }
}
