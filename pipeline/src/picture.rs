//! The motion picture: a camera frame's small grey copy, which the motion check compares with
//! the camera's background. It is made from the frame decoded whole ([`motion_picture`]) or, for
//! a fraction of the work, from the frame's JPEG alone ([`motion_picture_of_jpeg`]). The two are
//! the same picture within a level or two of brightness, so a camera's frames can be planned
//! either way in turn.

use nvt_capture::Mat;
use nvt_motion::Grey;
use opencv::core::{Rect as CvRect, Size, ToInputArray};
use opencv::imgproc;
use opencv::prelude::*;

/// The motion picture's reference height (Frigate's motion frame height): `--motion-area` is in
/// pixels of a picture this high, and a sliver's picture is this high.
pub const MOTION_ROWS: i32 = 100;

/// The fewest rows a motion picture shrunk by a whole factor has (it has fewer only when the
/// frame is that small, or a panorama).
const LEAST_MOTION_ROWS: i32 = 75;

/// The whole factors a frame shrinks by: those a JPEG decoder shrinks by as it decodes (1, 2, 4,
/// 8), and multiples of 8 (a decode at 1/8, then whole blocks averaged). The largest one that is
/// at most `f`, or, with `up`, the smallest one that is at least `f`.
fn whole_factor(f: i32, up: bool) -> i32 {
    match (f, up) {
        (..=1, _) => 1,
        (2, _) | (3, false) => 2,
        (3..=4, true) | (4..=7, false) => 4,
        (5..=8, true) => 8,
        (_, false) => f / 8 * 8,
        (_, true) => (f + 7) / 8 * 8,
    }
}

/// The motion picture's size for a `width` x `height` frame, and the whole factor the frame
/// shrinks by to it (`None`: a sliver, shrunk by a fraction): 75 to 149 rows (the frame as it is
/// when smaller; a panorama fewer rows, so that no side is over
/// [`nvt_motion::grey::MAX_SIDE`]). The factor is one a JPEG decoder shrinks by, or a multiple
/// of 8, so that a picture decoded at a reduced scale from the JPEG alone is the one shrunk from
/// the frame decoded whole ([`motion_picture_of_jpeg`]).
pub(crate) fn motion_geometry(width: i32, height: i32) -> (Option<i32>, i32, i32) {
    let widest = nvt_motion::grey::MAX_SIDE as i32;
    let factor = whole_factor(height / LEAST_MOTION_ROWS, false).max(whole_factor((width + widest - 1) / widest, true));
    if factor <= width && factor <= height {
        return (Some(factor), width / factor, height / factor);
    }
    let mut rows = height.clamp(1, MOTION_ROWS);
    let mut cols =
        ((i64::from(width) * i64::from(rows)) / i64::from(height.max(1))).clamp(1, i64::from(width.max(1))) as i32;
    if cols > widest {
        rows = ((i64::from(height) * i64::from(widest)) / i64::from(width.max(1))).max(1) as i32;
        cols = widest;
    }
    (None, cols, rows)
}

/// A grey picture shrunk to `cols` x `rows` by a fraction (OpenCV's area average), as a motion
/// picture.
fn shrink_grey(grey: &(impl MatTraitConst + ToInputArray), cols: i32, rows: i32) -> Result<Grey, opencv::Error> {
    let mut small = Mat::default();
    imgproc::resize(grey, &mut small, Size::new(cols, rows), 0.0, 0.0, imgproc::INTER_AREA)?;
    let small = if small.is_continuous() { small } else { small.try_clone()? };
    grey_of(cols as usize, rows as usize, small.data_bytes()?.to_vec())
}

/// The largest factor whose blocks are averaged here ([`average_blocks`]), far inside what its
/// sums hold; past it (a frame of millions of rows) OpenCV shrinks the frame.
const MOST_AVERAGED: i32 = 1 << 16;

/// OpenCV's weights of blue, green and red (and alpha) in a grey level (`COLOR_BGR2GRAY`), in
/// 2^-14.
const GREY_WEIGHTS: [u64; 4] = [1868, 9617, 4899, 0];

