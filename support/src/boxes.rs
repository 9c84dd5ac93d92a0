//! Boxes as every stage writes them, `[x1, y1, x2, y2]` in pixels: their area and how much two
//! overlap (the detector's NMS, the events' stationary rule, the motion watch's).

/// The area of a box; 0 for a degenerate one.
pub fn area(bbox: [f32; 4]) -> f32 {
    (bbox[2] - bbox[0]).max(0.0) * (bbox[3] - bbox[1]).max(0.0)
}

/// Intersection over union of two boxes, 0 to 1; 0 for disjoint or degenerate boxes, and for
/// boxes whose overlap is not a finite number.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = area([a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]);
    let union = area(a) + area(b) - inter;
    if union > 0.0 && inter.is_finite() {
        inter / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_equal_half_disjoint_and_broken_boxes() {
        assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]), 1.0);
        assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([-20.0, -20.0, -10.0, -10.0], [5.0, 5.0, 6.0, 6.0]), 0.0);
        assert_eq!(iou([0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 10.0]), 0.0, "degenerate");
        assert_eq!(iou([0.0, 0.0, f32::INFINITY, 10.0], [0.0, 0.0, f32::INFINITY, 10.0]), 0.0);
        assert_eq!(area([3.0, 3.0, 1.0, 1.0]), 0.0);
    }
}
