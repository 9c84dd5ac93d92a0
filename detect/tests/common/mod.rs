//! Helpers shared by the detector's integration tests.

use nvt_capture::synthetic::Synthetic;
use nvt_capture::{jpeg, GroundTruth};
use nvt_detect::nms::iou;
use nvt_detect::{DetectError, Detector, DetectorOptions};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file in models/.
pub fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)
}

/// Loads a model from models/.
pub fn load(name: &str, options: DetectorOptions) -> Result<Detector, DetectError> {
    Detector::load(&model(name), options)
}

/// Every ground-truth object is found once, with its class, at IoU ≥ 0.8; nothing else is found.
pub fn assert_finds(detector: &mut Detector, size: (u32, u32), frames: &[u64], quality: i32) {
    let scene = Synthetic::new(size.0, size.1).expect("scene");
    for &index in frames {
        let frame = scene.render(index, SystemTime::now()).expect("render");
        let bytes = jpeg::encode(&frame.image, quality).expect("encode");
        let decoded = jpeg::decode(&bytes, jpeg::DEFAULT_MAX_PIXELS).expect("decode");
        let (detections, _) = detector.detect(&decoded).expect("detect");
        assert_eq!(detections.len(), frame.truth.len(), "frame {index}: {detections:?}");
        for GroundTruth { class_id, label, bbox } in &frame.truth {
            let found =
                detections.iter().find(|d| d.class_id == *class_id).unwrap_or_else(|| panic!("{label} missing"));
            assert_eq!(found.label, *label, "names come from the model's metadata");
            let overlap = iou(found.bbox, *bbox);
            assert!(overlap >= 0.8, "frame {index} {label}: IoU {overlap:.3}, found {:?}, truth {bbox:?}", found.bbox);
            assert!(found.score > 0.25 && found.score <= 1.0);
        }
    }
}