/// The `cols` x `rows` motion picture of a grey, BGR or BGRA picture: the grey level of each
/// `factor` x `factor` block from the top left, averaged and rounded to the nearest level; rows
/// and columns past the last whole block are left out. A BGR block's grey is its average
/// colour's, which is the average of its pixels' grey (up to their rounding), so no grey copy of
/// the frame is made. Whole rows are summed at a time: this runs on every frame the detector
/// looks at, and costs a fraction of a grey copy shrunk by OpenCV.
fn average_blocks(picture: &Mat, factor: usize, cols: usize, rows: usize) -> Result<Grey, opencv::Error> {
    let owned;
    let picture = if picture.is_continuous() {
        picture
    } else {
        owned = picture.try_clone()?;
        &owned
    };
    let stride = picture.cols().max(0) as usize * picture.channels().max(0) as usize;
    let data = picture.data_bytes()?;
    let blocks = Blocks { factor, cols, rows };
    let pixels = match (picture.depth(), picture.channels()) {
        (opencv::core::CV_8U, 1) => blocks.average::<1>(data, stride),
        (opencv::core::CV_8U, 3) => blocks.average::<3>(data, stride),
        (opencv::core::CV_8U, 4) => blocks.average::<4>(data, stride),
        _ => {
            let message = "a motion picture is made of 8-bit grey, BGR or BGRA".to_owned();
            return Err(opencv::Error::new(opencv::core::StsBadArg, message));
        }
    };
    grey_of(cols, rows, pixels)
}

/// How a picture is cut into the blocks of its motion picture.
struct Blocks {
    factor: usize,
    cols: usize,
    rows: usize,
}

impl Blocks {
    /// The grey level of each block of `data`, rows of `stride` bytes of pixels of `N`
    /// channels (grey, BGR or BGRA).
    fn average<const N: usize>(&self, data: &[u8], stride: usize) -> Vec<u8> {
        let Self { factor, cols, rows } = *self;
        let width = cols * factor * N;
        let area = (factor * factor) as u64;
        // Up to 257 rows of levels are summed in a u16, and a block's sums of them in a u64.
        let mut sums = vec![0u16; width];
        let mut blocks = vec![[0u64; N]; cols];
        let mut pixels = Vec::with_capacity(cols * rows);
        for row in 0..rows {
            blocks.fill([0; N]);
            let end = (row + 1) * factor;
            for band in (row * factor..end).step_by(257) {
                sums.fill(0);
                for y in band..(band + 257).min(end) {
                    for (sum, &level) in sums.iter_mut().zip(&data[y * stride..][..width]) {
                        *sum += u16::from(level);
                    }
                }
                for (block, run) in blocks.iter_mut().zip(sums.chunks_exact(factor * N)) {
                    for pixel in run.chunks_exact(N) {
                        for (b, &sum) in block.iter_mut().zip(pixel) {
                            *b += u64::from(sum);
                        }
                    }
                }
            }
            pixels.extend(blocks.iter().map(|block| {
                let level = match block.as_slice() {
                    [grey] => (grey + area / 2) / area,
                    bgr => {
                        let weighted: u64 = bgr.iter().zip(GREY_WEIGHTS).map(|(sum, weight)| sum * weight).sum();
                        (weighted + (area << 13)) / (area << 14)
                    }
                };
                level.min(255) as u8
            }));
        }
        pixels
    }
}

/// A motion picture of these pixels.
fn grey_of(cols: usize, rows: usize, pixels: Vec<u8>) -> Result<Grey, opencv::Error> {
    Grey::new(cols, rows, pixels).map_err(|error| opencv::Error::new(opencv::core::StsBadArg, error.to_string()))
}

