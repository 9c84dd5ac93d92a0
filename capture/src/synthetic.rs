//! A moving test scene: solid-colour shapes over a noisy grey background, whose exact bounding
//! boxes are known for every frame, and whose frame number and capture time are stamped into the
//! pixels (see [`crate::stamp`]).
//!
//! Each object moves in its own horizontal band, so objects never overlap and every ground-truth
//! box is fully visible. Positions depend only on the frame number, so a test can re-create any
//! frame exactly.
//!
//! Three scenes: [`Scene::Moving`] (`synthetic`), the three objects always in view and always
//! moving; and [`Scene::Visits`] (`synthetic:visits`), a hall that is mostly empty: each object
//! in turn comes in from the left, stops for 8 s, and leaves to the right, then the hall stays
//! empty for half a minute; and, for benchmarks, [`Scene::Door`], a hall one visitor comes
//! to now and then, and [`Scene::Empty`], the hall alone.

use crate::error::CaptureError;
use crate::frame::{Frame, FrameSource, GroundTruth};
use crate::stamp::Stamp;
use opencv::core::{Mat, Point, Rect, Scalar, Vector, CV_8UC3};
use opencv::imgproc;
use opencv::prelude::*;
use std::time::SystemTime;

/// The classes the scene draws, in class-id order.
pub const CLASS_NAMES: [&str; 3] = ["red square", "green circle", "blue triangle"];

/// The scene's default size, as the original's camera delivered.
pub const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// BGR colours of the three classes.
const COLOURS: [(f64, f64, f64); 3] = [(0.0, 0.0, 255.0), (0.0, 255.0, 0.0), (255.0, 0.0, 0.0)];

/// Horizontal and vertical speeds (fractions of a period per frame) of the three objects.
const SPEEDS: [(f64, f64); 3] = [(0.011, 0.023), (0.017, 0.013), (0.007, 0.031)];

/// What the synthetic source shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scene {
    /// Three objects, always in view, always moving (`synthetic`).
    #[default]
    Moving,
    /// A mostly empty hall that objects visit in turn (`synthetic:visits`): see [`VISITS`].
    Visits,
    /// A hall one visitor comes to every few minutes, as a door camera sees: see [`DOOR`].
    Door,
    /// The hall with nobody in it: the background alone.
    Empty,
}

/// The timing of [`Scene::Visits`], in frames (30 a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visits {
    /// The scene repeats every this many frames.
    pub period: u64,
    /// Empty frames before the first object comes.
    pub empty_start: u64,
    /// Frames between one object coming and the next.
    pub stagger: u64,
    /// Frames an object takes to come in to where it stops, and to leave from there.
    pub walk: u64,
    /// Frames an object stands still.
    pub stay: u64,
}

/// [`Scene::Visits`]: every 60 s, three visits of 12 s (2 s in, 8 s still, 2 s out) starting
/// 8 s apart, and about 32 s of empty hall.
pub const VISITS: Visits = Visits { period: 1800, empty_start: 90, stagger: 240, walk: 60, stay: 240 };

/// [`Scene::Door`], in frames of a 10 frames/s camera: every 5 minutes one visitor (the red
/// square) comes in for 6 s, stands 24 s and leaves in 6 s, 2 minutes into the period; twelve
/// visits an hour, the hall empty 88% of the time.
pub const DOOR: Visits = Visits { period: 3000, empty_start: 1200, stagger: 3000, walk: 60, stay: 240 };

impl Visits {
    /// Where object `class_id` is in frame `index`: how far along its way in (0 to 1: from the
    /// left edge to where it stops) or out (1 to 2: from there to the right edge), or `None`
    /// while it is away.
    pub fn progress(&self, class_id: usize, index: u64) -> Option<f64> {
        let start = self.empty_start + self.stagger * class_id as u64;
        let t = (index % self.period).checked_sub(start)?;
        let (walk, stay) = (self.walk as f64, self.stay);
        if t < self.walk {
            Some(t as f64 / walk)
        } else if t < self.walk + stay {
            Some(1.0)
        } else if t < 2 * self.walk + stay {
            Some(1.0 + (t - self.walk - stay) as f64 / walk)
        } else {
            None
        }
    }
}

/// The built-in synthetic source.
pub struct Synthetic {
    background: Mat,
    width: i32,
    height: i32,
    next_index: u64,
    scene: Scene,
}

impl Synthetic {
    /// A scene of `width` x `height` pixels (each side at least 64).
    pub fn new(width: u32, height: u32) -> Result<Self, CaptureError> {
        if !(64..=8192).contains(&width) || !(64..=8192).contains(&height) {
            return Err(CaptureError::InvalidSize(format!("{width}x{height}")));
        }
        let (width, height) = (width as i32, height as i32);
        Ok(Self { background: noise_background(width, height)?, width, height, next_index: 0, scene: Scene::Moving })
    }

