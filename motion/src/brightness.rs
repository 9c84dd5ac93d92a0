//! A camera that changes brightness all at once (auto exposure, an IR switch, a cloud) changes
//! nearly every pixel without anything moving. The change is fitted, robustly, as a curve of how
//! bright each pixel of the background is: the considered pixels are split into thirds by their
//! background's brightness, and in each third the median of (frame − background) is the change
//! that third saw, at the third's median brightness; between and beyond those three points the
//! change is a straight line. A step, a gain and a gamma change are all such curves. A moving
//! object changes the median of a third only when it covers half of that third, a sixth of the
//! picture, so an object, or one leaving, is not explained away as a brightness change.

use crate::mask::Mask;

/// The brightness change fitted for one frame against its background: three points
/// (background brightness, change).
#[derive(Debug, Clone, PartialEq)]
pub struct Brightness {
    points: [(f32, f32); 3],
}

impl Brightness {
    /// No change.
    pub fn none() -> Self {
        Self { points: [(0.0, 0.0), (128.0, 0.0), (255.0, 0.0)] }
    }

    /// Fits the change from `background` to `frame` over the pixels `mask` does not ignore.
    pub fn fit(frame: &[f32], background: &[f32], mask: &Mask) -> Self {
        let mut of_background = [0u32; 256];
        let mut total = 0u32;
        for (i, &b) in background.iter().enumerate() {
            if !mask.ignores(i) {
                of_background[level(b)] += 1;
                total += 1;
            }
        }
        if total == 0 {
            return Self::none();
        }
        // The background levels where the first and second thirds end.
        let mut ends = [255usize; 2];
        let mut seen = 0u32;
        let mut next = 0;
        for (v, &n) in of_background.iter().enumerate() {
            seen += n;
            while next < 2 && seen * 3 >= total * (next as u32 + 1) {
                ends[next] = v;
                next += 1;
            }
        }
        let third = |b: usize| {
            if b <= ends[0] {
                0
            } else if b <= ends[1] {
                1
            } else {
                2
            }
        };
        let mut changes = vec![[0u32; 511]; 3];
        let mut levels = [[0u32; 256]; 3];
        let mut counts = [0u32; 3];
        for (i, (&f, &b)) in frame.iter().zip(background).enumerate() {
            if mask.ignores(i) {
                continue;
            }
            let t = third(level(b));
            // The change, rounded (half up), shifted to 0-510.
            changes[t][((f - b).clamp(-255.0, 255.0) + 255.5) as usize] += 1;
            levels[t][level(b)] += 1;
            counts[t] += 1;
        }
        let mut points = Vec::with_capacity(3);
        for t in 0..3 {
            if counts[t] > 0 {
                points.push((median(&levels[t], counts[t]), median(&changes[t], counts[t]) - 255.0));
            }
        }
        match points.as_slice() {
            [only] => Self { points: [*only; 3] },
            [a, b] => Self { points: [*a, *b, *b] },
            [a, b, c] => Self { points: [*a, *b, *c] },
            _ => Self::none(),
        }
    }

    /// The change expected at a pixel whose background is `b`.
    pub fn expected(&self, b: f32) -> f32 {
        let [p0, p1, p2] = self.points;
        let (a, c) = if b <= p1.0 { (p0, p1) } else { (p1, p2) };
        let change =
            if (c.0 - a.0).abs() < 1.0 { (a.1 + c.1) / 2.0 } else { a.1 + (c.1 - a.1) * (b - a.0) / (c.0 - a.0) };
        change.clamp(-255.0, 255.0)
    }
}

/// The brightness level of `v` (rounded, 0-255). Adding a half and truncating rounds a
/// non-negative number as `round` does, without a call into libm for every pixel.
fn level(v: f32) -> usize {
    (v.clamp(0.0, 255.0) + 0.5) as usize
}

/// The median bin of a histogram holding `count` values.
fn median<const N: usize>(histogram: &[u32; N], count: u32) -> f32 {
    let half = count.div_ceil(2);
    let mut seen = 0;
    for (bin, &n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= half {
            return bin as f32;
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i * 256 / n) as f32).collect()
    }

    #[test]
    fn a_step_a_gain_and_no_change_are_fitted() {
        let background = ramp(4096);
        let mask = Mask::new(&[], "c", 64, 64);
        let still = Brightness::fit(&background, &background, &mask);
        for b in [0.0, 100.0, 250.0] {
            assert_eq!(still.expected(b), 0.0);
        }
        let brighter: Vec<f32> = background.iter().map(|b| b + 40.0).collect();
        let step = Brightness::fit(&brighter, &background, &mask);
        for b in [0.0, 100.0, 250.0] {
            assert!((step.expected(b) - 40.0).abs() < 1.0, "{b}: {}", step.expected(b));
        }
        // A gain on a scene dark enough that it saturates nowhere (saturation is no gain).
        let dim: Vec<f32> = background.iter().map(|b| b * 0.8).collect();
        let gained: Vec<f32> = dim.iter().map(|b| b * 1.2).collect();
        let gain = Brightness::fit(&gained, &dim, &mask);
        for b in [10.0, 100.0, 180.0] {
            assert!((gain.expected(b) - 0.2 * b).abs() < 2.0, "{b}: {} vs {}", gain.expected(b), 0.2 * b);
        }
    }

    #[test]
    fn an_object_on_a_sixth_of_the_frame_is_not_taken_for_a_brightness_change() {
        let background = ramp(4096);
        let mask = Mask::new(&[], "c", 64, 64);
        for value in [0.0, 255.0] {
            let mut frame = background.clone();
            for v in frame.iter_mut().step_by(6) {
                *v = value;
            }
            let fit = Brightness::fit(&frame, &background, &mask);
            for b in [20.0, 128.0, 230.0] {
                assert!(fit.expected(b).abs() < 2.0, "{value} at {b}: {}", fit.expected(b));
            }
        }
    }

    #[test]
    fn a_dark_object_leaving_is_not_taken_for_a_brightness_change() {
        // A black car covers a tenth of a mid-grey scene, then leaves: the darkest third of the
        // background is mostly the car, and still the change there is not explained away.
        let mut background: Vec<f32> = (0..4096).map(|i| 90.0 + (i % 64) as f32).collect();
        background[..410].fill(5.0);
        let frame: Vec<f32> = (0..4096).map(|i| 90.0 + (i % 64) as f32).collect();
        let fit = Brightness::fit(&frame, &background, &Mask::new(&[], "c", 64, 64));
        assert!(fit.expected(5.0).abs() < 30.0, "{}", fit.expected(5.0));
    }
}