/// The frame's small grey copy ([`motion_geometry`]). The frame is shrunk by a whole factor
/// where it can be (the few rows and columns past the last whole block left out), which is
/// several times as fast as shrinking by a fraction.
pub fn motion_picture(image: &Mat) -> Result<Grey, opencv::Error> {
    let (width, height) = (image.cols(), image.rows());
    if width < 1 || height < 1 {
        return Err(opencv::Error::new(opencv::core::StsBadArg, "an empty frame has no motion picture".to_owned()));
    }
    let (factor, cols, rows) = motion_geometry(width, height);
    if let Some(factor) = factor.filter(|&factor| factor <= MOST_AVERAGED) {
        return average_blocks(image, factor as usize, cols as usize, rows as usize);
    }
    // A sliver, or a frame of millions of rows: OpenCV shrinks its grey copy.
    let blocks = match factor {
        Some(factor) => CvRect::new(0, 0, cols * factor, rows * factor),
        None => CvRect::new(0, 0, width, height),
    };
    let frame = image.roi(blocks)?;
    let mut grey = Mat::default();
    match frame.channels() {
        1 => frame.copy_to(&mut grey)?,
        4 => imgproc::cvt_color_def(&frame, &mut grey, imgproc::COLOR_BGRA2GRAY)?,
        _ => imgproc::cvt_color_def(&frame, &mut grey, imgproc::COLOR_BGR2GRAY)?,
    }
    shrink_grey(&grey, cols, rows)
}

