//! The detector: a loaded model and the buffers it reuses, turning a BGR frame into detections in
//! frame pixels. It owns its ONNX Runtime session, so it lives on the thread that runs it.

use crate::error::DetectError;
use crate::layout::{Candidate, LayoutKind};
use crate::letterbox::{ChannelOrder, PixelRange, TensorFormat};
use crate::model::{self, Hints, ModelInfo};
pub use crate::prepare::ResizeMode;
use crate::prepare::{Prepared, Preparer};
use crate::provider::Provider;
use crate::{nms, runtime};
use opencv::core::Mat;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Settings of a detector.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// Score threshold.
    pub conf: f32,
    /// NMS IoU threshold.
    pub iou: f32,
    /// Input size (square), over the model's `imgsz` metadata; a fixed input must already be it.
    pub imgsz: Option<u32>,
    /// Class names file, over the model's `names` metadata.
    pub labels: Option<PathBuf>,
    /// Output layout, when the shape alone is ambiguous.
    pub layout: Option<LayoutKind>,
    /// Threads ONNX Runtime uses inside an operator; 0 lets it choose (one per core).
    pub threads: usize,
    /// Let those threads spin while waiting for work between operators: a little faster on an
    /// otherwise idle machine, but the spinning takes cores from everything else (decoding,
    /// clients, other workers).
    pub spin: bool,
    /// Most detections per frame.
    pub max_det: usize,
    /// Run the model once on a blank frame at load, so the first real frame is not slow.
    pub warm_up: bool,
    /// Pixel range the model expects (0-1 unless told).
    pub range: PixelRange,
    /// Channel order the model expects (RGB unless told).
    pub order: ChannelOrder,
    /// Name of the detection output, for models with several outputs.
    pub output: Option<String>,
    /// Boxes come out normalised to 0-1 rather than in input pixels.
    pub normalized_boxes: bool,
    /// Letterbox (aspect kept, padded) or a plain resize.
    pub resize: ResizeMode,
    /// Where ONNX Runtime runs the model.
    pub provider: Provider,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            conf: 0.25,
            iou: 0.45,
            imgsz: None,
            labels: None,
            layout: None,
            threads: 0,
            spin: false,
            max_det: 300,
            warm_up: true,
            range: PixelRange::Unit,
            order: ChannelOrder::Rgb,
            output: None,
            normalized_boxes: false,
            resize: ResizeMode::Letterbox,
            provider: Provider::Cpu,
        }
    }
}

/// One detected object, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Class number.
    pub class_id: usize,
    /// Class name.
    pub label: String,
    /// Confidence, 0 to 1.
    pub score: f32,
    /// x1, y1, x2, y2 in pixels of the frame.
    pub bbox: [f32; 4],
}

/// Milliseconds spent in each stage of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Letterbox and tensor fill.
    pub preprocess: f64,
    /// `session.run`.
    pub infer: f64,
    /// Output decoding and NMS.
    pub postprocess: f64,
}

/// A loaded model, ready to run.
pub struct Detector {
    session: Session,
    info: ModelInfo,
    options: DetectorOptions,
    preparer: Preparer,
    /// The input buffer [`Detector::detect`] reuses.
    input: Prepared,
    load_time: std::time::Duration,
    warm_up_time: std::time::Duration,
}

