//! Object detection with ONNX Runtime: the `detector.detect` the original project never wrote.
//!
//! The pipeline reads as its modules:
//! [`letterbox`] (geometry apart from pixels) → [`Detector::detect`] runs the session →
//! [`layout::decode`] (YOLOv8/11, YOLOv5/7 or end-to-end outputs) → [`nms`] (class-aware) →
//! [`Letterbox::to_source`] maps boxes back to the frame (`nvt_capture::draw` puts them on it).
//!
//! Model facts (input name and size, output layout, class names) come from the model itself
//! ([`model`], [`names`]), checked when it loads, with errors that say what was expected and found.
//! The ONNX Runtime library is loaded at run time ([`runtime`]) from where `make setup` put it.
//! A frame comes in as an OpenCV BGR picture and goes out as [`Detection`]s in its pixels;
//! [`flags`] is the model's flag group, which every program that runs a detector takes.
//!
//! The program that runs this detector over image and video files, `nvt-detect`, is in
//! `offline/`.

pub mod bounds;
pub mod detector;
pub mod error;
pub mod flags;
pub mod layout;
pub mod letterbox;
pub mod model;
pub mod model_file;
pub mod names;
pub mod nms;
pub mod prepare;
pub mod provider;
pub mod runtime;

pub use detector::{Detection, Detector, DetectorOptions, Timings};
pub use error::DetectError;
pub use flags::ModelArgs;
pub use layout::OutputLayout;
pub use letterbox::{ChannelOrder, InputLayout, Letterbox, PixelRange, TensorFormat};
pub use model::ModelInfo;
pub use prepare::{Prepared, Preparer};
pub use provider::Provider;
