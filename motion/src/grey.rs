//! The small grey picture the motion check works on: one byte per pixel, rows one after another.

use crate::error::MotionError;

/// A grey picture, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grey {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// The largest side of a motion picture: far beyond the ~100-200 rows it is made at, small
/// enough that a hostile frame cannot make the check allocate much.
pub const MAX_SIDE: usize = 4096;

impl Grey {
    /// A `width` x `height` picture of `pixels` (row by row); refused when the sizes disagree or a
    /// side is 0 or over [`MAX_SIDE`].
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self, MotionError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || pixels.len() != width * height {
            return Err(MotionError::BadPicture { width, height, bytes: pixels.len() });
        }
        Ok(Self { width, height, pixels })
    }

    /// A picture of one grey value.
    pub fn filled(width: usize, height: usize, value: u8) -> Result<Self, MotionError> {
        Self::new(width, height, vec![value; width.saturating_mul(height).min(MAX_SIDE * MAX_SIDE)])
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row by row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels, to draw on (tests make their frames this way).
    pub fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }

    /// Sets the pixels of the rectangle `[x1, x2) x [y1, y2)` (clipped to the picture) to `value`.
    pub fn fill_rect(&mut self, [x1, y1, x2, y2]: [usize; 4], value: u8) {
        let (x2, y2) = (x2.min(self.width), y2.min(self.height));
        for y in y1.min(y2)..y2 {
            self.pixels[y * self.width + x1.min(x2)..y * self.width + x2].fill(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_must_agree_and_stay_bounded() {
        assert!(Grey::new(4, 3, vec![0; 12]).is_ok());
        assert!(Grey::new(4, 3, vec![0; 11]).is_err());
        assert!(Grey::new(0, 3, Vec::new()).is_err());
        assert!(Grey::new(MAX_SIDE + 1, 1, vec![0; MAX_SIDE + 1]).is_err());
        let mut grey = Grey::filled(4, 3, 7).expect("grey");
        grey.fill_rect([1, 1, 9, 9], 200);
        assert_eq!(grey.pixels(), [7, 7, 7, 7, 7, 200, 200, 200, 7, 200, 200, 200]);
    }
}
