//! Preparing a frame for the model, apart from running it: fitting the frame into an input
//! tensor needs only the model's input facts, not its session, so the next frame can be prepared
//! on another thread while the model runs on this one. Input tensors are allocated once and
//! reused frame after frame.

use crate::error::DetectError;
use crate::letterbox::{InputLayout, Letterbox, TensorFormat};
use ndarray::Array4;
use opencv::core::{Mat, ToInputArray};
use opencv::prelude::*;
use std::time::{Duration, Instant};

/// How a frame is fitted to the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeMode {
    /// Scale with the aspect ratio kept, pad with grey (Ultralytics).
    #[default]
    Letterbox,
    /// Stretch to the input size (models trained that way).
    Stretch,
}

impl std::str::FromStr for ResizeMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "letterbox" => Ok(Self::Letterbox),
            "stretch" | "resize" => Ok(Self::Stretch),
            _ => Err(format!("unknown resize {text:?}: use letterbox or stretch")),
        }
    }
}

/// What preparing a frame needs to know of a model: its input size, tensor format and how frames
/// are fitted. Cheap to clone and free of the session, so any thread can hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preparer {
    /// Model input size (width, height).
    pub input_size: (u32, u32),
    /// Layout, range and channel order of the input tensor.
    pub format: TensorFormat,
    /// Letterbox or stretch.
    pub resize: ResizeMode,
}

/// A model input tensor holding one prepared frame, and how the frame was fitted into it.
pub struct Prepared {
    tensor: Array4<f32>,
    scratch: Mat,
    for_model: Option<Preparer>,
    letterbox: Option<Letterbox>,
    time: Duration,
}

impl Default for Prepared {
    /// An empty buffer; the first [`Preparer::prepare`] into it allocates the tensor.
    fn default() -> Self {
        Self {
            tensor: Array4::zeros((0, 0, 0, 0)),
            scratch: Mat::default(),
            for_model: None,
            letterbox: None,
            time: Duration::ZERO,
        }
    }
}

impl Preparer {
    /// A tensor of this model's input shape, zeroed, holding no frame yet.
    fn tensor(&self) -> Array4<f32> {
        let (w, h) = (self.input_size.0 as usize, self.input_size.1 as usize);
        match self.format.layout {
            InputLayout::Nchw => Array4::zeros((1, 3, h, w)),
            InputLayout::Nhwc => Array4::zeros((1, h, w, 3)),
        }
    }

    /// Fits a BGR frame (or a part of one) into `into`, reusing its tensor when it already has
    /// this model's shape (the usual case: it allocates only the first time, or after a model
    /// swap).
    pub fn prepare(&self, image: &(impl MatTraitConst + ToInputArray), into: &mut Prepared) -> Result<(), DetectError> {
        let started = Instant::now();
        if into.for_model.is_none_or(|p| p.input_size != self.input_size || p.format.layout != self.format.layout) {
            into.tensor = self.tensor();
        }
        into.for_model = None;
        let source = (image.cols().max(0) as u32, image.rows().max(0) as u32);
        let letterbox = match self.resize {
            ResizeMode::Letterbox => Letterbox::new(source, self.input_size),
            ResizeMode::Stretch => Letterbox::stretch(source, self.input_size),
        };
        let tensor = into
            .tensor
            .as_slice_mut()
            .ok_or_else(|| DetectError::Inference("input buffer is not contiguous".into()))?;
        letterbox.fill(image, &mut into.scratch, tensor, self.format)?;
        into.for_model = Some(*self);
        into.letterbox = Some(letterbox);
        into.time = started.elapsed();
        Ok(())
    }
}

impl Prepared {
    /// Whether this holds a frame prepared for the model `preparer` describes.
    pub fn is_for(&self, preparer: &Preparer) -> bool {
        self.for_model.as_ref() == Some(preparer)
    }

    /// How the frame was fitted, once one has been prepared.
    pub fn letterbox(&self) -> Option<&Letterbox> {
        self.letterbox.as_ref()
    }

    /// How long preparing the frame took.
    pub fn time(&self) -> Duration {
        self.time
    }

    /// The input tensor.
    pub fn tensor(&self) -> &Array4<f32> {
        &self.tensor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letterbox::{ChannelOrder, PixelRange};
    use opencv::core::{Scalar, CV_8UC3};

    fn preparer(w: u32, h: u32, layout: InputLayout) -> Preparer {
        let format = TensorFormat { layout, range: PixelRange::Unit, order: ChannelOrder::Rgb };
        Preparer { input_size: (w, h), format, resize: ResizeMode::Letterbox }
    }

    fn frame(w: i32, h: i32, grey: f64) -> Mat {
        Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(grey)).expect("mat")
    }

    #[test]
    fn the_tensor_is_reused_while_the_shape_holds_and_replaced_when_it_changes() {
        let small = preparer(64, 64, InputLayout::Nchw);
        let mut buffer = Prepared::default();
        assert!(!buffer.is_for(&small));
        small.prepare(&frame(64, 48, 255.0), &mut buffer).expect("prepare");
        assert!(buffer.is_for(&small));
        assert_eq!(buffer.tensor().shape(), [1, 3, 64, 64]);
        let first = buffer.tensor().as_ptr();
        small.prepare(&frame(32, 32, 0.0), &mut buffer).expect("prepare");
        assert_eq!(buffer.tensor().as_ptr(), first, "same shape: the buffer is reused");
        assert_eq!(buffer.tensor()[[0, 0, 32, 32]], 0.0, "the new frame's pixels replaced the old ones");
        assert_eq!(buffer.letterbox().map(|l| l.source), Some((32, 32)));

        let wide = preparer(96, 64, InputLayout::Nhwc);
        assert!(!buffer.is_for(&wide), "a buffer prepared for one model is not taken for another");
        wide.prepare(&frame(64, 48, 255.0), &mut buffer).expect("prepare");
        assert_eq!(buffer.tensor().shape(), [1, 64, 96, 3]);
        assert!(buffer.is_for(&wide) && !buffer.is_for(&small));
    }

    #[test]
    fn a_failed_preparation_leaves_a_buffer_that_is_for_no_model() {
        let p = preparer(64, 64, InputLayout::Nchw);
        let mut buffer = Prepared::default();
        p.prepare(&frame(64, 64, 1.0), &mut buffer).expect("prepare");
        // A two-channel picture cannot be read as BGR.
        let bad = Mat::new_rows_cols_with_default(8, 8, opencv::core::CV_8UC2, Scalar::all(0.0)).expect("mat");
        let error = p.prepare(&bad, &mut buffer).expect_err("a two-channel frame is refused");
        assert!(error.to_string().contains("8-bit BGR"), "{error}");
        assert!(!buffer.is_for(&p));
    }
}
