//! The options for models beyond Ultralytics exports, each with a generated model that needs it
//! (models/variants/): NHWC input, 0-255 pixels, BGR order, several outputs, normalised
//! end-to-end boxes, plain resize; and execution providers.

mod common;

use common::{assert_finds, load};
use nvt_detect::detector::ResizeMode;
use nvt_detect::{ChannelOrder, DetectError, DetectorOptions, InputLayout, OutputLayout, PixelRange, Provider};

#[test]
fn nhwc_input_is_detected_from_the_shape() {
    let mut detector = load("variants/shapes-nhwc.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(detector.info().input_layout, InputLayout::Nhwc);
    assert_eq!(detector.info().input_size, (640, 640));
    assert_finds(&mut detector, (640, 480), &[4, 300], 95);
}

#[test]
fn a_model_wanting_0_to_255_pixels_works_with_the_byte_range() {
    let options = DetectorOptions { range: PixelRange::Byte, ..DetectorOptions::default() };
    assert_finds(&mut load("variants/shapes-0255.onnx", options).expect("load"), (640, 480), &[5, 120], 95);
    // Without the option, every pixel is 255 times too dark for it: nothing is found.
    let (found, _) =
        load("variants/shapes-0255.onnx", DetectorOptions::default()).expect("load").detect(&frame(5)).expect("detect");
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_model_wanting_bgr_works_with_the_bgr_order() {
    let options = DetectorOptions { order: ChannelOrder::Bgr, ..DetectorOptions::default() };
    assert_finds(&mut load("variants/shapes-bgr.onnx", options).expect("load"), (640, 480), &[6, 610], 95);
    // In RGB order, red and blue swap classes.
    let (found, _) =
        load("variants/shapes-bgr.onnx", DetectorOptions::default()).expect("load").detect(&frame(6)).expect("detect");
    let square = found.iter().find(|d| d.class_id == 0).expect("something red");
    let truth = nvt_capture::synthetic::Synthetic::new(640, 480).expect("scene").truth(6);
    assert!(
        nvt_detect::nms::iou(square.bbox, truth[2].bbox) > 0.8,
        "the blue triangle reads as class 0 in the wrong order"
    );
}

#[test]
fn normalised_end_to_end_boxes_are_scaled_to_the_input() {
    let options = DetectorOptions { normalized_boxes: true, ..DetectorOptions::default() };
    let mut detector = load("variants/shapes-e2e-normalized.onnx", options).expect("load");
    assert_eq!(detector.info().layout, OutputLayout::EndToEnd);
    assert_finds(&mut detector, (640, 480), &[7, 70], 95);
}

#[test]
fn the_detection_output_is_found_by_shape_or_by_name() {
    let mut by_shape = load("variants/shapes-two-outputs.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(by_shape.info().output_name, "detections", "the [1, 3] embedding is passed over");
    assert_finds(&mut by_shape, (640, 480), &[8], 95);

    let named = DetectorOptions { output: Some("detections".into()), ..DetectorOptions::default() };
    assert_finds(&mut load("variants/shapes-two-outputs.onnx", named).expect("load"), (640, 480), &[9], 95);

    let wrong = DetectorOptions { output: Some("boxes".into()), ..DetectorOptions::default() };
    let error = load("variants/shapes-two-outputs.onnx", wrong).err().expect("no such output");
    assert!(matches!(error, DetectError::NoSuchOutput { .. }), "{error}");
    assert!(error.to_string().contains("embedding") && error.to_string().contains("detections"), "{error}");
    let embedding = DetectorOptions { output: Some("embedding".into()), ..DetectorOptions::default() };
    assert!(matches!(load("variants/shapes-two-outputs.onnx", embedding), Err(DetectError::UnsupportedLayout { .. })));
}

#[test]
fn plain_resize_maps_boxes_back_per_axis() {
    let options = DetectorOptions { resize: ResizeMode::Stretch, ..DetectorOptions::default() };
    let mut detector = load("shapes.onnx", options).expect("load");
    assert_finds(&mut detector, (640, 480), &[10, 500], 95);
    assert_finds(&mut detector, (1280, 400), &[11], 95);
}

#[test]
fn execution_providers_cpu_works_and_a_missing_one_lists_the_available() {
    let options = DetectorOptions { provider: Provider::Cpu, ..DetectorOptions::default() };
    assert_finds(&mut load("shapes.onnx", options).expect("load"), (640, 480), &[12], 95);
    assert!(Provider::available().contains(&Provider::Cpu));
    for missing in [Provider::Cuda, Provider::TensorRt, Provider::OpenVino] {
        if missing.is_available() {
            continue; // a GPU build of ONNX Runtime would have it
        }
        let options = DetectorOptions { provider: missing, ..DetectorOptions::default() };
        let error = load("shapes.onnx", options).err().expect("unavailable");
        let text = error.to_string();
        assert!(text.contains(missing.name()) && text.contains("available: cpu"), "{text}");
    }
    assert!("gpu".parse::<Provider>().is_err());
}

fn frame(index: u64) -> nvt_capture::Mat {
    nvt_capture::synthetic::Synthetic::new(640, 480)
        .expect("scene")
        .render(index, std::time::SystemTime::now())
        .expect("frame")
        .image
}

#[test]
fn an_explicit_imgsz_wins_over_the_models_metadata() {
    let plain = load("shapes-dynamic.onnx", DetectorOptions::default()).expect("load");
    assert_eq!(plain.info().input_size, (640, 480), "without the flag, the imgsz metadata [480, 640]");
    let options = DetectorOptions { imgsz: Some(320), ..DetectorOptions::default() };
    let mut flagged = load("shapes-dynamic.onnx", options).expect("load");
    assert_eq!(flagged.info().input_size, (320, 320), "--imgsz 320 is what runs");
    assert_finds(&mut flagged, (640, 480), &[3], 95);
}

#[test]
fn an_imgsz_a_fixed_model_cannot_take_is_an_error() {
    let options = DetectorOptions { imgsz: Some(320), ..DetectorOptions::default() };
    let error = refused(load("shapes.onnx", options), "fixed at 640");
    assert!(matches!(error, DetectError::ImgszConflict { asked: 320, width: 640, height: 640 }), "{error}");
    let same = DetectorOptions { imgsz: Some(640), ..DetectorOptions::default() };
    assert_eq!(load("shapes.onnx", same).expect("the model's own size").info().input_size, (640, 640));
}

#[test]
fn a_labels_file_wins_over_the_models_names() {
    let own = load("shapes.onnx", DetectorOptions::default()).expect("load").info().names.clone();
    let dir = std::env::temp_dir().join(format!("nvt-labels-win-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("labels.txt");
    let renamed: Vec<String> = own.iter().map(|n| format!("my {n}")).collect();
    std::fs::write(&path, renamed.join("\n")).expect("write");
    let options = DetectorOptions { labels: Some(path.clone()), ..DetectorOptions::default() };
    assert_eq!(load("shapes.onnx", options).expect("load").info().names, renamed);
    std::fs::write(&path, "only one\n").expect("write");
    let options = DetectorOptions { labels: Some(path), ..DetectorOptions::default() };
    let error = refused(load("shapes.onnx", options), "wrong count");
    assert!(matches!(error, DetectError::LabelCount { .. }), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_forced_layout_wins_over_the_shape() {
    let plain = load("shapes.onnx", DetectorOptions::default()).expect("load");
    assert!(matches!(plain.info().layout, OutputLayout::V8 { .. }), "{:?}", plain.info().layout);
    let options = DetectorOptions { layout: Some(nvt_detect::layout::LayoutKind::V5), ..DetectorOptions::default() };
    let forced = load("shapes.onnx", options).expect("a [1, 4+nc, N] output can be read as v5");
    assert!(matches!(forced.info().layout, OutputLayout::V5 { .. }), "--layout v5 is what runs");
}

/// The error of a load that must fail.
fn refused(loaded: Result<nvt_detect::Detector, DetectError>, why: &str) -> DetectError {
    match loaded {
        Ok(_) => panic!("the model loaded, but it must not: {why}"),
        Err(error) => error,
    }
}
