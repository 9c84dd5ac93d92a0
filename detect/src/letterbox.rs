//! Letterbox: scale the frame to fit the model input with its aspect ratio kept, centre it, and
//! pad the rest with grey 114, exactly as Ultralytics does (including its rounding), so that the
//! same frame gives the same tensor. The geometry is kept apart from the pixels: it is what maps
//! boxes back to the frame.

use opencv::core::{Mat, Size, ToInputArray, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;

/// Grey value of the padding.
pub const PAD_VALUE: u8 = 114;

/// How a frame was scaled and padded into the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Frame size (width, height).
    pub source: (u32, u32),
    /// Model input size (width, height).
    pub input: (u32, u32),
    /// Size of the scaled frame inside the input (width, height).
    pub scaled: (u32, u32),
    /// Scale factor from frame to input pixels.
    pub scale: f64,
    /// Left padding in input pixels.
    pub pad_left: u32,
    /// Top padding in input pixels.
    pub pad_top: u32,
    /// A plain resize (each axis scaled on its own) rather than a letterbox.
    pub stretch: bool,
}

impl Letterbox {
    /// The geometry for a `source` frame into an `input` of the given (width, height).
    pub fn new(source: (u32, u32), input: (u32, u32)) -> Self {
        let (sw, sh) = (f64::from(source.0.max(1)), f64::from(source.1.max(1)));
        let (iw, ih) = (f64::from(input.0), f64::from(input.1));
        let scale = (ih / sh).min(iw / sw);
        // Python's round() rounds halves to even.
        let scaled = (((sw * scale).round_ties_even() as u32).max(1), ((sh * scale).round_ties_even() as u32).max(1));
        let dw = (iw - f64::from(scaled.0)) / 2.0;
        let dh = (ih - f64::from(scaled.1)) / 2.0;
        let pad_left = (dw - 0.1).round_ties_even().max(0.0) as u32;
        let pad_top = (dh - 0.1).round_ties_even().max(0.0) as u32;
        Self { source, input, scaled, scale, pad_left, pad_top, stretch: false }
    }

    /// A plain resize to the input size, no padding (for models trained that way).
    pub fn stretch(source: (u32, u32), input: (u32, u32)) -> Self {
        let scale = f64::from(input.0) / f64::from(source.0.max(1));
        Self { source, input, scaled: input, scale, pad_left: 0, pad_top: 0, stretch: true }
    }

    /// Maps a box (x1, y1, x2, y2) in input pixels back to frame pixels, clipped to the frame.
    pub fn to_source(&self, b: [f32; 4]) -> [f32; 4] {
        let (sx, sy) = self.scales();
        let (w, h) = (f64::from(self.source.0), f64::from(self.source.1));
        let x = |v: f32| ((f64::from(v) - f64::from(self.pad_left)) / sx).clamp(0.0, w) as f32;
        let y = |v: f32| ((f64::from(v) - f64::from(self.pad_top)) / sy).clamp(0.0, h) as f32;
        [x(b[0]), y(b[1]), x(b[2]), y(b[3])]
    }

    /// Maps a box in frame pixels to input pixels (the inverse of [`Letterbox::to_source`]).
    pub fn to_input(&self, b: [f32; 4]) -> [f32; 4] {
        let (sx, sy) = self.scales();
        let x = |v: f32| (f64::from(v) * sx + f64::from(self.pad_left)) as f32;
        let y = |v: f32| (f64::from(v) * sy + f64::from(self.pad_top)) as f32;
        [x(b[0]), y(b[1]), x(b[2]), y(b[3])]
    }

    /// Frame-to-input scale per axis: the one gain of a letterbox (as Ultralytics maps boxes
    /// back), or each axis's own for a stretch.
    fn scales(&self) -> (f64, f64) {
        if self.stretch {
            let axis = |scaled: u32, source: u32| f64::from(scaled) / f64::from(source.max(1));
            (axis(self.scaled.0, self.source.0), axis(self.scaled.1, self.source.1))
        } else {
            (self.scale, self.scale)
        }
    }

