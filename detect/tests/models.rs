//! The generated models through ONNX Runtime: every layout finds the synthetic scene's objects
//! where the scene drew them, and bad models are refused with a message that says why.

mod common;

use common::{assert_finds, load};
use nvt_detect::layout::LayoutKind;
use nvt_detect::{DetectError, DetectorOptions, OutputLayout};

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

#[test]
fn a_frame_prepared_on_another_thread_gives_what_detect_gives_and_a_stale_one_is_refused() {
    let mut detector = load("shapes.onnx", DetectorOptions::default()).expect("load");
    let scene = nvt_capture::synthetic::Synthetic::new(640, 480).expect("scene");
    let frame = scene.render(3, std::time::SystemTime::now()).expect("render");
    let (direct, _) = detector.detect(&frame.image).expect("detect");
    assert!(!direct.is_empty());

    let preparer = detector.preparer();
    let image = frame.image.clone();
    let prepared = std::thread::spawn(move || {
        let mut buffer = nvt_detect::Prepared::default();
        preparer.prepare(&image, &mut buffer).map(|()| buffer)
    })
    .join()
    .expect("thread")
    .expect("prepare");
    let (overlapped, timings) = detector.run(&prepared).expect("run");
    assert_eq!(overlapped, direct, "preparing elsewhere changes nothing");
    assert!(timings.preprocess > 0.0, "the preparation's time is reported");

    // A model with another input size (the dynamic one at 320) cannot take a 640 tensor.
    let options = DetectorOptions { imgsz: Some(320), ..DetectorOptions::default() };
    let mut other = load("shapes-dynamic.onnx", options).expect("load");
    assert_eq!(other.info().input_size, (320, 320), "--imgsz sets the input size");
    assert_ne!(other.info().input_size, detector.info().input_size);
    let error = other.run(&prepared).expect_err("refused");
    assert!(matches!(error, nvt_detect::DetectError::InputMismatch { .. }), "{error}");
    assert!(other.run(&nvt_detect::Prepared::default()).is_err(), "an empty buffer is refused too");
}
