//! Whether detection is happening, and if not, why: the state the web view and `/api/clients`
//! show, so that a camera whose frames get no detections (no worker answers, no model, a model
//! that fails) says so where people look instead of only in the log.
//!
//! A stage keeps a [`Watch`] per camera (or one for all): each outcome of a frame goes in, and
//! [`Watch::read`] tells the state. One good answer in the last [`HOLD`] keeps a camera `ok`
//! through a stray failure (one broken worker among several), so that the state does not flicker.

use serde::Serialize;
use std::time::{Duration, Instant};

/// How long after its last answer a camera still counts as detected, whatever failed since.
pub const HOLD: Duration = Duration::from_secs(2);

/// What detection is doing for a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionState {
    /// Frames get detections.
    Ok,
    /// No frame has been through detection yet.
    Pending,
    /// `--nats`: no worker answers (none listens, the broker is away, or none answers in time).
    NoWorkers,
    /// The server runs without a model or workers: frames are only decoded.
    NoModel,
    /// The model fails on the frames.
    ModelFailed,
    /// Frames fail on their way to detection (too large for the broker, a worker's bad reply).
    Failing,
}

/// The state and, unless it is `ok`, a sentence saying why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// What detection is doing.
    pub state: DetectionState,
    /// Why, for people (empty when `ok`).
    pub reason: String,
}

impl Detection {
    /// Detection is happening.
    pub fn ok() -> Self {
        Self { state: DetectionState::Ok, reason: String::new() }
    }

    /// Not happening (or not yet), for `reason`.
    pub fn not(state: DetectionState, reason: impl Into<String>) -> Self {
        Self { state, reason: reason.into() }
    }

    /// Nothing has been through detection yet.
    pub fn pending() -> Self {
        Self::not(DetectionState::Pending, "no frame has been through detection yet")
    }
}

/// The outcomes of one camera's frames (or all of a stage's), as [`Detection`] reads them.
#[derive(Debug, Default)]
pub struct Watch {
    answered: Option<Instant>,
    problem: Option<(Detection, Instant)>,
}

impl Watch {
    /// A frame got its detections at `now`.
    pub fn answered(&mut self, now: Instant) {
        self.answered = Some(now);
    }

    /// A frame got none, for `why`, at `now`.
    pub fn failed(&mut self, why: Detection, now: Instant) {
        self.problem = Some((why, now));
    }

    /// The state at `now`: `ok` while the last answer is within [`HOLD`] or newer than the last
    /// failure; else the last failure; `pending` before anything happened.
    pub fn read(&self, now: Instant) -> Detection {
        match (&self.answered, &self.problem) {
            (Some(ok), Some((_, at))) if now.saturating_duration_since(*ok) < HOLD || at <= ok => Detection::ok(),
            (Some(_), None) => Detection::ok(),
            (_, Some((why, _))) => why.clone(),
            (None, None) => Detection::pending(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_is_ok_while_it_gets_answers_and_says_why_once_they_stop() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut watch = Watch::default();
        assert_eq!(watch.read(t0).state, DetectionState::Pending);
        let nobody = Detection::not(DetectionState::NoWorkers, "no worker listens");
        watch.failed(nobody.clone(), at(10));
        assert_eq!(watch.read(at(10)), nobody, "never answered: the failure, at once");
        watch.answered(at(100));
        assert_eq!(watch.read(at(100)), Detection::ok());
        watch.failed(nobody.clone(), at(500));
        assert_eq!(watch.read(at(600)), Detection::ok(), "one failure among answers is no state");
        assert_eq!(watch.read(at(100) + HOLD), nobody, "no answer for HOLD: the failure shows");
        watch.answered(at(3000));
        assert_eq!(watch.read(at(9000)), Detection::ok(), "a camera that stopped sending stays ok");
    }
}