    /// Fills `tensor` (`3 * input.0 * input.1` floats, laid out as `format` says: NCHW RGB 0-1
    /// unless told otherwise) from a BGR frame, or a part of one (read where it is, not copied),
    /// using `scratch` for the resized frame so that no buffer is allocated per frame.
    pub fn fill(
        &self,
        image: &(impl MatTraitConst + ToInputArray),
        scratch: &mut Mat,
        tensor: &mut [f32],
        format: TensorFormat,
    ) -> opencv::Result<()> {
        let (iw, ih) = (self.input.0 as usize, self.input.1 as usize);
        if image.typ() != opencv::core::CV_8UC3 || tensor.len() != 3 * iw * ih {
            let message = format!(
                "letterbox needs an 8-bit BGR frame and a tensor of {} floats, got OpenCV type {} and {} floats",
                3 * iw * ih,
                image.typ(),
                tensor.len()
            );
            return Err(opencv::Error::new(opencv::core::StsBadArg, message));
        }
        let scaled = Size::new(self.scaled.0 as i32, self.scaled.1 as i32);
        if image.size()? == scaled {
            self.copy_scaled(image, tensor, format)
        } else {
            imgproc::resize(image, scratch, scaled, 0.0, 0.0, imgproc::INTER_LINEAR)?;
            self.copy_scaled(scratch, tensor, format)
        }
    }

    /// Copies the frame scaled to fit into the tensor's middle, and pads around it.
    fn copy_scaled(&self, pixels: &impl MatTraitConst, tensor: &mut [f32], format: TensorFormat) -> opencv::Result<()> {
        let (iw, ih) = (self.input.0 as usize, self.input.1 as usize);
        let lut = match format.range {
            PixelRange::Unit => unit_lut(),
            PixelRange::Byte => byte_lut(),
        };
        tensor.fill(lut[usize::from(PAD_VALUE)]);
        let (sw, sh) = (self.scaled.0 as usize, self.scaled.1 as usize);
        // Which of the frame's B, G, R bytes goes to tensor channel 0, 1, 2.
        let source_of = match format.order {
            ChannelOrder::Rgb => [2, 1, 0],
            ChannelOrder::Bgr => [0, 1, 2],
        };
        let (left, top) = (self.pad_left as usize, self.pad_top as usize);
        let plane = iw * ih;
        for y in 0..sh {
            let row = &pixels.at_row::<Vec3b>(y as i32)?[..sw];
            let at = (top + y) * iw + left;
            match format.layout {
                InputLayout::Nchw => {
                    let (c0, rest) = tensor.split_at_mut(plane);
                    let (c1, c2) = rest.split_at_mut(plane);
                    for (x, px) in row.iter().enumerate() {
                        c0[at + x] = lut[usize::from(px.0[source_of[0]])];
                        c1[at + x] = lut[usize::from(px.0[source_of[1]])];
                        c2[at + x] = lut[usize::from(px.0[source_of[2]])];
                    }
                }
                InputLayout::Nhwc => {
                    let out = &mut tensor[at * 3..(at + sw) * 3];
                    for (o, px) in out.chunks_exact_mut(3).zip(row) {
                        for c in 0..3 {
                            o[c] = lut[usize::from(px.0[source_of[c]])];
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// How a model wants its input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TensorFormat {
    /// Channels first or last.
    pub layout: InputLayout,
    /// 0-1 or 0-255.
    pub range: PixelRange,
    /// RGB or BGR.
    pub order: ChannelOrder,
}

/// Where the channels are in the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputLayout {
    /// `[1, 3, H, W]`, as PyTorch exports.
    #[default]
    Nchw,
    /// `[1, H, W, 3]`, as TensorFlow exports.
    Nhwc,
}

/// The range pixel values are scaled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelRange {
    /// 0 to 1 (pixel / 255), as Ultralytics models expect.
    #[default]
    Unit,
    /// 0 to 255, unscaled.
    Byte,
}

/// The order of the colour channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV's own order, as Caffe-era models expect).
    Bgr,
}

/// Bytes as floats, unscaled.
fn byte_lut() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|v| v as f32))
}