impl Detector {
    /// Loads and checks a model. Errors name the file and say what was expected and found.
    pub fn load(path: &Path, options: DetectorOptions) -> Result<Self, DetectError> {
        let started = Instant::now();
        let env = runtime::environment()?;
        let bytes = crate::model_file::read(path, crate::model_file::MAX_MODEL_BYTES)?;
        let not_onnx = |reason: String| DetectError::NotOnnx { path: path.into(), reason };
        if bytes.is_empty() {
            return Err(not_onnx("the file is empty".into()));
        }
        let builder_error =
            |e: ort::Error<ort::session::builder::SessionBuilder>| DetectError::Inference(e.to_string());
        let builder = Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(builder_error)?
            .with_intra_threads(options.threads)
            .map_err(builder_error)?
            .with_intra_op_spinning(options.spin)
            .map_err(builder_error)?;
        let mut builder = options.provider.register(builder)?;
        let session = builder.commit_from_memory(&bytes).map_err(|e| not_onnx(e.to_string()))?;
        let hints = Hints {
            imgsz: options.imgsz,
            labels: options.labels.as_deref(),
            layout: options.layout,
            output: options.output.as_deref(),
        };
        let info = ModelInfo::read(&session, path, model::content_hash(&bytes), &hints)?;
        let (w, h) = info.input_size;
        let format = TensorFormat { layout: info.input_layout, range: options.range, order: options.order };
        let preparer = Preparer { input_size: info.input_size, format, resize: options.resize };
        let mut detector = Self {
            session,
            info,
            options,
            preparer,
            input: Prepared::default(),
            load_time: std::time::Duration::ZERO,
            warm_up_time: std::time::Duration::ZERO,
        };
        let warm_up = Instant::now();
        if detector.options.warm_up {
            let blank = Mat::new_rows_cols_with_default(h as i32, w as i32, opencv::core::CV_8UC3, 0.into())?;
            detector.detect(&blank)?;
        }
        detector.warm_up_time = warm_up.elapsed();
        detector.load_time = started.elapsed();
        Ok(detector)
    }

    /// How long loading took in all, warm-up included.
    pub fn load_time(&self) -> std::time::Duration {
        self.load_time
    }

    /// How long the warm-up run took (part of [`Detector::load_time`]).
    pub fn warm_up_time(&self) -> std::time::Duration {
        self.warm_up_time
    }

    /// The model's facts.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// What preparing a frame for this model needs, for another thread to do it (see [`Detector::run`]).
    pub fn preparer(&self) -> Preparer {
        self.preparer
    }

    /// Detects objects in a BGR frame: letterbox → session.run → decode → NMS → frame pixels.
    pub fn detect(&mut self, image: &Mat) -> Result<(Vec<Detection>, Timings), DetectError> {
        let mut input = std::mem::take(&mut self.input);
        let result = self.preparer.prepare(image, &mut input).and_then(|()| self.run(&input));
        self.input = input;
        result
    }

    /// Runs the model on a frame prepared elsewhere (by [`Detector::preparer`]), so that the next
    /// frame's preparation can overlap this one's inference. A frame prepared for another model
    /// (one swapped out since) is refused with [`DetectError::InputMismatch`].
    pub fn run(&mut self, prepared: &Prepared) -> Result<(Vec<Detection>, Timings), DetectError> {
        let letterbox = match prepared.letterbox() {
            Some(letterbox) if prepared.is_for(&self.preparer) => *letterbox,
            _ => return Err(DetectError::InputMismatch { model: self.info.id.clone() }),
        };
        let started = Instant::now();
        let input = TensorRef::from_array_view(prepared.tensor().view())?;
        let outputs = self.session.run(ort::inputs![self.info.input_name.as_str() => input])?;
        let inferred = Instant::now();
        let (shape, data) = outputs[self.info.output_name.as_str()].try_extract_tensor::<f32>()?;
        let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let mut candidates = self.info.layout.decode(data, &shape, self.options.conf)?;
        if self.options.normalized_boxes {
            let (w, h) = (self.info.input_size.0 as f32, self.info.input_size.1 as f32);
            for c in &mut candidates {
                c.bbox = [c.bbox[0] * w, c.bbox[1] * h, c.bbox[2] * w, c.bbox[3] * h];
            }
        }
        let kept = if self.info.layout.needs_nms() {
            nms::nms(candidates, self.options.iou, self.options.max_det)
        } else {
            most_confident(candidates, self.options.max_det)
        };
        let detections = kept
            .into_iter()
            .map(|c| Detection {
                class_id: c.class_id,
                label: self.info.label(c.class_id),
                score: c.score,
                bbox: letterbox.to_source(c.bbox),
            })
            .collect();
        let done = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        Ok((
            detections,
            Timings {
                preprocess: prepared.time().as_secs_f64() * 1000.0,
                infer: ms(started, inferred),
                postprocess: ms(inferred, done),
            },
        ))
    }
}

/// End-to-end outputs need no NMS, only ordering and the cap.
fn most_confident(mut candidates: Vec<Candidate>, max_det: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates.truncate(max_det);
    candidates
}
