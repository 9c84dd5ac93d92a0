//! What the hub's thread does with each job: the book of objects turns frames into events, and
//! the events go to every output that is on. Only that thread touches this state, so events,
//! counts and snapshots leave in the order they were made.

use crate::book::{Emitted, ObjectBook};
use crate::mqtt::Publisher;
use crate::object::{Event, EventType};
use crate::outputs::{EventCounts, EventOutput, Outputs, Recent, RECENT_EVENTS};
use crate::pictures;
use crate::pinned::Pinned;
use crate::snapshots::SnapshotStore;
use nvt_capture::Mat;
use nvt_support::sync::lock;
use nvt_support::JsonLines;
use nvt_transport::ReplyDetection;
use opencv::prelude::*;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

/// The state behind the hub.
pub struct Dispatch {
    pub(crate) book: ObjectBook<Arc<Mat>>,
    pub(crate) log: Option<Arc<JsonLines>>,
    pub(crate) snapshots: Option<SnapshotStore>,
    pub(crate) mqtt: Option<Arc<Publisher>>,
    pub(crate) others: Vec<Box<dyn EventOutput>>,
    /// The counts last published, per camera.
    pub(crate) counts: HashMap<String, BTreeMap<String, usize>>,
    pub(crate) recent: Arc<Mutex<VecDeque<Recent>>>,
    pub(crate) made: Arc<EventCounts>,
    /// The pictures each camera's objects keep for their snapshots.
    pub(crate) pinned: Pinned,
}

impl Dispatch {
    /// The state for `outputs`, with the book it feeds.
    pub fn new(
        book: ObjectBook<Arc<Mat>>,
        outputs: Outputs,
        mqtt: Option<Arc<Publisher>>,
        recent: Arc<Mutex<VecDeque<Recent>>>,
        made: Arc<EventCounts>,
    ) -> Self {
        Self {
            book,
            log: outputs.log,
            snapshots: outputs.snapshots,
            mqtt,
            others: outputs.others,
            counts: HashMap::new(),
            recent,
            made,
            pinned: Pinned::default(),
        }
    }

    /// One processed frame of `camera`, `size` its width and height; its first makes the
    /// camera known to MQTT. A frame whose `image` is empty (not decoded whole) is never an
    /// object's best frame.
    pub fn frame(
        &mut self,
        camera: &str,
        frame_time: f64,
        size: (u32, u32),
        detections: &[ReplyDetection],
        image: &Arc<Mat>,
    ) {
        if let Some(mqtt) = self.mqtt.as_ref().filter(|_| !self.counts.contains_key(camera)) {
            mqtt.camera(camera);
        }
        let pinned = &mut self.pinned;
        let picture = || if image.empty() { None } else { pinned.keep(camera, image) };
        let emitted = self.book.observe(camera, frame_time, size, detections, picture);
        self.made.objects_refused.store(self.book.refused(), Relaxed);
        self.send(emitted);
        self.publish_counts(camera);
    }

    /// Objects gone for longer than the timeout at `now` end.
    pub fn expire(&mut self, now: f64) {
        let emitted = self.book.expire(now);
        let mut cameras: Vec<String> = emitted.iter().map(|e| e.event.after.camera.clone()).collect();
        cameras.dedup();
        self.send(emitted);
        for camera in cameras {
            self.publish_counts(&camera);
        }
    }

    /// A camera disconnected at `time`: its objects end, its counts drop to zero, MQTT marks it
    /// unavailable.
    pub fn left(&mut self, camera: &str, time: f64) {
        let emitted = self.book.camera_left(camera, time);
        self.send(emitted);
        self.pinned.forget(camera);
        // A camera that processed no frame was never known to MQTT.
        if self.counts.contains_key(camera) {
            self.publish_counts(camera);
            self.counts.remove(camera);
            if let Some(mqtt) = &self.mqtt {
                mqtt.camera_left(camera);
            }
        }
    }

    fn send(&mut self, emitted: Vec<Emitted<Arc<Mat>>>) {
        for Emitted { event, best_frame } in emitted {
            let counter = match event.kind {
                EventType::New => &self.made.new,
                EventType::Update => &self.made.update,
                EventType::End => &self.made.end,
            };
            counter.fetch_add(1, Relaxed);
            let jpeg = best_frame.as_ref().and_then(|image| pictures::saved(&event.after, image)).map(Arc::new);
            if let Some(jpeg) = &jpeg {
                self.save_snapshot(&event, jpeg);
            }
            if let (Some(mqtt), Some(image)) = (&self.mqtt, &best_frame) {
                if let Some(picture) = pictures::mqtt(&event.after, image, &mqtt.picture()) {
                    mqtt.snapshot(&event.after.camera, &event.after.label, picture);
                }
            }
            if let Some(log) = &self.log {
                if let Err(error) = log.write(&event) {
                    tracing::error!(%error, "cannot write the events file");
                }
            }
            if let Some(mqtt) = &self.mqtt {
                match serde_json::to_vec(&event) {
                    Ok(json) => mqtt.event(json),
                    Err(error) => tracing::error!(%error, "cannot encode an event"),
                }
            }
            for other in &self.others {
                other.event_with_frame(&event, best_frame.as_ref());
            }
            let mut recent = lock(&self.recent);
            // An event without a new snapshot keeps showing the object's last one.
            let jpeg = jpeg.or_else(|| {
                recent.iter().rev().find(|r| r.event.after.id == event.after.id).and_then(|r| r.jpeg.clone())
            });
            recent.push_back(Recent { event, jpeg });
            while recent.len() > RECENT_EVENTS {
                recent.pop_front();
            }
        }
    }

    fn save_snapshot(&mut self, event: &Event, jpeg: &[u8]) {
        let Some(file) = event.after.snapshot.as_ref().and_then(|s| s.file.as_deref()) else { return };
        let Some(store) = self.snapshots.as_mut() else { return };
        if let Err(error) = store.save(file, jpeg) {
            self.made.snapshot_errors.fetch_add(1, Relaxed);
            tracing::warn!(%error, "cannot save a snapshot");
        }
    }

    /// Publishes the counts of `camera` that changed since the last time.
    fn publish_counts(&mut self, camera: &str) {
        let Some(mqtt) = &self.mqtt else { return };
        let now = self.book.counts(camera);
        let first = !self.counts.contains_key(camera);
        let before = self.counts.entry(camera.to_owned()).or_default();
        if !first && *before == now {
            return;
        }
        let mut changed: BTreeMap<String, usize> =
            before.keys().filter(|label| !now.contains_key(*label)).map(|label| (label.clone(), 0)).collect();
        changed.extend(now.iter().filter(|(label, n)| before.get(*label) != Some(n)).map(|(l, n)| (l.clone(), *n)));
        let all = now.values().sum();
        *before = now;
        mqtt.counts(camera, &changed, all);
    }
}
