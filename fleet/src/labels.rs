//! The labels an ingest takes from workers, per camera. Every label a camera has seen costs
//! memory for as long as it stays (a count topic, two Home Assistant entities, a snapshot) and
//! retained messages at the MQTT broker, and a worker can name any label it likes: so a camera
//! takes at most [`MAX_LABELS_PER_CAMERA`] different labels, the first ones it sees, and
//! detections with any other label are dropped (and counted). The set belongs to the camera's
//! name, not its connection, so a camera that reconnects does not start a new one.

use std::collections::{HashMap, HashSet, VecDeque};

/// Most different labels one camera takes from workers. A detector's class set is far smaller
/// (COCO has 80 classes).
pub const MAX_LABELS_PER_CAMERA: usize = 128;

/// Most cameras whose labels are remembered; past it the camera seen first is forgotten (its
/// set starts again if it comes back), so that many camera names cannot grow the book.
pub const MAX_CAMERAS: usize = 4096;

/// Every camera's labels.
#[derive(Debug, Default)]
pub struct LabelBook {
    cameras: HashMap<String, CameraLabels>,
    order: VecDeque<String>,
}

impl LabelBook {
    /// Whether a detection labelled `label` from `camera` may be kept (see [`CameraLabels::admit`]).
    pub fn admit(&mut self, camera: &str, label: &str) -> bool {
        if !self.cameras.contains_key(camera) {
            while self.cameras.len() >= MAX_CAMERAS {
                let Some(oldest) = self.order.pop_front() else { break };
                self.cameras.remove(&oldest);
            }
            self.order.push_back(camera.to_owned());
        }
        self.cameras.entry(camera.to_owned()).or_default().admit(label)
    }

    /// Labels `camera` has taken so far.
    pub fn labels(&self, camera: &str) -> usize {
        self.cameras.get(camera).map_or(0, CameraLabels::len)
    }
}

/// The labels one camera has taken so far.
#[derive(Debug, Default)]
pub struct CameraLabels {
    known: HashSet<String>,
}

impl CameraLabels {
    /// Whether a detection labelled `label` may be kept: a label already taken, or a new one
    /// while there is room (it is then taken).
    pub fn admit(&mut self, label: &str) -> bool {
        if self.known.contains(label) {
            return true;
        }
        if self.known.len() >= MAX_LABELS_PER_CAMERA {
            return false;
        }
        self.known.insert(label.to_owned());
        true
    }

    /// Labels taken so far.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none has been taken yet.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_takes_a_bounded_set_of_labels_and_keeps_the_first_ones() {
        let mut labels = CameraLabels::default();
        assert!(labels.admit("person") && labels.admit("person"));
        for n in 1..MAX_LABELS_PER_CAMERA {
            assert!(labels.admit(&format!("made-up {n}")));
        }
        assert_eq!(labels.len(), MAX_LABELS_PER_CAMERA);
        assert!(!labels.admit("one too many"));
        assert!(labels.admit("person"), "a label taken before is still taken");
        assert_eq!(labels.len(), MAX_LABELS_PER_CAMERA);
    }

    #[test]
    fn the_book_keeps_a_set_per_camera_name_and_a_bounded_number_of_cameras() {
        let mut book = LabelBook::default();
        for n in 0..MAX_LABELS_PER_CAMERA {
            assert!(book.admit("door", &format!("l{n}")));
        }
        assert!(!book.admit("door", "more"), "the same camera, whatever its connection");
        assert!(book.admit("yard", "more"), "another camera has a set of its own");
        for n in 0..MAX_CAMERAS {
            book.admit(&format!("camera {n}"), "person");
        }
        assert_eq!(book.cameras.len(), MAX_CAMERAS);
        assert_eq!(book.labels("door"), 0, "the first camera seen was forgotten");
    }
}
