//! The standard nvt-detect is held to: on the same image and model, its detections equal those of
//! the usual Ultralytics-style Python pipeline (models/reference.py: OpenCV, letterbox, RGB / 255,
//! onnxruntime, class-aware NMS) — same classes, boxes within a pixel, scores within 0.01.

use nvt_tests::harness::{binary, read_jsonl, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").to_path_buf()
}

fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    python
}

fn reference(model: &Path, images: &[PathBuf]) -> Vec<Value> {
    let out = Command::new(python())
        .arg(repo().join("models/reference.py"))
        .arg(model)
        .args(images)
        .output()
        .expect("python");
    assert!(out.status.success(), "reference.py failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

fn nvt_detect(model: &Path, images: &[PathBuf], log: &Path) -> Vec<Value> {
    let status = Command::new(binary("nvt-detect"))
        .args(["--model", model.to_str().expect("utf8"), "--log", log.to_str().expect("utf8")])
        .args(images)
        .env("RUST_LOG", "warn")
        .status()
        .expect("nvt-detect");
    assert!(status.success());
    read_jsonl(log)
}

fn assert_equal_detections(ours: &[Value], theirs: &[Value]) -> usize {
    assert_eq!(ours.len(), theirs.len());
    let mut compared = 0;
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o["source"], t["source"]);
        let (od, td) = (o["detections"].as_array().expect("list"), t["detections"].as_array().expect("list"));
        assert_eq!(od.len(), td.len(), "{}: {} detections vs the reference's {}", o["source"], od.len(), td.len());
        for (a, b) in od.iter().zip(td) {
            assert_eq!(a["class_id"], b["class_id"], "{}: {a} vs {b}", o["source"]);
            let score = (a["score"].as_f64().expect("score") - b["score"].as_f64().expect("score")).abs();
            assert!(score <= 0.01, "{}: score off by {score}: {a} vs {b}", o["source"]);
            for (x, y) in a["box"].as_array().expect("box").iter().zip(b["box"].as_array().expect("box")) {
                let off = (x.as_f64().expect("coord") - y.as_f64().expect("coord")).abs();
                assert!(off <= 1.0, "{}: box off by {off} px: {a} vs {b}", o["source"]);
            }
            compared += 1;
        }
    }
    compared
}

#[test]
fn nvt_detect_equals_the_python_pipeline_on_real_photos() {
    let model = repo().join("models/yolov8n-random.onnx");
    assert!(model.exists(), "{} is missing: run `make setup`", model.display());
    let images: Vec<PathBuf> = ["dog", "person", "horses", "giraffe", "eagle", "kite", "scream"]
        .iter()
        .map(|n| PathBuf::from(format!("/usr/share/darknet/data/{n}.jpg")))
        .collect();
    assert!(images.iter().all(|p| p.exists()), "the darknet photos are missing: run `make setup`");
    let dir = temp_dir("reference");
    let compared =
        assert_equal_detections(&nvt_detect(&model, &images, &dir.join("nvt.jsonl")), &reference(&model, &images));
    assert!(compared >= 20, "the comparison must cover real detections, compared {compared}");
}

#[test]
fn nvt_detect_equals_the_python_pipeline_on_the_synthetic_scene() {
    let dir = temp_dir("reference-shapes");
    let scene = nvt_capture::synthetic::Synthetic::new(800, 450).expect("scene");
    let images: Vec<PathBuf> = [3u64, 250]
        .iter()
        .map(|&i| {
            let frame = scene.render(i, std::time::SystemTime::now()).expect("render");
            let path = dir.join(format!("frame{i}.jpg"));
            let bytes = nvt_capture::jpeg::encode(&frame.image, 95).expect("encode");
            std::fs::write(&path, bytes).expect("write");
            path
        })
        .collect();
    let model = repo().join("models/shapes.onnx");
    let compared =
        assert_equal_detections(&nvt_detect(&model, &images, &dir.join("nvt.jsonl")), &reference(&model, &images));
    assert_eq!(compared, 6, "three objects in each of two frames");
}
