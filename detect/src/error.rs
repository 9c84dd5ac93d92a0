//! The typed error of this crate.

use std::path::PathBuf;

/// What can go wrong loading a model or running it.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The ONNX Runtime shared library was not found anywhere we looked.
    #[error(
        "ONNX Runtime library not found (looked for {}); run `make setup`, which puts it in .ort/, \
         or set ORT_DYLIB_PATH to the path of libonnxruntime.so",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    RuntimeMissing {
        /// Every path tried.
        searched: Vec<PathBuf>,
    },
    /// The library was found but could not be loaded or initialised.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The model file could not be read.
    #[error("cannot read model {path}: {error}")]
    ModelRead {
        /// The model file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a source that would print it twice).
        error: std::io::Error,
    },
    /// The file is not a model ONNX Runtime can load.
    #[error("{path} is not a valid ONNX model: {reason}")]
    NotOnnx {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's reason.
        reason: String,
    },
    /// The model's input is not an image tensor we can feed.
    #[error("unsupported model input {name:?}: expected a float32 image tensor [1, 3, height, width] (NCHW) or [1, height, width, 3] (NHWC), found {found}")]
    Input {
        /// The input's name.
        name: String,
        /// What the model declares.
        found: String,
    },
    /// The model's output matches none of the supported layouts.
    #[error(
        "unsupported output layout {shape:?} of {name:?}: expected [1, 4+nc, N] (YOLOv8/YOLO11), \
         [1, N, 5+nc] (YOLOv5/YOLOv7) or [1, N, 6] (end-to-end: x1 y1 x2 y2 score class){hint}"
    )]
    UnsupportedLayout {
        /// The output's name.
        name: String,
        /// Its declared shape (-1 for dynamic dimensions).
        shape: Vec<i64>,
        /// Extra context (the class count the names imply).
        hint: String,
    },
    /// A labels file whose line count does not match the model's classes.
    #[error("labels file {path} has {found} names but the model has {expected} classes")]
    LabelCount {
        /// The labels file.
        path: PathBuf,
        /// The model's class count.
        expected: usize,
        /// Lines in the file.
        found: usize,
    },
    /// The labels file could not be read.
    #[error("cannot read labels file {path}: {error}")]
    LabelsRead {
        /// The labels file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a source that would print it twice).
        error: std::io::Error,
    },
    /// A `--layout` value we do not know.
    #[error("unknown layout {0:?}: use v8, v5 or e2e")]
    UnknownLayout(String),
    /// An execution provider that is unknown or not in the loaded library.
    #[error("{0}")]
    Provider(String),
    /// No output of the model has the name asked for.
    #[error("the model has no output named {name:?}; its outputs are {outputs:?}")]
    NoSuchOutput {
        /// The name asked for.
        name: String,
        /// The outputs it has.
        outputs: Vec<String>,
    },
    /// ONNX Runtime failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// OpenCV failed while preparing or drawing an image.
    #[error("image processing failed: {0}")]
    Image(#[from] opencv::Error),
    /// The model's metadata says something nvt cannot take (a class id or an input size out of
    /// bounds, a name too long).
    #[error("the model's {key:?} metadata is unusable: {problem}")]
    Metadata {
        /// The metadata key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A size the model declares, or a flag asks for, is out of nvt's bounds.
    #[error("{what} is {found}, out of bounds ({bound})")]
    OutOfBounds {
        /// What the size is of.
        what: &'static str,
        /// The size found.
        found: String,
        /// The bound it broke.
        bound: String,
    },
    /// `--imgsz` asks for a size that a model with a fixed input cannot take.
    #[error("--imgsz {asked} does not fit this model: its input is fixed at {width}x{height}; drop --imgsz or export the model with dynamic height and width")]
    ImgszConflict {
        /// The size asked for.
        asked: u32,
        /// The model's fixed width.
        width: u32,
        /// The model's fixed height.
        height: u32,
    },
    /// A frame prepared for one model was given to another (one swapped in since).
    #[error("the frame was prepared for another model than {model}; prepare it again")]
    InputMismatch {
        /// The model that refused it.
        model: String,
    },
}

impl From<ort::Error> for DetectError {
    fn from(error: ort::Error) -> Self {
        Self::Inference(error.to_string())
    }
}