/// The motion picture of a `size` frame (its header's) from its `jpeg` alone, as
/// [`motion_picture`] makes it from the frame decoded whole, for a fraction of the work: the
/// decoder shrinks the frame by the largest of 8, 4 and 2 that divides the factor as it decodes
/// (a 1280x720 frame straight to its 160x90 picture), and whole blocks of what it gives are
/// averaged for the rest. The two pictures differ by a level or two of brightness (the
/// decoder's reduced transform, and rounding).
pub fn motion_picture_of_jpeg(
    jpeg: &[u8],
    size: (u32, u32),
    max_pixels: u64,
) -> Result<Grey, nvt_capture::CaptureError> {
    let side = |s: u32| i32::try_from(s).unwrap_or(i32::MAX).max(1);
    let (factor, cols, rows) = motion_geometry(side(size.0), side(size.1));
    // Only a JPEG's decoder shrinks as it decodes (OpenCV samples a PNG down after decoding it,
    // which is not the average).
    let is_jpeg = jpeg.starts_with(&[0xFF, 0xD8]);
    let reduction = factor.filter(|_| is_jpeg).and_then(|f| [8, 4, 2].into_iter().find(|r| f % r == 0)).unwrap_or(1);
    let small = nvt_capture::jpeg::decode_grey(jpeg, max_pixels, reduction as u32)?;
    // The picture is the header's size, shrunk (rounded up): any other is refused, never cropped.
    let expected = |side: u32| i32::try_from(side.div_ceil(reduction as u32)).unwrap_or(i32::MAX);
    if (small.cols(), small.rows()) != (expected(size.0), expected(size.1)) {
        return Err(nvt_capture::CaptureError::Corrupt);
    }
    Ok(match factor.map(|factor| factor / reduction) {
        Some(factor) if factor <= MOST_AVERAGED => {
            average_blocks(&small, factor as usize, cols as usize, rows as usize)?
        }
        // A frame of millions of rows: its whole blocks, shrunk by OpenCV.
        Some(factor) => shrink_grey(&small.roi(CvRect::new(0, 0, cols * factor, rows * factor))?, cols, rows)?,
        None => shrink_grey(&small, cols, rows)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC3};

    fn frame(width: i32, height: i32) -> Mat {
        Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(90.0)).expect("mat")
    }

    #[test]
    fn the_motion_picture_is_grey_and_the_frame_shrunk_by_a_whole_factor() {
        let grey = motion_picture(&frame(640, 480)).expect("picture");
        assert_eq!((grey.width(), grey.height()), (160, 120), "4 x 4 blocks");
        assert!(grey.pixels().iter().all(|&p| p == 90));
        let hd = motion_picture(&frame(1280, 720)).expect("picture");
        assert_eq!((hd.width(), hd.height()), (160, 90), "8 x 8 blocks, a JPEG decoder's largest reduction");
        let full_hd = motion_picture(&frame(1920, 1080)).expect("picture");
        assert_eq!((full_hd.width(), full_hd.height()), (240, 135), "8 x 8 blocks");
        let uhd = motion_picture(&frame(3840, 2160)).expect("picture");
        assert_eq!((uhd.width(), uhd.height()), (160, 90), "24 x 24 blocks: 1/8, then 3 x 3");
        let odd = motion_picture(&frame(1366, 768)).expect("picture");
        assert_eq!((odd.width(), odd.height()), (170, 96), "8 x 8 blocks, 6 columns left out");
        let small = motion_picture(&frame(64, 48)).expect("picture");
        assert_eq!((small.width(), small.height()), (64, 48), "a smaller frame is used as it is");
        let panorama = motion_picture(&frame(9000, 100)).expect("picture");
        assert_eq!((panorama.width(), panorama.height()), (2250, 25), "no side over the largest");
        let sliver = motion_picture(&frame(2, 900)).expect("picture");
        assert_eq!((sliver.width(), sliver.height()), (1, 100), "a side shorter than the factor: a fraction");
        let strip = motion_picture(&frame(8193, 2)).expect("picture");
        assert_eq!((strip.width(), strip.height()), (4096, 1));
        let thread = motion_picture(&frame(1, 5000)).expect("picture");
        assert_eq!((thread.width(), thread.height()), (1, 100));
    }

    /// nvt-server plans a camera's frames from their JPEG alone while nothing moves, and from the
    /// frame decoded whole after a detector run: on real photos at the sizes cameras send (and
    /// odd ones) both pictures have the same size and differ by a few levels at most, far under
    /// the motion threshold.
    #[test]
    fn the_motion_picture_of_a_jpeg_is_the_one_of_the_frame_decoded_whole() {
        let sizes = [
            (1280, 720),
            (1920, 1080),
            (640, 480),
            (1366, 768),
            (3840, 2160),
            (2560, 1440),
            (1001, 777),
            (320, 240),
            (160, 120),
            (33, 17),
            (7000, 90),
        ];
        for photo in ["dog", "giraffe", "kite"] {
            let path = format!("/usr/share/darknet/data/{photo}.jpg");
            let photo = opencv::imgcodecs::imread(&path, opencv::imgcodecs::IMREAD_COLOR).expect("photo");
            assert!(!photo.empty(), "{path}: make setup installs darknet's photos");
            for (w, h) in sizes {
                let mut image = Mat::default();
                imgproc::resize(&photo, &mut image, Size::new(w, h), 0.0, 0.0, imgproc::INTER_LINEAR).expect("resize");
                let jpeg = nvt_capture::jpeg::encode(&image, 90).expect("jpeg");
                let decoded = nvt_capture::jpeg::decode(&jpeg, 1 << 26).expect("decode");
                let whole = motion_picture(&decoded).expect("picture");
                let of_jpeg = motion_picture_of_jpeg(&jpeg, (w as u32, h as u32), 1 << 26).expect("picture");
                assert_eq!((of_jpeg.width(), of_jpeg.height()), (whole.width(), whole.height()), "{path} at {w}x{h}");
                let most = whole.pixels().iter().zip(of_jpeg.pixels()).map(|(&a, &b)| a.abs_diff(b)).max();
                // Where the decoder shrinks by 8 (frames of 600 rows and more) the two agree
                // within 2 levels. By 4 or 2 its reduced transform is rougher (up to 7 levels
                // on these photos), and at full size (a frame under 150 rows) its grey and
                // OpenCV's grey of its colours differ where a colour is clipped (up to 11).
                let by_8 = motion_geometry(w, h).0.is_some_and(|factor| factor % 8 == 0);
                let bound = if by_8 { 2 } else { 12 };
                assert!(most.unwrap_or(0) <= bound, "{path} at {w}x{h}: {most:?} levels apart");
            }
            let mut image = Mat::default();
            imgproc::resize(&photo, &mut image, Size::new(1280, 720), 0.0, 0.0, imgproc::INTER_LINEAR).expect("resize");
            // A PNG frame (OpenCV samples a PNG down after decoding it, which is no average):
            // decoded at full size and averaged, the same picture.
            let mut png = opencv::core::Vector::<u8>::new();
            opencv::imgcodecs::imencode_def(".png", &image, &mut png).expect("png");
            let of_png = motion_picture_of_jpeg(png.as_slice(), (1280, 720), 1 << 26).expect("picture");
            let whole = motion_picture(&image).expect("picture");
            let most = whole.pixels().iter().zip(of_png.pixels()).map(|(&a, &b)| a.abs_diff(b)).max();
            assert!(most.is_some_and(|m| m <= 1), "{path} as a PNG: {most:?} levels apart");
        }
    }

    /// The blocks are averaged as OpenCV's grey conversion and area average do it, on grey, BGR
    /// and BGRA pictures with rows and columns past the last whole block.
    #[test]
    fn blocks_are_averaged_as_opencvs_grey_and_area_average_do() {
        for channels in [1, 3, 4] {
            let typ = opencv::core::CV_MAKETYPE(opencv::core::CV_8U, channels);
            let mut noise = Mat::new_rows_cols_with_default(725, 1283, typ, Scalar::all(0.0)).expect("mat");
            opencv::core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(256.0)).expect("noise");
            let mut grey = Mat::default();
            match channels {
                3 => imgproc::cvt_color_def(&noise, &mut grey, imgproc::COLOR_BGR2GRAY).expect("grey"),
                4 => imgproc::cvt_color_def(&noise, &mut grey, imgproc::COLOR_BGRA2GRAY).expect("grey"),
                _ => grey = noise.clone(),
            }
            for factor in [1usize, 2, 4, 8, 24, 300] {
                let (cols, rows) = (1283 / factor, 725 / factor);
                let ours = average_blocks(&noise, factor, cols, rows).expect("averaged");
                let part = grey.roi(CvRect::new(0, 0, (cols * factor) as i32, (rows * factor) as i32)).expect("roi");
                let mut theirs = Mat::default();
                let size = Size::new(cols as i32, rows as i32);
                imgproc::resize(&part, &mut theirs, size, 0.0, 0.0, imgproc::INTER_AREA).expect("resize");
                let theirs = theirs.data_bytes().expect("bytes");
                let most = ours.pixels().iter().zip(theirs).map(|(&a, &b)| a.abs_diff(b)).max();
                // OpenCV rounds each pixel's grey before averaging.
                assert!(most.is_some_and(|m| m <= 1), "{channels} channels by {factor}: {most:?} levels apart");
                let exact = ours.pixels().iter().zip(theirs).filter(|(a, b)| a == b).count();
                // Grey blocks differ only where a block's average ends in a half (OpenCV rounds
                // some of those down); BGR ones, averaged before their grey is rounded, a little
                // more often.
                let share = if channels == 1 { 90 } else { 80 };
                assert!(
                    exact * 100 >= share * cols * rows,
                    "{channels} by {factor}: {exact} of {} the same",
                    cols * rows
                );
            }
        }
    }

    /// A block of more than 257 rows is summed in bands (a u16 holds 257 rows of 255): white
    /// stays white, and half white half black is the grey between, at the factors around it.
    #[test]
    fn tall_blocks_of_white_do_not_overflow_the_row_sums() {
        for factor in [256usize, 257, 258, 300, 515, 600] {
            let white = Mat::new_rows_cols_with_default(factor as i32, 2 * factor as i32, CV_8UC3, Scalar::all(255.0))
                .expect("white");
            let picture = average_blocks(&white, factor, 2, 1).expect("averaged");
            assert_eq!(picture.pixels(), [255, 255], "by {factor}");
            let mut halves = white.clone();
            let bottom = CvRect::new(0, factor as i32 / 2, 2 * factor as i32, (factor - factor / 2) as i32);
            halves.roi_mut(bottom).expect("roi").set_to_def(&Scalar::all(0.0)).expect("black");
            let picture = average_blocks(&halves, factor, 2, 1).expect("averaged");
            let expected = ((factor / 2) as f64 * 255.0 / factor as f64).round() as u8;
            assert!(picture.pixels().iter().all(|&p| p.abs_diff(expected) <= 1), "by {factor}: {:?}", picture.pixels());
        }
    }
}