    /// The same source over `photo` (resized to the scene's size) instead of grey noise: a real
    /// picture for the objects to visit.
    pub fn with_background(mut self, photo: &Mat) -> Result<Self, CaptureError> {
        let mut resized = Mat::default();
        let size = opencv::core::Size::new(self.width, self.height);
        imgproc::resize(photo, &mut resized, size, 0.0, 0.0, imgproc::INTER_AREA)?;
        if resized.typ() != CV_8UC3 {
            return Err(CaptureError::InvalidSize("the background must be a BGR picture".into()));
        }
        self.background = resized;
        Ok(self)
    }

    /// The same source showing `scene`.
    pub fn with_scene(mut self, scene: Scene) -> Self {
        self.scene = scene;
        self
    }

    /// Renders frame `index`, stamped with `captured`.
    pub fn render(&self, index: u64, captured: SystemTime) -> Result<Frame, CaptureError> {
        let mut image = self.background.try_clone()?;
        let truth = self.truth(index);
        for object in &truth {
            draw(&mut image, object)?;
        }
        Stamp::new(index, captured).write(&mut image)?;
        Ok(Frame { image, index, captured, truth })
    }

    /// The exact boxes of the objects in frame `index`.
    pub fn truth(&self, index: u64) -> Vec<GroundTruth> {
        let side = (self.width.min(self.height) / 6).max(8);
        let top = Stamp::height(self.width as usize) as i32 + 4;
        let band = (self.height - top) / 3;
        let t = index as f64;
        if self.scene == Scene::Empty {
            return Vec::new();
        }
        let visits = match self.scene {
            Scene::Visits => Some(VISITS),
            Scene::Door => Some(DOOR),
            _ => None,
        };
        if let Some(visits) = visits {
            return (0..3)
                .filter_map(|class_id| {
                    let progress = visits.progress(class_id, index)?;
                    let stop = (self.width - side) as f64 * (0.3 + 0.2 * class_id as f64);
                    let x = if progress <= 1.0 {
                        stop * progress
                    } else {
                        stop + ((self.width - side) as f64 - stop) * (progress - 1.0)
                    } as i32;
                    let y = top + band * class_id as i32 + (band - side).max(0) / 2;
                    let bbox = [x as f32, y as f32, (x + side) as f32, (y + side) as f32];
                    Some(GroundTruth { class_id, label: CLASS_NAMES[class_id], bbox })
                })
                .collect();
        }
        (0..3)
            .map(|class_id| {
                let (sx, sy) = SPEEDS[class_id];
                let x = ((self.width - side) as f64 * triangle_wave(t * sx + 0.3 * class_id as f64)) as i32;
                let band_top = top + band * class_id as i32;
                let room = (band - side).max(0);
                let y = band_top + (room as f64 * triangle_wave(t * sy + 0.5)) as i32;
                let bbox = [x as f32, y as f32, (x + side) as f32, (y + side) as f32];
                GroundTruth { class_id, label: CLASS_NAMES[class_id], bbox }
            })
            .collect()
    }
}

impl FrameSource for Synthetic {
    fn read(&mut self) -> Result<Option<Frame>, CaptureError> {
        let frame = self.render(self.next_index, SystemTime::now())?;
        self.next_index += 1;
        Ok(Some(frame))
    }

    fn is_live(&self) -> bool {
        false
    }

    fn nominal_fps(&self) -> Option<f64> {
        Some(30.0)
    }
}

/// 0 → 1 → 0 over each period of 2.
fn triangle_wave(u: f64) -> f64 {
    1.0 - ((u.rem_euclid(2.0)) - 1.0).abs()
}

fn draw(image: &mut Mat, object: &GroundTruth) -> Result<(), CaptureError> {
    let [x1, y1, x2, y2] = object.bbox.map(|v| v as i32);
    let (b, g, r) = COLOURS[object.class_id];
    let colour = Scalar::new(b, g, r, 0.0);
    let side = x2 - x1;
    match object.class_id {
        0 => imgproc::rectangle(image, Rect::new(x1, y1, side, side), colour, -1, imgproc::LINE_8, 0)?,
        1 => {
            let r = side / 2;
            // A circle of radius r covers 2r+1 pixels; keep it inside the box.
            let centre = Point::new(x1 + r, y1 + r);
            imgproc::circle(image, centre, r - 1, colour, -1, imgproc::LINE_8, 0)?;
        }
        _ => {
            let points = Vector::<Point>::from_slice(&[
                Point::new(x1 + side / 2, y1),
                Point::new(x1, y2 - 1),
                Point::new(x2 - 1, y2 - 1),
            ]);
            imgproc::fill_convex_poly(image, &points, colour, imgproc::LINE_8, 0)?;
        }
    }
    Ok(())
}

