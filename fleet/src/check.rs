//! Before a push: the file is loaded as a worker would load it (ONNX Runtime, the detector's
//! checks of its input, output layout and names, and a warm-up run on a blank frame), so that a
//! JPEG, an empty or truncated file, or an ONNX model the detector cannot use is refused here,
//! with the detector's reason, instead of by every worker of the group.

use crate::error::FleetError;
use crate::models::ModelFile;
use nvt_detect::layout::LayoutKind;
use nvt_detect::{Detector, DetectorOptions};
use std::path::Path;

/// The settings a group's workers load their models with, where they decide whether a model
/// loads at all (`nvt-worker`'s flags of the same names).
#[derive(Debug, Clone, Default)]
pub struct LoadHints {
    /// `--imgsz`.
    pub imgsz: Option<u32>,
    /// `--layout`.
    pub layout: Option<LayoutKind>,
    /// `--output`.
    pub output: Option<String>,
}

/// What the check found: the model's id, layout and input size, for the push's message.
#[derive(Debug, Clone)]
pub struct Checked {
    /// `file.onnx@hash`, as workers will report it.
    pub id: String,
    /// Its output layout.
    pub layout: String,
    /// Its input, `WxH`.
    pub input: String,
}

/// Loads `path` as a worker would, and checks that it is the file `model` holds (the one that
/// will be pushed). Blocking: ONNX Runtime loads and runs the model.
pub fn check(path: &Path, model: &ModelFile, hints: &LoadHints) -> Result<Checked, FleetError> {
    let options = DetectorOptions {
        imgsz: hints.imgsz,
        layout: hints.layout,
        output: hints.output.clone(),
        threads: 1,
        ..DetectorOptions::default()
    };
    let refused = |reason: String| {
        // One line, naming the file once.
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = path.display().to_string();
        if reason.contains(&shown) {
            FleetError::Model(format!("not a model a worker can load: {reason}"))
        } else {
            FleetError::Model(format!("{shown}: not a model a worker can load: {reason}"))
        }
    };
    let detector = Detector::load(path, options).map_err(|error| refused(nvt_support::errors::sentence(&error)))?;
    let info = detector.info();
    let hash = format!("@{:08x}", nvt_detect::model::content_hash(&model.bytes) >> 32);
    if !info.id.ends_with(&hash) {
        return Err(refused("the file changed while it was checked".into()));
    }
    Ok(Checked {
        id: info.id.clone(),
        layout: info.layout.to_string(),
        input: format!("{}x{}", info.input_size.0, info.input_size.1),
    })
}
