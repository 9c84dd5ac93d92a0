//! A frame number and capture time written into a frame's pixels, so that they survive JPEG
//! compression and let the server measure capture-to-result latency and dropped frames without
//! any field in the protocol.
//!
//! The stamp is a strip of 8x8 blocks at the top-left of the frame, one bit per block (black 0,
//! white 1), aligned with JPEG's 8x8 blocks so that compression at any usual quality keeps them
//! readable. 120 bits: an 8-bit marker, the 32-bit frame number, the 64-bit capture time in
//! microseconds since the Unix epoch, and a 16-bit check.

use crate::error::CaptureError;
use opencv::core::{Mat, CV_8UC3};
use opencv::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BLOCK: usize = 8;
const MARKER: u8 = 0xA7;
const BITS: usize = 8 + 32 + 64 + 16;

/// The numbers carried by a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number (the low 32 bits of the source's counter).
    pub index: u32,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_us: u64,
}

impl Stamp {
    /// A stamp for frame `index` captured at `captured`.
    pub fn new(index: u64, captured: SystemTime) -> Self {
        let captured_us = captured.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        Self { index: index as u32, captured_us: u64::try_from(captured_us).unwrap_or(u64::MAX) }
    }

    /// The capture time as a wall-clock instant.
    pub fn captured(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.captured_us)
    }

    /// How many pixel rows the stamp covers in an image `width` pixels wide (0 if it cannot fit).
    pub fn height(width: usize) -> usize {
        let per_row = width / BLOCK;
        if per_row == 0 {
            return 0;
        }
        BITS.div_ceil(per_row) * BLOCK
    }

    /// Writes the stamp into the top rows of an 8-bit BGR image.
    pub fn write(&self, image: &mut Mat) -> Result<(), CaptureError> {
        let (width, height) = (image.cols() as usize, image.rows() as usize);
        let needed = Self::height(width);
        if image.typ() != CV_8UC3 || !image.is_continuous() || needed == 0 || needed > height {
            return Err(CaptureError::InvalidSize(format!("{width}x{height} too small for a stamp")));
        }
        let bits = self.bits();
        let data = image.data_bytes_mut()?;
        for (i, bit) in bits.iter().enumerate() {
            let (bx, by) = block_origin(i, width);
            let value = if *bit { 255 } else { 0 };
            for y in by..by + BLOCK {
                let row = &mut data[(y * width + bx) * 3..(y * width + bx + BLOCK) * 3];
                row.fill(value);
            }
        }
        Ok(())
    }

    /// Reads a stamp from an 8-bit BGR image; `None` when there is none or it does not check out.
    pub fn read(image: &Mat) -> Option<Self> {
        let (width, height) = (image.cols() as usize, image.rows() as usize);
        let needed = Self::height(width);
        if image.typ() != CV_8UC3 || !image.is_continuous() || needed == 0 || needed > height {
            return None;
        }
        let data = image.data_bytes().ok()?;
        let mut bits = [false; BITS];
        for (i, bit) in bits.iter_mut().enumerate() {
            let (bx, by) = block_origin(i, width);
            // Average the block's centre, away from the edges that compression smears.
            let mut sum = 0u32;
            for y in by + 2..by + BLOCK - 2 {
                for x in bx + 2..bx + BLOCK - 2 {
                    let p = (y * width + x) * 3;
                    sum += u32::from(data[p]) + u32::from(data[p + 1]) + u32::from(data[p + 2]);
                }
            }
            *bit = sum / (16 * 3) > 127;
        }
        Self::from_bits(&bits)
    }

    fn bits(&self) -> [bool; BITS] {
        let mut bits = [false; BITS];
        let mut push = |at: &mut usize, value: u64, n: usize| {
            for k in (0..n).rev() {
                bits[*at] = (value >> k) & 1 == 1;
                *at += 1;
            }
        };
        let mut at = 0;
        push(&mut at, u64::from(MARKER), 8);
        push(&mut at, u64::from(self.index), 32);
        push(&mut at, self.captured_us, 64);
        push(&mut at, u64::from(check(self.index, self.captured_us)), 16);
        bits
    }

    fn from_bits(bits: &[bool; BITS]) -> Option<Self> {
        let mut at = 0;
        let mut take = |n: usize| {
            let v = bits[at..at + n].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
            at += n;
            v
        };
        let marker = take(8) as u8;
        let index = take(32) as u32;
        let captured_us = take(64);
        let sum = take(16) as u16;
        (marker == MARKER && sum == check(index, captured_us)).then_some(Self { index, captured_us })
    }
}

fn block_origin(bit: usize, width: usize) -> (usize, usize) {
    let per_row = width / BLOCK;
    ((bit % per_row) * BLOCK, (bit / per_row) * BLOCK)
}

fn check(index: u32, captured_us: u64) -> u16 {
    let words = [index as u16, (index >> 16) as u16, captured_us as u16, (captured_us >> 16) as u16];
    let tail = [(captured_us >> 32) as u16, (captured_us >> 48) as u16];
    words.iter().chain(&tail).fold(0x5A5Au16, |acc, w| acc.rotate_left(3) ^ w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg;
    use opencv::core::Scalar;

    fn noisy(width: i32, height: i32) -> Mat {
        let mut m = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(0.0)).expect("mat");
        let mut seed = 7u32;
        for b in m.data_bytes_mut().expect("bytes") {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (seed >> 24) as u8;
        }
        m
    }

    #[test]
    fn survives_jpeg_at_common_qualities_and_sizes() {
        let stamp = Stamp { index: 0xDEAD_BEEF, captured_us: 1_795_698_744_604_022 };
        for (w, h) in [(640, 480), (320, 240), (1280, 720), (96, 160)] {
            for quality in [100, 80, 50] {
                let mut image = noisy(w, h);
                stamp.write(&mut image).expect("write");
                let jpeg = jpeg::encode(&image, quality).expect("encode");
                let back = jpeg::decode(&jpeg, jpeg::DEFAULT_MAX_PIXELS).expect("decode");
                assert_eq!(Stamp::read(&back), Some(stamp), "{w}x{h} q{quality}");
            }
        }
    }

    #[test]
    fn unstamped_frame_reads_as_none() {
        assert_eq!(Stamp::read(&noisy(640, 480)), None);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_check() {
        let stamp = Stamp { index: 5, captured_us: 1_000_000 };
        let mut bits = stamp.bits();
        bits[20] = !bits[20];
        assert_eq!(Stamp::from_bits(&bits), None);
    }

    #[test]
    fn too_narrow_an_image_is_refused() {
        assert!(Stamp { index: 1, captured_us: 1 }.write(&mut noisy(4, 400)).is_err());
    }
}
