//! How a camera's frames are looked at: the motion check's thresholds, the masks, and when the
//! detector runs where (`--detect`, `--motion-*`, `--recheck`, `--max-regions`).

use crate::mask::MaskSpec;
use std::sync::Arc;

/// Where the detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectMode {
    /// On every frame, whole (`--detect always`).
    Always,
    /// Only where something moved, and on tracked objects now and then (`--detect motion`).
    Motion,
}

impl std::str::FromStr for DetectMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(Self::Always),
            "motion" => Ok(Self::Motion),
            _ => Err(format!("unknown --detect {text:?}: use motion or always")),
        }
    }
}

/// The motion check's thresholds (Frigate's `motion:` settings, on nvt's motion picture).
#[derive(Debug, Clone, PartialEq)]
pub struct MotionSettings {
    /// A pixel changed when it differs from the background by more than this (0-255), after the
    /// frame's brightness change is taken out.
    pub threshold: u8,
    /// The least area of a moving blob, in pixels of a motion picture 100 rows high (it scales
    /// with the picture's area).
    pub least_area: f32,
    /// How far the background moves towards each frame (0-1): the higher, the sooner something
    /// that stopped becomes background.
    pub learning_rate: f32,
    /// A frame where more than this share of the pixels changed (before any brightness change
    /// is taken out) is a lighting change, not motion: the background starts again from it.
    pub lightning: f32,
}

impl Default for MotionSettings {
    fn default() -> Self {
        Self { threshold: 30, least_area: 10.0, learning_rate: 0.02, lightning: 0.8 }
    }
}

/// Everything that decides where the detector looks on a camera's frames.
#[derive(Debug, Clone, PartialEq)]
pub struct LookSettings {
    /// The motion check.
    pub motion: MotionSettings,
    /// Areas each camera's motion check ignores.
    pub masks: Arc<Vec<MaskSpec>>,
    /// Seconds between looks at a tracked object that stands still.
    pub recheck: f64,
    /// The most regions the detector runs on in one frame; more are merged, nearest first.
    pub max_regions: usize,
    /// How much larger than the boxes it covers a region is (a margin for the motion picture's
    /// coarseness and the detector's context).
    pub margin: f32,
    /// How many looks in a row a tracked object may be missed before it is no longer looked for
    /// (the tracker's buffer: as long as it keeps the track).
    pub give_up_after: u32,
}

impl Default for LookSettings {
    fn default() -> Self {
        Self {
            motion: MotionSettings::default(),
            masks: Arc::default(),
            recheck: 5.0,
            max_regions: 1,
            margin: 1.25,
            give_up_after: 30,
        }
    }
}
