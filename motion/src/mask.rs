//! Areas of a camera's picture the motion check ignores: a timestamp burnt into the picture, a
//! tree in the wind, a road beyond the fence. Each is a polygon with its corners as fractions of
//! the frame (0 to 1 across and down), so one mask fits the camera at any resolution, as
//! Frigate's relative masks do; `--motion-mask [CAMERA:]x,y,x,y,x,y[,...]`.

use crate::error::MotionError;
use std::str::FromStr;

/// Most corners a mask polygon has.
pub const MAX_CORNERS: usize = 64;

/// A polygon in fractions of the frame, for one camera or for all.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskSpec {
    /// The camera it applies to; every camera when `None`.
    pub camera: Option<String>,
    /// Its corners, (x, y) as fractions of the frame's width and height.
    pub corners: Vec<(f32, f32)>,
}

impl FromStr for MaskSpec {
    type Err = MotionError;

    /// `[CAMERA:]x,y,x,y,x,y[,...]`: at least three corners, each coordinate from 0 to 1.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| MotionError::BadMask { text: text.chars().take(200).collect(), reason: reason.into() };
        let (camera, points) = match text.split_once(':') {
            Some((camera, points)) => (Some(camera.trim()), points),
            None => (None, text),
        };
        if let Some(camera) = camera {
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if camera.is_empty() || camera.len() > 64 || !camera.chars().all(valid) {
                return Err(bad("the camera must be 1-64 letters, digits, _ or -"));
            }
        }
        let numbers = points
            .split(',')
            .map(|v| v.trim().parse::<f32>().ok().filter(|v| (0.0..=1.0).contains(v)))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad("every coordinate must be a number from 0 to 1 (a fraction of the frame)"))?;
        if numbers.len() % 2 != 0 || numbers.len() < 6 || numbers.len() > 2 * MAX_CORNERS {
            return Err(bad("write 3 to 64 corners as x,y pairs"));
        }
        let corners = numbers.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        Ok(Self { camera: camera.map(str::to_owned), corners })
    }
}

impl MaskSpec {
    /// Whether the point (x, y), in fractions of the frame, is inside (even-odd rule).
    fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.corners.len();
        for i in 0..n {
            let (xi, yi) = self.corners[i];
            let (xj, yj) = self.corners[(i + n - 1) % n];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
        }
        inside
    }
}

/// Which pixels of a motion picture of one size are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    width: usize,
    height: usize,
    ignored: Vec<bool>,
    /// The top rows ignored (a stamp), beside the polygons.
    top_rows: usize,
}

impl Mask {
    /// The mask of `specs` (those for `camera` and those for every camera) on a `width` x
    /// `height` motion picture: a pixel is ignored when its centre is inside a polygon.
    pub fn new(specs: &[MaskSpec], camera: &str, width: usize, height: usize) -> Self {
        let mine: Vec<&MaskSpec> = specs.iter().filter(|s| s.camera.as_deref().is_none_or(|c| c == camera)).collect();
        let mut ignored = vec![false; width * height];
        if !mine.is_empty() {
            for y in 0..height {
                let fy = (y as f32 + 0.5) / height as f32;
                for x in 0..width {
                    let fx = (x as f32 + 0.5) / width as f32;
                    ignored[y * width + x] = mine.iter().any(|s| s.contains(fx, fy));
                }
            }
        }
        Self { width, height, ignored, top_rows: 0 }
    }

    /// The same mask with its top `rows` ignored as well (nvt's pixel stamp, which changes every
    /// frame).
    pub fn with_top_rows(mut self, rows: usize) -> Self {
        let rows = rows.min(self.height);
        if rows > self.top_rows {
            self.ignored[..rows * self.width].fill(true);
            self.top_rows = rows;
        }
        self
    }

    /// Whether it was made for a picture of this size.
    pub fn fits(&self, width: usize, height: usize) -> bool {
        (self.width, self.height) == (width, height)
    }

    /// The top rows ignored for a stamp.
    pub fn top_rows(&self) -> usize {
        self.top_rows
    }

    /// Whether pixel `i` (row by row) is ignored.
    pub fn ignores(&self, i: usize) -> bool {
        self.ignored.get(i).copied().unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_parse_as_users_write_them_and_bad_ones_are_refused() {
        let m: MaskSpec = "0,0,0.5,0,0.5,0.1,0,0.1".parse().expect("mask");
        assert_eq!((m.camera, m.corners.len()), (None, 4));
        let m: MaskSpec = "door:0.2,0.2, 0.4,0.2, 0.3,0.5".parse().expect("mask");
        assert_eq!(m.camera.as_deref(), Some("door"));
        for bad in ["", "0,0,1,1", "0,0,1,1,1", "0,0,1,1,2,0", "0,0,1,nan,1,0", "a b:0,0,1,0,1,1", ":0,0,1,0,1,1"] {
            assert!(bad.parse::<MaskSpec>().is_err(), "{bad}");
        }
        let huge = vec!["0.5"; 2 * MAX_CORNERS + 2].join(",");
        assert!(huge.parse::<MaskSpec>().is_err(), "too many corners");
    }

    #[test]
    fn a_polygon_masks_the_pixels_inside_it_for_its_camera_only() {
        // The top-left quarter, for the camera "door".
        let specs = vec!["door:0,0,0.5,0,0.5,0.5,0,0.5".parse::<MaskSpec>().expect("mask")];
        let door = Mask::new(&specs, "door", 10, 10);
        assert!(door.ignores(0) && door.ignores(4 * 10 + 4));
        assert!(!door.ignores(5) && !door.ignores(5 * 10) && !door.ignores(99));
        assert_eq!((0..100).filter(|&i| door.ignores(i)).count(), 25);
        let yard = Mask::new(&specs, "yard", 10, 10);
        assert_eq!((0..100).filter(|&i| yard.ignores(i)).count(), 0, "another camera's mask is not this one's");
        let stamped = yard.with_top_rows(2);
        assert_eq!((0..100).filter(|&i| stamped.ignores(i)).count(), 20);
        assert!(stamped.fits(10, 10) && !stamped.fits(10, 11));
    }

    #[test]
    fn a_triangle_masks_about_half_its_box() {
        let specs = vec!["0,0,1,0,0,1".parse::<MaskSpec>().expect("mask")];
        let mask = Mask::new(&specs, "any", 100, 100);
        let n = (0..100 * 100).filter(|&i| mask.ignores(i)).count();
        assert!((4900..=5100).contains(&n), "{n}");
    }
}