/// Low-saturation grey noise: texture for the JPEG coder (about 200 KB a frame at quality 100,
/// like a real camera's sensor noise) without any colour that could pass for an object.
fn noise_background(width: i32, height: i32) -> Result<Mat, CaptureError> {
    let mut image = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(0.0))?;
    let mut seed = 0x2545_F491_u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let cols = width as usize;
    for (i, px) in image.data_bytes_mut()?.chunks_exact_mut(3).enumerate() {
        let (x, y) = (i % cols, i / cols);
        // A coarse checkerboard for structure, fine noise for texture.
        let tile = if (x / 32 + y / 32) % 2 == 0 { 96 } else { 136 };
        let r = next();
        let grey = tile + (r % 14) as u8;
        for (c, v) in px.iter_mut().enumerate() {
            *v = grey + ((r >> (8 + 3 * c)) & 0x3) as u8;
        }
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_stay_inside_and_apart_over_many_frames() {
        let scene = Synthetic::new(640, 480).expect("scene");
        let stamp_rows = Stamp::height(640) as f32;
        for index in (0..2000).step_by(7) {
            let truth = scene.truth(index);
            assert_eq!(truth.len(), 3);
            for (i, a) in truth.iter().enumerate() {
                let [x1, y1, x2, y2] = a.bbox;
                assert!(x1 >= 0.0 && y1 >= stamp_rows && x2 <= 640.0 && y2 <= 480.0, "{a:?}");
                for b in &truth[i + 1..] {
                    let apart = a.bbox[2] <= b.bbox[0]
                        || b.bbox[2] <= a.bbox[0]
                        || a.bbox[3] <= b.bbox[1]
                        || b.bbox[3] <= a.bbox[1];
                    assert!(apart, "{a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn objects_move_between_frames() {
        let scene = Synthetic::new(640, 480).expect("scene");
        assert_ne!(scene.truth(0), scene.truth(10));
    }

    #[test]
    fn drawn_pixels_have_the_class_colour_at_the_box_centre() {
        let scene = Synthetic::new(320, 240).expect("scene");
        let frame = scene.render(42, SystemTime::now()).expect("render");
        for object in &frame.truth {
            let [x1, y1, x2, y2] = object.bbox;
            let (cx, cy) = (((x1 + x2) / 2.0) as i32, ((y1 + y2) / 2.0) as i32);
            let px = frame.image.at_2d::<opencv::core::Vec3b>(cy, cx).expect("pixel").0;
            let (b, g, r) = COLOURS[object.class_id];
            assert_eq!(px, [b as u8, g as u8, r as u8], "{}", object.label);
        }
        assert_eq!(Stamp::read(&frame.image).map(|s| s.index), Some(42));
    }

    #[test]
    fn visitors_come_in_stop_and_leave_and_the_hall_is_mostly_empty() {
        let scene = Synthetic::new(640, 480).expect("scene").with_scene(Scene::Visits);
        let empty = (0..VISITS.period).filter(|&i| scene.truth(i).is_empty()).count() as f64;
        assert!(empty / VISITS.period as f64 > 0.5, "{empty} empty frames");
        assert!(scene.truth(0).is_empty(), "it starts empty");
        let first = VISITS.empty_start;
        assert_eq!(scene.truth(first).len(), 1, "the first visitor comes");
        assert_eq!(scene.truth(first)[0].bbox[0], 0.0, "at the left edge");
        let still = first + VISITS.walk + 10;
        assert_eq!(scene.truth(still)[0].bbox, scene.truth(still + 100)[0].bbox, "and stands still");
        let gone = first + 2 * VISITS.walk + VISITS.stay;
        assert!(scene.truth(gone).iter().all(|o| o.class_id != 0), "then leaves");
        assert!(scene.truth(gone - 1)[0].bbox[2] > 630.0, "by the right edge: {:?}", scene.truth(gone - 1));
        assert_eq!(scene.truth(VISITS.period + 5), scene.truth(5), "and the scene repeats");

        let door = Synthetic::new(640, 480).expect("scene").with_scene(Scene::Door);
        let visited: Vec<u64> = (0..DOOR.period).filter(|&i| !door.truth(i).is_empty()).collect();
        assert_eq!(visited.len() as u64, 2 * DOOR.walk + DOOR.stay, "one visit a period");
        assert_eq!(visited[0], DOOR.empty_start);
        assert!(visited.iter().all(|&i| door.truth(i).len() == 1 && door.truth(i)[0].class_id == 0));
    }

    #[test]
    fn tiny_sizes_are_refused() {
        assert!(Synthetic::new(32, 480).is_err());
    }
}
