//! The motion check on generated frames: a textured scene with sensor noise, still, noisier, a
//! brightness step and a gain, a masked area, small moving objects, an object that stops.

use super::*;
use crate::mask::MaskSpec;

const W: usize = 160;
const H: usize = 120;

/// A camera's view: a gradient with tiles (structure everywhere, as a real scene has), plus
/// noise of +-`noise` from a fixed seed, changed every frame.
struct Scene {
    seed: u32,
    noise: u8,
}

impl Scene {
    fn new(noise: u8) -> Self {
        Self { seed: 0x2545_F491, noise }
    }

    fn next_noise(&mut self) -> i32 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        if self.noise == 0 {
            0
        } else {
            (self.seed % (2 * u32::from(self.noise) + 1)) as i32 - i32::from(self.noise)
        }
    }

    /// A frame with brightness `map` applied to the scene.
    fn frame(&mut self, map: impl Fn(f32) -> f32) -> Grey {
        let mut pixels = Vec::with_capacity(W * H);
        for y in 0..H {
            for x in 0..W {
                let tile = if (x / 16 + y / 16) % 2 == 0 { 40.0 } else { 0.0 };
                let base = 60.0 + (x + y) as f32 * 0.4 + tile;
                let v = map(base) + self.next_noise() as f32;
                pixels.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
        Grey::new(W, H, pixels).expect("grey")
    }

    fn plain(&mut self) -> Grey {
        self.frame(|v| v)
    }
}

fn no_mask() -> Mask {
    Mask::new(&[], "cam", W, H)
}

/// Runs `frames` frames made by `make` through a fresh detector (after a first, background
/// frame) and returns what each one saw.
fn run(mut make: impl FnMut(usize) -> Grey, frames: usize, mask: &Mask) -> Vec<Motion> {
    let mut detector = MotionDetector::new();
    let settings = MotionSettings::default();
    let first = detector.check(&make(0), mask, &settings);
    assert!(first.first && !first.moved(), "the first frame only starts the background");
    (1..=frames).map(|i| detector.check(&make(i), mask, &settings)).collect()
}

#[test]
fn a_still_scene_never_moves() {
    let mut scene = Scene::new(4);
    let seen = run(|_| scene.plain(), 100, &no_mask());
    assert!(seen.iter().all(|m| !m.moved() && !m.lighting), "{:?}", seen.iter().find(|m| m.moved()));
}

#[test]
fn sensor_noise_is_not_motion() {
    let mut scene = Scene::new(14);
    let seen = run(|_| scene.plain(), 100, &no_mask());
    let moved = seen.iter().filter(|m| m.moved()).count();
    assert_eq!(moved, 0, "heavy noise (+-14 of 255) made motion in {moved} frames");
}

#[test]
fn a_brightness_step_or_gain_is_not_motion() {
    for (name, map) in [
        ("a step up of 45", Box::new(|v: f32| v + 45.0) as Box<dyn Fn(f32) -> f32>),
        ("a step down of 35", Box::new(|v: f32| v - 35.0)),
        ("a gain of 1.4", Box::new(|v: f32| v * 1.4)),
        ("a gamma change", Box::new(|v: f32| 255.0 * (v / 255.0).powf(0.7))),
    ] {
        let mut scene = Scene::new(4);
        let seen = run(|i| if i < 30 { scene.plain() } else { scene.frame(&map) }, 80, &no_mask());
        let moved: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].moved()).collect();
        assert!(moved.is_empty(), "{name}: motion in frames {moved:?} ({:?})", seen[29]);
    }
}

#[test]
fn a_brightness_step_is_a_lighting_change_and_an_object_moving_meanwhile_is_still_seen() {
    let mut scene = Scene::new(4);
    let seen = run(
        |i| {
            let mut frame = if i < 30 { scene.plain() } else { scene.frame(|v| v + 45.0) };
            if i >= 30 {
                frame.fill_rect([20 + 2 * i, 60, 30 + 2 * i, 70], 250);
            }
            frame
        },
        40,
        &no_mask(),
    );
    assert!(seen[29].lighting && !seen[29].moved(), "the step restarts the background: {:?}", seen[29]);
    for (i, m) in seen.iter().enumerate().skip(30) {
        let frame = i + 1;
        // The object came with the step, into the background: its edges move.
        let x1 = m.blobs.iter().map(|b| b.bbox[0]).min();
        let x2 = m.blobs.iter().map(|b| b.bbox[2]).max();
        assert!(
            x1.is_some_and(|x| x <= 20 + 2 * frame) && x2.is_some_and(|x| x >= 30 + 2 * frame),
            "frame {frame}: the object was missed ({m:?})"
        );
        assert!(
            m.blobs.iter().all(|b| b.bbox[1] >= 55 && b.bbox[3] <= 75),
            "frame {frame}: only the object moved ({m:?})"
        );
    }
}

#[test]
fn a_partial_brightness_change_is_not_motion() {
    // The bright half of the picture brightens by 25 (under the threshold), the dark half by
    // 50: under the lightning share, and a curve of the background's brightness.
    let mut scene = Scene::new(4);
    let seen = run(
        |i| if i < 30 { scene.plain() } else { scene.frame(|v| if v < 100.0 { v + 50.0 } else { v + 25.0 }) },
        60,
        &no_mask(),
    );
    assert!(seen.iter().all(|m| !m.lighting), "not a lighting change");
    let moved: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].moved()).collect();
    assert!(moved.is_empty(), "motion in frames {moved:?}: {:?}", moved.first().map(|&i| &seen[i]));
}

