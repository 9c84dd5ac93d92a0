//! The flags that decide where the detector looks, which every program that runs a detector on
//! a stream of frames takes (`nvt-server`, and `nvt-detect` for videos).

use crate::mask::MaskSpec;
use crate::settings::{DetectMode, LookSettings, MotionSettings};
use clap::builder::TypedValueParser;
use nvt_support::units::{duration_in, number_in};
use std::sync::Arc;
use std::time::Duration;

/// Where the detector runs, and the motion check.
#[derive(Debug, Clone, clap::Args)]
pub struct LookArgs {
    /// Where the detector runs: `motion` (only where something moved, and on tracked objects
    /// now and then) or `always` (every frame, whole). nvt-server: motion; nvt-detect: always.
    #[arg(long, value_name = "motion|always")]
    pub detect: Option<DetectMode>,
    /// Motion: a pixel moved when it differs from the background by more than this (1-255),
    /// once the picture's brightness change is taken out (Frigate's motion threshold).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=255))]
    pub motion_threshold: u8,
    /// Motion: the least area of a moving blob, in pixels of a motion picture 100 rows high
    /// (Frigate's contour_area).
    #[arg(long, default_value_t = 10.0, value_parser = number_in(1.0, 100_000.0).map(|v| v as f32))]
    pub motion_area: f32,
    /// Motion: how far the background moves towards each frame (0.001-1): the higher, the
    /// sooner what stopped becomes background (Frigate's frame_alpha).
    #[arg(long, default_value_t = 0.02, value_parser = number_in(0.001, 1.0).map(|v| v as f32))]
    pub motion_learning_rate: f32,
    /// Motion: a frame where more than this share of the picture changed is a lighting change,
    /// not motion: the background starts again from it (Frigate's lightning_threshold, 0.05-1).
    #[arg(long, default_value_t = 0.8, value_parser = number_in(0.05, 1.0).map(|v| v as f32))]
    pub motion_lightning: f32,
    /// Motion: an area the motion check ignores, a polygon with its corners as fractions of the
    /// frame, [CAMERA:]x,y,x,y,x,y[,...] (repeatable; without CAMERA, every camera's).
    #[arg(long = "motion-mask", value_name = "[CAMERA:]X,Y,X,Y,X,Y")]
    pub motion_masks: Vec<MaskSpec>,
    /// How often a tracked object that stands still is looked at again by the detector.
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub recheck: Duration,
    /// The most regions the detector runs on in one frame (1-16); more are merged, nearest
    /// first. Each costs a detector run: 1 never costs more than the whole frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16).map(|n| n as usize))]
    pub max_regions: usize,
}

impl LookArgs {
    /// The settings, or `None` when the detector runs on every frame; `default` is the
    /// program's own mode when `--detect` is not given. `give_up_after` is the tracker's buffer.
    pub fn settings(&self, default: DetectMode, give_up_after: usize) -> Option<LookSettings> {
        if self.detect.unwrap_or(default) == DetectMode::Always {
            return None;
        }
        Some(LookSettings {
            motion: MotionSettings {
                threshold: self.motion_threshold,
                least_area: self.motion_area,
                learning_rate: self.motion_learning_rate,
                lightning: self.motion_lightning,
            },
            masks: Arc::new(self.motion_masks.clone()),
            recheck: self.recheck.as_secs_f64(),
            max_regions: self.max_regions,
            give_up_after: u32::try_from(give_up_after).unwrap_or(u32::MAX),
            ..LookSettings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Program {
        #[command(flatten)]
        look: LookArgs,
    }

    #[test]
    fn each_program_picks_its_default_mode_and_the_flag_wins() {
        let plain = Program::parse_from(["p"]).look;
        assert!(plain.settings(DetectMode::Motion, 30).is_some());
        assert!(plain.settings(DetectMode::Always, 30).is_none());
        let always = Program::parse_from(["p", "--detect", "always"]).look;
        assert!(always.settings(DetectMode::Motion, 30).is_none());
        let motion =
            Program::parse_from(["p", "--detect", "motion", "--recheck", "2s", "--motion-mask", "door:0,0,1,0,1,0.1"])
                .look;
        let settings = motion.settings(DetectMode::Always, 12).expect("motion");
        assert_eq!((settings.recheck, settings.give_up_after, settings.masks.len()), (2.0, 12, 1));
        for bad in [
            ["p", "--detect", "sometimes"],
            ["p", "--motion-threshold", "0"],
            ["p", "--max-regions", "17"],
            ["p", "--motion-mask", "0,0,2,2,1,1"],
        ] {
            assert!(Program::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
