//! The motion check: a background model per camera, on a small grey copy of each frame.
//!
//! Each frame is blurred (3x3) against sensor noise. A frame where most of the picture differs
//! from the background by more than the threshold is a lighting change (Frigate's lightning
//! rule): the background restarts from it, and nothing moved. Otherwise the brightness change of
//! the whole picture is fitted and taken out ([`crate::brightness`]), so that a smaller one (a
//! gain, a partial change) is not motion either; a pixel has changed when it still differs from
//! the background by more than the threshold; masked pixels never change; the changed pixels
//! are grown and grouped into blobs, and blobs smaller than the least area are dropped.
//! Then the background moves towards the frame at the learning rate, so that whatever stops
//! moving becomes background.

use crate::blobs::{self, Blob};
use crate::brightness::Brightness;
use crate::grey::Grey;
use crate::mask::Mask;
use crate::settings::MotionSettings;

/// The most blobs one frame reports (the largest); more would only be merged into regions.
pub const MAX_BLOBS: usize = 64;

/// What the motion check saw in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Motion {
    /// The moving blobs, in pixels of the motion picture.
    pub blobs: Vec<Blob>,
    /// The share of the considered pixels that changed.
    pub changed: f32,
    /// The frame was a lighting change (the background restarted from it).
    pub lighting: bool,
    /// There was no background yet (the camera's first frame, or its size changed).
    pub first: bool,
}

impl Motion {
    /// Whether anything moved.
    pub fn moved(&self) -> bool {
        !self.blobs.is_empty()
    }
}

/// One camera's background, and the buffers its checks reuse.
#[derive(Debug, Default)]
pub struct MotionDetector {
    size: (usize, usize),
    background: Vec<f32>,
    blurred: Vec<f32>,
    changed: Vec<bool>,
    grown: Vec<bool>,
}

impl MotionDetector {
    /// A detector with no background yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one frame against the background, then learns from it. `mask` must fit the frame
    /// (a mask of another size ignores nothing).
    pub fn check(&mut self, frame: &Grey, mask: &Mask, settings: &MotionSettings) -> Motion {
        let (width, height) = (frame.width(), frame.height());
        blur(frame, &mut self.blurred);
        if self.size != (width, height) || self.background.len() != self.blurred.len() {
            self.size = (width, height);
            self.background.clone_from(&self.blurred);
            return Motion { blobs: Vec::new(), changed: 0.0, lighting: false, first: true };
        }
        let fallback;
        let mask = if mask.fits(width, height) {
            mask
        } else {
            fallback = Mask::new(&[], "", width, height);
            &fallback
        };
        let threshold = f32::from(settings.threshold);
        // Frigate's lightning rule, on the plain difference: most of the picture changed.
        let (mut considered, mut raw) = (0usize, 0usize);
        for (i, (&f, &b)) in self.blurred.iter().zip(&self.background).enumerate() {
            if !mask.ignores(i) {
                considered += 1;
                raw += usize::from((f - b).abs() > threshold);
            }
        }
        let raw_share = if considered == 0 { 0.0 } else { raw as f32 / considered as f32 };
        if raw_share > settings.lightning {
            self.background.clone_from(&self.blurred);
            return Motion { blobs: Vec::new(), changed: raw_share, lighting: true, first: false };
        }
        // A smaller brightness change (part of the picture, or under the lightning share) is
        // taken out before pixels are judged.
        let fit = Brightness::fit(&self.blurred, &self.background, mask);
        self.changed.clear();
        let mut changed = 0usize;
        for (i, (&f, &b)) in self.blurred.iter().zip(&self.background).enumerate() {
            let moved = !mask.ignores(i) && (f - b - fit.expected(b)).abs() > threshold;
            changed += usize::from(moved);
            self.changed.push(moved);
        }
        let share = if considered == 0 { 0.0 } else { changed as f32 / considered as f32 };
        blobs::grow(&self.changed, width, height, &mut self.grown);
        let scale = (height as f32 / 100.0).powi(2);
        let least = (settings.least_area * scale).round().max(1.0) as usize;
        let found = blobs::find(&self.grown, width, height, least, MAX_BLOBS);
        let rate = settings.learning_rate.clamp(0.0, 1.0);
        for (b, &f) in self.background.iter_mut().zip(&self.blurred) {
            *b += rate * (f - *b);
        }
        Motion { blobs: found, changed: share, lighting: false, first: false }
    }
}

/// A 3x3 box blur (edges replicated), into `out`.
fn blur(frame: &Grey, out: &mut Vec<f32>) {
    let (w, h, p) = (frame.width(), frame.height(), frame.pixels());
    out.clear();
    out.reserve(w * h);
    for y in 0..h {
        let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)];
        for x in 0..w {
            let cols = [x.saturating_sub(1), x, (x + 1).min(w - 1)];
            let mut sum = 0u32;
            for r in rows {
                for c in cols {
                    sum += u32::from(p[r * w + c]);
                }
            }
            out.push(sum as f32 / 9.0);
        }
    }
}

#[cfg(test)]
mod tests;