#[test]
fn a_small_moving_object_is_found_where_it_is() {
    // 5x5 pixels of a 160x120 picture: a 20x20 object in a 640x480 frame.
    let mut scene = Scene::new(4);
    let at = |i: usize| 10 + 3 * i;
    let seen = run(
        |i| {
            let mut frame = scene.plain();
            if i > 0 {
                frame.fill_rect([at(i), 80, at(i) + 5, 85], 20);
            }
            frame
        },
        40,
        &no_mask(),
    );
    for (i, m) in seen.iter().enumerate() {
        let x = at(i + 1);
        assert_eq!(m.blobs.len(), 1, "frame {}: {m:?}", i + 1);
        let [x1, y1, x2, y2] = m.blobs[0].bbox;
        assert!(
            x1 <= x && x2 >= x + 5 && y1 <= 80 && y2 >= 85,
            "frame {}: the object at {x} is not in {:?}",
            i + 1,
            m.blobs[0]
        );
        assert!(x2 - x1 <= 16 && y2 - y1 <= 10, "frame {}: the box is about the object: {:?}", i + 1, m.blobs[0]);
    }
}

#[test]
fn a_speck_below_the_least_area_is_not_motion() {
    let mut scene = Scene::new(4);
    let seen = run(
        |i| {
            let mut frame = scene.plain();
            frame.fill_rect([50 + i % 2, 50, 51 + i % 2, 51], 255);
            frame
        },
        20,
        &no_mask(),
    );
    assert!(seen.iter().all(|m| !m.moved()), "{:?}", seen.iter().find(|m| m.moved()));
}

#[test]
fn motion_inside_a_mask_is_ignored_and_outside_it_is_not() {
    // A "tree" flickering in the top-right quarter, masked; later a person walks at the bottom.
    let specs = vec!["0.5,0,1,0,1,0.5,0.5,0.5".parse::<MaskSpec>().expect("mask")];
    let mask = Mask::new(&specs, "cam", W, H);
    let mut scene = Scene::new(4);
    let seen = run(
        |i| {
            let mut frame = scene.plain();
            let shade = if i % 2 == 0 { 0 } else { 255 };
            frame.fill_rect([100, 10, 150, 50], shade);
            if i > 20 {
                frame.fill_rect([4 * (i - 20), 90, 4 * (i - 20) + 8, 110], 250);
            }
            frame
        },
        30,
        &mask,
    );
    assert!(
        seen[..20].iter().all(|m| !m.moved()),
        "the masked tree made motion: {:?}",
        seen[..20].iter().find(|m| m.moved())
    );
    assert!(seen[21..].iter().all(|m| m.moved() && m.blobs.iter().all(|b| b.bbox[1] >= 80)), "{:?}", &seen[21..]);
    let unmasked = run(
        |i| {
            let mut frame = Scene::new(4).plain();
            frame.fill_rect([100, 10, 150, 50], if i % 2 == 0 { 0 } else { 255 });
            frame
        },
        5,
        &no_mask(),
    );
    assert!(unmasked.iter().step_by(2).all(Motion::moved), "without the mask the flicker is motion: {unmasked:?}");
}

#[test]
fn an_object_that_stops_becomes_background() {
    let mut scene = Scene::new(4);
    let seen = run(
        |i| {
            let mut frame = scene.plain();
            let x = 10 + 3 * i.min(20);
            frame.fill_rect([x, 40, x + 10, 60], 240);
            frame
        },
        400,
        &no_mask(),
    );
    assert!(seen[..19].iter().all(Motion::moved), "moving");
    let still_from = seen.iter().rposition(Motion::moved).map_or(0, |i| i + 1);
    assert!(still_from < 200, "still in motion {still_from} frames on");
    assert!(seen[still_from..].iter().all(|m| !m.moved()));
}

#[test]
fn a_lighting_change_that_no_brightness_curve_explains_restarts_the_background() {
    // At frame 10 every 8x8 cell gets brighter or darker by 80 to 160, at random: nearly every
    // pixel changes, and no brightness curve explains it.
    let offset = |x: usize, y: usize| {
        let h = ((x / 8) as u32).wrapping_mul(0x9E37_79B9) ^ ((y / 8) as u32).wrapping_mul(0x85EB_CA6B);
        let h = h ^ (h >> 15);
        let size = 80.0 + (h % 80) as f32;
        if h & 0x100 == 0 {
            size
        } else {
            -size
        }
    };
    let lit = {
        let mut frame = Scene::new(0).plain();
        for (i, v) in frame.pixels_mut().iter_mut().enumerate() {
            *v = (f32::from(*v) + offset(i % W, i / W)).clamp(0.0, 255.0) as u8;
        }
        frame
    };
    let mut scene = Scene::new(4);
    let seen = run(|i| if i < 10 { scene.plain() } else { lit.clone() }, 20, &no_mask());
    assert!(seen[9].lighting && !seen[9].moved(), "{:?}", seen[9]);
    assert!(seen[10..].iter().all(|m| !m.moved() && !m.lighting), "{:?}", &seen[10..]);
}

#[test]
fn a_picture_of_another_size_starts_a_new_background() {
    let mut detector = MotionDetector::new();
    let settings = MotionSettings::default();
    detector.check(&Grey::filled(W, H, 90).expect("grey"), &no_mask(), &settings);
    let other = detector.check(&Grey::filled(80, 60, 200).expect("grey"), &no_mask(), &settings);
    assert!(other.first && !other.moved());
    let fully_masked = Mask::new(&["0,0,1,0,1,1,0,1".parse::<MaskSpec>().expect("mask")], "cam", 80, 60);
    let mut frame = Grey::filled(80, 60, 200).expect("grey");
    frame.fill_rect([10, 10, 30, 30], 0);
    assert!(!detector.check(&frame, &fully_masked, &settings).moved(), "everything masked: nothing moves");
}
