//! Boxes with label and score drawn on a frame through OpenCV, one stable colour per class.

use opencv::core::{Mat, Point, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;

/// A palette of distinct colours (BGR); class `n` always gets entry `n % len`.
const PALETTE: [(u8, u8, u8); 12] = [
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (211, 188, 0),
    (255, 149, 0),
    (255, 55, 0),
    (199, 55, 255),
];

/// The colour of a class.
pub fn colour(class_id: usize) -> Scalar {
    let (b, g, r) = PALETTE[class_id % PALETTE.len()];
    Scalar::new(f64::from(b), f64::from(g), f64::from(r), 0.0)
}

/// Draws one box with its label, e.g. `dog 0.87`, on a filled tab above it.
pub fn draw_box(image: &mut Mat, bbox: [f32; 4], class_id: usize, label: &str, score: f32) -> opencv::Result<()> {
    let [x1, y1, x2, y2] = bbox.map(|v| v.round() as i32);
    let colour = colour(class_id);
    let (width, height) = (x2.saturating_sub(x1).max(1), y2.saturating_sub(y1).max(1));
    imgproc::rectangle(image, Rect::new(x1, y1, width, height), colour, 2, imgproc::LINE_8, 0)?;
    let text = format!("{label} {score:.2}");
    let mut baseline = 0;
    let size = imgproc::get_text_size(&text, imgproc::FONT_HERSHEY_SIMPLEX, 0.5, 1, &mut baseline)?;
    let above = y1.saturating_sub(size.height + 6);
    let top = if above >= 0 { above } else { y1 };
    // Keep the tab inside the frame when the box touches its right edge.
    let left = x1.min(image.cols() - size.width - 6).max(0);
    imgproc::rectangle(image, Rect::new(left, top, size.width + 6, size.height + 6), colour, -1, imgproc::LINE_8, 0)?;
    let white = Scalar::new(255.0, 255.0, 255.0, 0.0);
    let origin = Point::new(left + 3, top + size.height + 2);
    imgproc::put_text(image, &text, origin, imgproc::FONT_HERSHEY_SIMPLEX, 0.5, white, 1, imgproc::LINE_AA, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Vec3b, CV_8UC3};

    #[test]
    fn colours_are_stable_per_class() {
        assert_eq!(colour(3), colour(3));
        assert_ne!(colour(0), colour(1));
        assert_eq!(colour(0), colour(PALETTE.len()));
    }

    #[test]
    fn box_edges_take_the_class_colour() {
        let mut image = Mat::new_rows_cols_with_default(100, 100, CV_8UC3, Scalar::all(0.0)).expect("mat");
        draw_box(&mut image, [20.0, 40.0, 80.0, 90.0], 2, "thing", 0.5).expect("draw");
        let (b, g, r) = PALETTE[2];
        assert_eq!(image.at_2d::<Vec3b>(70, 20).expect("px").0, [b, g, r], "left edge");
        assert_eq!(image.at_2d::<Vec3b>(65, 50).expect("px").0, [0, 0, 0], "inside untouched");
    }
}
