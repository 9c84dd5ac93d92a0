//! The history as one more output of the events hub: on the hub's thread, each event is queued
//! for the store (never waited for: a full queue drops it and counts it), the clip recorder is
//! told when an object's event starts and ends, and a new best frame is queued for its
//! thumbnail.

use crate::clips::Recorder;
use crate::jobs::{HistoryCounts, Job};
use crate::row::EventRow;
use crate::store::Change;
use nvt_capture::Mat;
use nvt_events::hub::EventOutput;
use nvt_events::{Event, EventType};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Hands the hub's events to the history.
pub struct HistoryOutput {
    jobs: mpsc::Sender<Job>,
    recorder: Option<Arc<Recorder>>,
    counts: Arc<HistoryCounts>,
    thumbnails: bool,
}

impl HistoryOutput {
    pub(crate) fn new(
        jobs: mpsc::Sender<Job>,
        recorder: Option<Arc<Recorder>>,
        counts: Arc<HistoryCounts>,
        thumbnails: bool,
    ) -> Self {
        Self { jobs, recorder, counts, thumbnails }
    }

    fn queue(&self, job: Job) {
        if self.jobs.try_send(job).is_err() {
            let dropped = self.counts.dropped.fetch_add(1, Relaxed);
            if dropped.is_multiple_of(1000) {
                tracing::warn!(dropped = dropped + 1, "the event store's queue is full; events are dropped");
            }
        }
    }
}

impl EventOutput for HistoryOutput {
    fn event(&self, event: &Event) {
        self.event_with_frame(event, None);
    }

    fn event_with_frame(&self, event: &Event, best_frame: Option<&Arc<Mat>>) {
        let after = &event.after;
        if let Some(recorder) = &self.recorder {
            match event.kind {
                EventType::New => recorder.event_started(&after.id, &after.camera, after.start_time),
                EventType::End => recorder.event_ended(&after.id, after.end_time.unwrap_or(after.frame_time)),
                EventType::Update => {}
            }
        }
        self.queue(Job::Change(Change::Event(Box::new(EventRow::from_event(event)))));
        if let Some(image) = best_frame.filter(|_| self.thumbnails) {
            self.queue(Job::Thumbnail { object: Box::new(after.clone()), image: Arc::clone(image) });
        }
    }
}
