//! The hub: every camera's tracked detections come in, events go out to every output that is
//! on: the `--events` file, the `--snapshots` folder, MQTT, and the list the web view shows.
//!
//! The work (drawing and encoding snapshots, writing files, handing events to MQTT) runs on a
//! thread of the hub's own, so that a slow disk or a stuck pipe never holds up detection: the
//! detection threads only queue jobs. A server drops frames the queue has no room for (they
//! still make records and replies; only their part in events is skipped, and counted);
//! `nvt-detect` waits instead, so that a video's events do not depend on the machine's speed.

use crate::book::{EventSettings, ObjectBook};
use crate::dispatch::Dispatch;
use crate::mqtt::Publisher;
pub use crate::outputs::{EventCounts, EventOutput, Outputs, Recent, RECENT_EVENTS};
use nvt_capture::Mat;
use nvt_support::sync::lock;
use nvt_transport::ReplyDetection;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Frames waiting for the hub's thread, at most (a server drops the ones past it).
const MAX_QUEUED_FRAMES: usize = 64;

enum Job {
    Frame { camera: String, time: f64, size: (u32, u32), detections: Vec<ReplyDetection>, image: Arc<Mat> },
    Left(String, f64),
    Expire(f64),
    AddOutput(Box<dyn EventOutput>),
}

/// Turns tracked detections into events and hands them out.
pub struct Hub {
    jobs: Mutex<Option<Sender<Job>>>,
    queued_frames: Arc<AtomicUsize>,
    expiry_queued: Arc<AtomicBool>,
    lossless: bool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    mqtt: Option<Arc<Publisher>>,
    recent: Arc<Mutex<VecDeque<Recent>>>,
    /// Unix seconds at `started`: the hub's clock runs from there on the monotonic clock, so
    /// that a wall clock stepped back cannot stall updates and ends.
    epoch: f64,
    started: Instant,
    /// What the hub has done so far.
    pub made: Arc<EventCounts>,
}

impl Hub {
    /// A hub sending events to `outputs`; `lossless` makes [`Hub::frame`] wait for room in the
    /// queue instead of dropping (for `nvt-detect`).
    pub fn new(mut settings: EventSettings, mut outputs: Outputs, lossless: bool) -> Self {
        settings.snapshot_files = outputs.snapshots.is_some();
        let mqtt = outputs.mqtt.take().map(Arc::new);
        let recent: Arc<Mutex<VecDeque<Recent>>> = Arc::default();
        let made: Arc<EventCounts> = Arc::default();
        let mut dispatch =
            Dispatch::new(ObjectBook::new(settings), outputs, mqtt.clone(), Arc::clone(&recent), Arc::clone(&made));
        let (sender, jobs) = channel::<Job>();
        let (queued_frames, expiry_queued) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (queued, expiring) = (Arc::clone(&queued_frames), Arc::clone(&expiry_queued));
        let thread = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for job in jobs {
                    match job {
                        Job::Frame { camera, time, size, detections, image } => {
                            queued.fetch_sub(1, Relaxed);
                            dispatch.frame(&camera, time, size, &detections, &image);
                        }
                        Job::Left(camera, time) => dispatch.left(&camera, time),
                        Job::Expire(now) => {
                            expiring.store(false, Relaxed);
                            dispatch.expire(now);
                        }
                        Job::AddOutput(output) => dispatch.others.push(output),
                    }
                }
            })
            .map_err(|error| tracing::error!(%error, "cannot start the events thread; no events will be made"))
            .ok();
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Self {
            jobs: Mutex::new(thread.as_ref().map(|_| sender)),
            queued_frames,
            expiry_queued,
            lossless,
            thread: Mutex::new(thread),
            mqtt,
            recent,
            epoch,
            started: Instant::now(),
            made,
        }
    }

    /// Unix seconds now, by the hub's clock.
    pub fn now(&self) -> f64 {
        self.epoch + self.started.elapsed().as_secs_f64()
    }

    /// The MQTT publisher, when there is one.
    pub fn mqtt(&self) -> Option<&Publisher> {
        self.mqtt.as_deref()
    }

    /// One processed frame of `camera`, `size` its width and height, its detections tracked;
    /// `image` is the frame without boxes, for snapshots (empty when the frame was not decoded
    /// whole: its detections were all carried over, and it is never an object's best frame).
    /// `frame_time` is in the hub's clock ([`Hub::now`]) on the server, in seconds into the video
    /// for `nvt-detect`.
    pub fn frame(
        &self,
        camera: &str,
        frame_time: f64,
        size: (u32, u32),
        detections: &[ReplyDetection],
        image: &Arc<Mat>,
    ) {
        if self.lossless {
            while self.queued_frames.load(Relaxed) >= MAX_QUEUED_FRAMES {
                std::thread::sleep(Duration::from_millis(1));
            }
        } else if self.queued_frames.load(Relaxed) >= MAX_QUEUED_FRAMES {
            self.made.frames_skipped.fetch_add(1, Relaxed);
            return;
        }
        self.queued_frames.fetch_add(1, Relaxed);
        let job = Job::Frame {
            camera: camera.to_owned(),
            time: frame_time,
            size,
            detections: detections.to_vec(),
            image: Arc::clone(image),
        };
        if !self.queue(job) {
            self.queued_frames.fetch_sub(1, Relaxed);
        }
    }

    /// Ends the events of objects gone for longer than the timeout (at most one such job waits
    /// at a time).
    pub fn expire(&self) {
        if !self.expiry_queued.swap(true, Relaxed) && !self.queue(Job::Expire(self.now())) {
            self.expiry_queued.store(false, Relaxed);
        }
    }

    /// Sends every event from now on to `output` as well.
    pub fn add_output(&self, output: Box<dyn EventOutput>) {
        self.queue(Job::AddOutput(output));
    }

    /// A camera disconnected at `time` (the hub's clock, or seconds into the video): its objects
    /// end, its counts drop to zero.
    pub fn camera_left(&self, camera: &str, time: f64) {
        self.queue(Job::Left(camera.to_owned(), time));
    }

    /// The latest events, newest first.
    pub fn recent(&self) -> Vec<Recent> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    /// The snapshot of a recent event.
    pub fn snapshot(&self, id: &str) -> Option<Arc<Vec<u8>>> {
        lock(&self.recent).iter().rev().find(|r| r.event.after.id == id).and_then(|r| r.jpeg.clone())
    }

    /// Finishes the jobs queued, then stops the MQTT publisher (waiting up to `patience` for
    /// the events still buffered for the broker) and flushes the events file.
    pub fn stop(&self, patience: Duration) {
        drop(lock(&self.jobs).take());
        if let Some(thread) = lock(&self.thread).take() {
            // A thread stuck on a disk or a pipe nobody reads must not hold the process.
            let (done, finished) = channel();
            let joiner = std::thread::spawn(move || {
                let _ = thread.join();
                let _ = done.send(());
            });
            if finished.recv_timeout(patience + Duration::from_secs(2)).is_ok() {
                let _ = joiner.join();
            } else {
                tracing::warn!("the events thread did not finish in time; leaving it");
            }
        }
        if let Some(mqtt) = &self.mqtt {
            mqtt.stop(patience);
        }
    }

    fn queue(&self, job: Job) -> bool {
        lock(&self.jobs).as_ref().is_some_and(|jobs| jobs.send(job).is_ok())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
