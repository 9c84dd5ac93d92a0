//! The labels an ingest takes from workers for one camera. Every label a camera has seen costs
//! memory for as long as it stays (a count topic, two Home Assistant entities, a snapshot) and
//! retained messages at the MQTT broker, and a worker can name any label it likes: so a camera
//! takes at most [`MAX_LABELS_PER_CAMERA`] different labels, the first ones it sees, and
//! detections with any other label are dropped (and counted).

use std::collections::HashSet;

/// Most different labels one camera takes from workers. A detector's class set is far smaller
/// (COCO has 80 classes).
pub const MAX_LABELS_PER_CAMERA: usize = 128;

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
}
