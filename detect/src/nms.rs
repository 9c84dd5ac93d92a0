//! Class-aware non-maximum suppression: within each class, a box is dropped when it overlaps a
//! higher-scoring kept box by more than the IoU threshold; classes never suppress each other.

use crate::layout::Candidate;

pub use nvt_support::boxes::iou;

/// Keeps the best boxes, at most `max_det`, most confident first. Candidates with a NaN score are
/// dropped; equal scores keep their original order.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32, max_det: usize) -> Vec<Candidate> {
    candidates.retain(|c| !c.score.is_nan());
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max_det {
            break;
        }
        let suppressed = kept.iter().any(|k| k.class_id == c.class_id && iou(k.bbox, c.bbox) > iou_threshold);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes_away_from_the_origin() {
        // 10x10 boxes overlapping in a 5x5 square: 25 / (100 + 100 - 25).
        let overlap = iou([10.0, 20.0, 20.0, 30.0], [15.0, 25.0, 25.0, 35.0]);
        assert!((overlap - 25.0 / 175.0).abs() < 1e-6, "{overlap}");
        // Touching edges share no area.
        assert_eq!(iou([10.0, 20.0, 20.0, 30.0], [20.0, 20.0, 30.0, 30.0]), 0.0);
    }

    #[test]
    fn an_overlap_exactly_at_the_threshold_is_kept() {
        let a = Candidate { bbox: [0.0, 0.0, 10.0, 10.0], score: 0.9, class_id: 0 };
        // The lower half of a box overlaps it by exactly 0.5.
        let b = Candidate { bbox: [0.0, 0.0, 10.0, 5.0], score: 0.8, class_id: 0 };
        assert_eq!(iou(a.bbox, b.bbox), 0.5);
        assert_eq!(nms(vec![a, b], 0.5, 10).len(), 2, "suppressed only above the threshold");
        assert_eq!(nms(vec![a, b], 0.49, 10).len(), 1);
    }

    fn cand(bbox: [f32; 4], score: f32, class_id: usize) -> Candidate {
        Candidate { bbox, score, class_id }
    }

    #[test]
    fn diagonally_disjoint_boxes_are_both_kept() {
        let a = cand([0.0, 0.0, 10.0, 10.0], 0.9, 0);
        let b = cand([20.0, 20.0, 30.0, 30.0], 0.8, 0);
        assert_eq!(iou(a.bbox, b.bbox), 0.0, "no overlap, even though both offsets are negative");
        assert_eq!(nms(vec![a, b], 0.45, 300).len(), 2);
    }

    #[test]
    fn identical_boxes_keep_the_best() {
        let kept = nms(vec![cand([0.0, 0.0, 10.0, 10.0], 0.6, 0), cand([0.0, 0.0, 10.0, 10.0], 0.9, 0)], 0.45, 300);
        assert_eq!(kept, vec![cand([0.0, 0.0, 10.0, 10.0], 0.9, 0)]);
    }

    #[test]
    fn classes_do_not_suppress_each_other() {
        let kept = nms(vec![cand([0.0, 0.0, 10.0, 10.0], 0.9, 0), cand([0.0, 0.0, 10.0, 10.0], 0.8, 1)], 0.45, 300);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn nan_scores_and_boxes_are_safe() {
        let kept = nms(
            vec![
                cand([0.0, 0.0, 10.0, 10.0], f32::NAN, 0),
                cand([f32::NAN, 0.0, 10.0, 10.0], 0.7, 0),
                cand([0.0, 0.0, 10.0, 10.0], 0.5, 0),
            ],
            0.45,
            300,
        );
        assert_eq!(kept.len(), 2, "the NaN score is dropped; a NaN box overlaps nothing");
        assert!(kept.iter().all(|c| !c.score.is_nan()));
    }

    #[test]
    fn overlap_above_the_threshold_is_suppressed_below_it_kept() {
        let a = cand([0.0, 0.0, 10.0, 10.0], 0.9, 0);
        let half = cand([0.0, 0.0, 10.0, 5.0], 0.8, 0); // IoU 0.5
        assert_eq!(nms(vec![a, half], 0.45, 300).len(), 1);
        assert_eq!(nms(vec![a, half], 0.55, 300).len(), 2);
    }

    #[test]
    fn max_det_caps_the_output() {
        let many: Vec<_> =
            (0..10).map(|i| cand([i as f32 * 20.0, 0.0, i as f32 * 20.0 + 10.0, 10.0], 0.5, 0)).collect();
        assert_eq!(nms(many, 0.45, 3).len(), 3);
    }
}
