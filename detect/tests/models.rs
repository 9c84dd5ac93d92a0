//! The generated models through ONNX Runtime: every layout finds the synthetic scene's objects
//! where the scene drew them, and bad models are refused with a message that says why.

use nvt_capture::synthetic::Synthetic;
use nvt_capture::{jpeg, GroundTruth};
use nvt_detect::layout::LayoutKind;
use nvt_detect::nms::iou;
use nvt_detect::{DetectError, Detector, DetectorOptions, OutputLayout};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)
}

fn load(name: &str, options: DetectorOptions) -> Result<Detector, DetectError> {
    Detector::load(&model(name), options)
}

/// Every ground-truth object is found once, with its class, at IoU ≥ 0.8; nothing else is found.
fn assert_finds(detector: &mut Detector, size: (u32, u32), frames: &[u64], quality: i32) {
    let scene = Synthetic::new(size.0, size.1).expect("scene");
    for &index in frames {
        let frame = scene.render(index, SystemTime::now()).expect("render");
        let decoded = jpeg::decode(&jpeg::encode(&frame.image, quality).expect("encode"), jpeg::DEFAULT_MAX_PIXELS)
            .expect("decode");
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

#[test]
fn the_v8_model_finds_the_synthetic_objects_and_nms_removes_duplicates() {
    let mut detector = load("shapes.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(detector.info().layout, OutputLayout::V8 { classes: 3 });
    assert_eq!(detector.info().input_size, (640, 640));
    assert!(detector.info().id.starts_with("shapes.onnx@"));
    assert_finds(&mut detector, (640, 480), &[0, 17, 250, 1001], 100);
    assert_finds(&mut detector, (640, 480), &[33], 60);
    assert_finds(&mut detector, (320, 240), &[5, 90], 90);
}

#[test]
fn the_v5_model_finds_the_synthetic_objects() {
    let mut detector = load("shapes-v5.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(detector.info().layout, OutputLayout::V5 { classes: 3 });
    assert_finds(&mut detector, (640, 480), &[3, 400], 95);
}

#[test]
fn the_end_to_end_model_finds_the_synthetic_objects_without_nms() {
    let mut detector = load("shapes-e2e.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(detector.info().layout, OutputLayout::EndToEnd);
    assert_finds(&mut detector, (640, 480), &[8, 777], 95);
}

#[test]
fn a_dynamic_model_takes_its_size_from_imgsz_metadata() {
    let mut detector = load("shapes-dynamic.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(detector.info().input_size, (640, 480), "imgsz [480, 640] is height, width");
    assert_finds(&mut detector, (640, 480), &[12], 95);
    assert_finds(&mut detector, (1280, 720), &[12], 95);
}

#[test]
fn a_model_without_names_uses_a_labels_file_or_class_numbers() {
    let dir = std::env::temp_dir().join(format!("nvt-detect-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let labels = dir.join("labels.txt");
    std::fs::write(&labels, "rouge\nvert\nbleu\n").expect("write");
    let with_labels = DetectorOptions { labels: Some(labels.clone()), ..DetectorOptions::default() };
    assert_eq!(
        load("fixtures/shapes-no-names.onnx", with_labels).expect("load").info().names,
        ["rouge", "vert", "bleu"]
    );
    assert_eq!(
        load("fixtures/shapes-no-names.onnx", DetectorOptions::default()).expect("load").info().names,
        ["0", "1", "2"]
    );

    std::fs::write(&labels, "rouge\nvert\n").expect("write");
    let wrong = DetectorOptions { labels: Some(labels.clone()), ..DetectorOptions::default() };
    let error = load("fixtures/shapes-no-names.onnx", wrong).err().expect("wrong count");
    assert!(matches!(error, DetectError::LabelCount { expected: 3, found: 2, .. }), "{error}");
    assert!(error.to_string().contains("has 2 names but the model has 3 classes"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_that_is_not_onnx_is_refused_clearly() {
    let error = load("fixtures/not-onnx.onnx", DetectorOptions::default()).err().expect("refused");
    assert!(matches!(error, DetectError::NotOnnx { .. }), "{error}");
    assert!(error.to_string().contains("not-onnx.onnx is not a valid ONNX model"), "{error}");
    let missing = load("fixtures/no-such-model.onnx", DetectorOptions::default()).err().expect("refused");
    assert!(missing.to_string().contains("cannot read model"), "{missing}");
}

#[test]
fn an_unsupported_output_layout_is_refused_clearly() {
    let error = load("fixtures/unsupported-layout.onnx", DetectorOptions::default()).err().expect("refused");
    let text = error.to_string();
    assert!(matches!(error, DetectError::UnsupportedLayout { .. }), "{text}");
    assert!(text.contains("[1, 3, 1, 1]") && text.contains("[1, 4+nc, N]"), "{text}");
}

#[test]
fn a_forced_layout_that_does_not_fit_is_refused() {
    let options = DetectorOptions { layout: Some(LayoutKind::EndToEnd), ..DetectorOptions::default() };
    assert!(matches!(load("shapes.onnx", options), Err(DetectError::UnsupportedLayout { .. })));
}