/// `v as f32 / 255.0` for every byte, computed as NumPy does, so tensors match bit for bit.
fn unit_lut() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|v| v as f32 / 255.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, Vec3b, CV_8UC3};

    fn close(a: [f32; 4], b: [f32; 4]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3)
    }

    #[test]
    fn geometry_of_wide_tall_square_and_odd_frames() {
        let wide = Letterbox::new((640, 480), (640, 640));
        assert_eq!((wide.scaled, wide.pad_left, wide.pad_top), ((640, 480), 0, 80));
        let tall = Letterbox::new((480, 640), (640, 640));
        assert_eq!((tall.scaled, tall.pad_left, tall.pad_top), ((480, 640), 80, 0));
        let square = Letterbox::new((1000, 1000), (640, 640));
        assert_eq!((square.scaled, square.pad_left, square.pad_top), ((640, 640), 0, 0));
        let odd = Letterbox::new((773, 411), (640, 640));
        assert_eq!(odd.scaled, (640, 340));
        assert_eq!((odd.pad_left, odd.pad_top), (0, 150));
        let odd_pad = Letterbox::new((640, 479), (640, 640));
        assert_eq!((odd_pad.pad_top, 640 - 479 - odd_pad.pad_top), (80, 81), "the odd pixel goes to the bottom");
    }

    #[test]
    fn boxes_round_trip_for_every_shape() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [12.5, 30.25, 300.0, 200.0], [100.0, 50.0, 101.0, 51.0]];
        for (source, input) in
            [((640, 480), (640, 640)), ((480, 640), (640, 640)), ((777, 333), (320, 320)), ((1920, 1080), (640, 384))]
        {
            for lb in [Letterbox::new(source, input), Letterbox::stretch(source, input)] {
                for b in boxes {
                    let back = lb.to_source(lb.to_input(b));
                    assert!(close(back, b), "{lb:?}: {b:?} → {back:?}");
                }
            }
        }
    }

    #[test]
    fn boxes_in_the_padding_are_clipped_to_the_frame() {
        let lb = Letterbox::new((640, 480), (640, 640));
        assert_eq!(lb.to_source([-5.0, 10.0, 700.0, 630.0]), [0.0, 0.0, 640.0, 480.0]);
    }

    #[test]
    fn fill_pads_with_grey_and_swaps_to_rgb_planes() {
        let mut image =
            Mat::new_rows_cols_with_default(2, 4, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0)).expect("mat");
        *image.at_2d_mut::<Vec3b>(0, 0).expect("px") = Vec3b::from([255, 0, 0]);
        let lb = Letterbox::new((4, 2), (4, 4));
        assert_eq!((lb.pad_top, lb.scaled), (1, (4, 2)));
        let mut tensor = vec![0.0; 3 * 16];
        lb.fill(&image, &mut Mat::default(), &mut tensor, TensorFormat::default()).expect("fill");
        let at = |c: usize, y: usize, x: usize| tensor[c * 16 + y * 4 + x];
        assert_eq!(at(0, 0, 0), 114.0 / 255.0, "top padding");
        assert_eq!(at(0, 3, 3), 114.0 / 255.0, "bottom padding");
        assert_eq!((at(0, 1, 0), at(2, 1, 0)), (0.0, 1.0), "blue pixel lands in the B plane");
        assert_eq!((at(0, 1, 1), at(1, 1, 1), at(2, 1, 1)), (30.0 / 255.0, 20.0 / 255.0, 10.0 / 255.0));

        let format = TensorFormat { layout: InputLayout::Nhwc, range: PixelRange::Byte, order: ChannelOrder::Bgr };
        lb.fill(&image, &mut Mat::default(), &mut tensor, format).expect("fill");
        let px = |y: usize, x: usize| &tensor[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        assert_eq!(px(0, 0), [114.0, 114.0, 114.0], "top padding, unscaled");
        assert_eq!(px(1, 0), [255.0, 0.0, 0.0], "BGR order, channels last");
        assert_eq!(px(1, 1), [10.0, 20.0, 30.0]);
    }

    /// A part of a frame (not copied out, its rows apart in memory) fills the tensor as the same
    /// pixels copied out do, scaled or not.
    #[test]
    fn a_part_of_a_frame_fills_as_its_copy_does() {
        let mut frame = Mat::new_rows_cols_with_default(120, 200, CV_8UC3, Scalar::all(0.0)).expect("mat");
        opencv::core::randu(&mut frame, &Scalar::all(0.0), &Scalar::all(256.0)).expect("noise");
        let rect = opencv::core::Rect::new(30, 20, 64, 48);
        let part = frame.roi(rect).expect("roi");
        assert!(!part.is_continuous());
        let copy = part.try_clone().expect("copy");
        for input in [(64, 64), (32, 32)] {
            let lb = Letterbox::new((64, 48), input);
            let size = 3 * (input.0 * input.1) as usize;
            let (mut of_part, mut of_copy) = (vec![0.0; size], vec![0.0; size]);
            lb.fill(&part, &mut Mat::default(), &mut of_part, TensorFormat::default()).expect("fill");
            lb.fill(&copy, &mut Mat::default(), &mut of_copy, TensorFormat::default()).expect("fill");
            assert_eq!(of_part, of_copy, "into {input:?}");
        }
    }
}
