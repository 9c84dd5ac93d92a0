//! The output layouts nvt decodes, told apart by the output's shape (and the class count, when
//! the names give it), and their decoding into candidate boxes in input pixels.

use crate::error::DetectError;

/// How a detection output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// YOLOv8 / YOLO11: `[1, 4+nc, N]`, rows cx cy w h then one score per class.
    V8 {
        /// Number of classes.
        classes: usize,
    },
    /// YOLOv5 / YOLOv7: `[1, N, 5+nc]`, columns cx cy w h, objectness, class probabilities.
    V5 {
        /// Number of classes.
        classes: usize,
    },
    /// End-to-end (YOLOv10, YOLO26 and other NMS-free exports): `[1, N, 6]`, columns
    /// x1 y1 x2 y2 score class. No NMS is applied.
    EndToEnd,
}

/// A decoded box before NMS, in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// x1, y1, x2, y2.
    pub bbox: [f32; 4],
    /// Confidence.
    pub score: f32,
    /// Class number.
    pub class_id: usize,
}

/// The layout as `--layout` names it, for log lines: `v8`, `v5`, `e2e` (the class count is
/// logged on its own).
impl std::fmt::Display for OutputLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V8 { .. } => "v8",
            Self::V5 { .. } => "v5",
            Self::EndToEnd => "e2e",
        })
    }
}

impl OutputLayout {
    /// Parses a `--layout` value: `v8`, `v5` or `e2e` (the class count comes from the shape).
    pub fn parse_override(text: &str) -> Result<LayoutKind, DetectError> {
        match text.to_ascii_lowercase().as_str() {
            "v8" | "yolov8" | "yolo11" | "v11" => Ok(LayoutKind::V8),
            "v5" | "yolov5" | "v7" | "yolov7" => Ok(LayoutKind::V5),
            "e2e" | "end2end" | "end-to-end" | "v10" | "yolo26" => Ok(LayoutKind::EndToEnd),
            _ => Err(DetectError::UnknownLayout(text.to_owned())),
        }
    }

    /// Works out the layout of an output of `shape` (-1 for dynamic dimensions). `classes` is
    /// the class count the model's names imply, if known; `forced` a user's `--layout`.
    pub fn detect(
        name: &str,
        shape: &[i64],
        classes: Option<usize>,
        forced: Option<LayoutKind>,
    ) -> Result<Self, DetectError> {
        let unsupported = || DetectError::UnsupportedLayout {
            name: name.to_owned(),
            shape: shape.to_vec(),
            hint: classes.map(|n| format!(" with {n} classes, as the model's names say")).unwrap_or_default(),
        };
        let &[batch, a, b] = shape else { return Err(unsupported()) };
        if batch > 1 {
            return Err(unsupported());
        }
        // A dynamic dimension is a box count, which is large.
        let big = |d: i64| if d < 0 { i64::MAX } else { d };
        let (a, b) = (big(a), big(b));
        let v8 = (a > 4 && a != i64::MAX).then(|| Self::V8 { classes: (a - 4) as usize });
        let v5 = (b > 5 && b != i64::MAX).then(|| Self::V5 { classes: (b - 5) as usize });
        let e2e = (b == 6).then_some(Self::EndToEnd);
        let candidates: Vec<Self> = match forced {
            Some(LayoutKind::V8) => v8.into_iter().collect(),
            Some(LayoutKind::V5) => v5.into_iter().collect(),
            Some(LayoutKind::EndToEnd) => e2e.into_iter().collect(),
            None => [e2e, v8, v5].into_iter().flatten().collect(),
        };
        let fits = |l: &Self| match (l, classes) {
            (Self::V8 { classes: n } | Self::V5 { classes: n }, Some(c)) => *n == c,
            _ => true,
        };
        let fitting: Vec<Self> = candidates.iter().copied().filter(fits).collect();
        let pool = if fitting.is_empty() { candidates } else { fitting };
        // Where the shape alone cannot tell, the box count is the larger dimension.
        let by_count = |l: &&Self| match l {
            Self::V8 { .. } => b >= a,
            Self::V5 { .. } => a >= b,
            Self::EndToEnd => a > 6,
        };
        match pool.as_slice() {
            [only] => Ok(*only),
            [] => Err(unsupported()),
            several => several.iter().find(by_count).or(several.first()).copied().ok_or_else(unsupported),
        }
    }

    /// Number of classes, when the layout says.
    pub fn classes(&self) -> Option<usize> {
        match self {
            Self::V8 { classes } | Self::V5 { classes } => Some(*classes),
            Self::EndToEnd => None,
        }
    }

    /// Whether NMS applies to this layout's output.
    pub fn needs_nms(&self) -> bool {
        !matches!(self, Self::EndToEnd)
    }

    /// Decodes `data` (the output, row-major, of `shape`) into candidates scoring above `conf`.
    pub fn decode(&self, data: &[f32], shape: &[usize], conf: f32) -> Result<Vec<Candidate>, DetectError> {
        let (rows, cols) = match shape {
            [1, rows, cols] if rows.checked_mul(*cols) == Some(data.len()) => (*rows, *cols),
            _ => return Err(DetectError::Inference(format!("output of shape {shape:?} does not match {self:?}"))),
        };
        let mut candidates = match *self {
            Self::V8 { classes } => {
                if rows != 4 + classes {
                    return Err(DetectError::Inference(format!("expected {} rows, got {rows}", 4 + classes)));
                }
                decode_v8(data, cols, classes, conf)
            }
            Self::V5 { classes } => {
                if cols != 5 + classes {
                    return Err(DetectError::Inference(format!("expected {} columns, got {cols}", 5 + classes)));
                }
                decode_v5(data, rows, classes, conf)
            }
            Self::EndToEnd => {
                if cols != 6 {
                    return Err(DetectError::Inference(format!("expected 6 columns, got {cols}")));
                }
                decode_e2e(data, conf)
            }
        };
        // A model can put NaN or infinity anywhere: such a box is no detection.
        candidates.retain(|c| c.score.is_finite() && c.bbox.iter().all(|v| v.is_finite()));
        Ok(candidates)
    }
}

/// A `--layout` choice, before the class count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// `[1, 4+nc, N]`.
    V8,
    /// `[1, N, 5+nc]`.
    V5,
    /// `[1, N, 6]`.
    EndToEnd,
}

fn xyxy(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// Class scores are rows: walk them row by row (cache-friendly), keeping each box's best.
fn decode_v8(data: &[f32], boxes: usize, classes: usize, conf: f32) -> Vec<Candidate> {
    let mut best = vec![f32::NEG_INFINITY; boxes];
    let mut best_class = vec![0usize; boxes];
    for class in 0..classes {
        let row = &data[(4 + class) * boxes..(5 + class) * boxes];
        for (i, &score) in row.iter().enumerate() {
            // Strictly greater: ties keep the first class, as argmax does; NaN never wins.
            if score > best[i] {
                best[i] = score;
                best_class[i] = class;
            }
        }
    }
    let row = |r: usize, i: usize| data[r * boxes + i];
    (0..boxes)
        .filter(|&i| best[i] > conf)
        .map(|i| Candidate {
            bbox: xyxy(row(0, i), row(1, i), row(2, i), row(3, i)),
            score: best[i],
            class_id: best_class[i],
        })
        .collect()
}

fn decode_v5(data: &[f32], boxes: usize, classes: usize, conf: f32) -> Vec<Candidate> {
    let width = 5 + classes;
    (0..boxes)
        .filter_map(|i| {
            let r = &data[i * width..(i + 1) * width];
            // NaN objectness fails this too.
            if r[4].partial_cmp(&conf) != Some(std::cmp::Ordering::Greater) {
                return None;
            }
            let (class_id, &p) =
                r[5..]
                    .iter()
                    .enumerate()
                    .fold((0, &f32::NEG_INFINITY), |acc, (c, p)| if *p > *acc.1 { (c, p) } else { acc });
            let score = r[4] * p;
            (score > conf).then(|| Candidate { bbox: xyxy(r[0], r[1], r[2], r[3]), score, class_id })
        })
        .collect()
}

fn decode_e2e(data: &[f32], conf: f32) -> Vec<Candidate> {
    data.chunks_exact(6)
        .filter(|r| r[4] > conf && r[5].is_finite() && r[5] >= 0.0)
        .map(|r| Candidate { bbox: [r[0], r[1], r[2], r[3]], score: r[4], class_id: r[5].round() as usize })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_name_users_write_is_understood() {
        for (names, kind) in [
            (&["v8", "YOLOv8", "yolo11", "v11"][..], LayoutKind::V8),
            (&["v5", "yolov5", "v7", "YOLOv7"][..], LayoutKind::V5),
            (&["e2e", "end2end", "end-to-end", "v10", "yolo26"][..], LayoutKind::EndToEnd),
        ] {
            for name in names {
                assert_eq!(OutputLayout::parse_override(name).expect(name), kind, "{name}");
            }
        }
        assert!(OutputLayout::parse_override("v9").is_err());
    }

    #[test]
    fn class_counts_and_nms_by_layout() {
        assert_eq!(OutputLayout::V8 { classes: 80 }.classes(), Some(80));
        assert_eq!(OutputLayout::V5 { classes: 3 }.classes(), Some(3));
        assert_eq!(OutputLayout::EndToEnd.classes(), None);
        assert!(OutputLayout::V8 { classes: 80 }.needs_nms() && OutputLayout::V5 { classes: 3 }.needs_nms());
        assert!(!OutputLayout::EndToEnd.needs_nms(), "end-to-end outputs come out of NMS already");
    }

    #[test]
    fn the_names_class_count_picks_between_layouts_the_shape_allows() {
        // [1, 85, 85]: v8 with 81 classes or v5 with 80; 80 names say v5.
        assert_eq!(
            OutputLayout::detect("o", &[1, 85, 85], Some(80), None).expect("v5"),
            OutputLayout::V5 { classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect("o", &[1, 85, 85], Some(81), None).expect("v8"),
            OutputLayout::V8 { classes: 81 }
        );
        // Five columns leave v5 no class at all.
        assert!(OutputLayout::detect("o", &[1, 8400, 5], None, Some(LayoutKind::V5)).is_err());
    }

    #[test]
    fn a_tie_between_classes_goes_to_the_first_as_argmax_does() {
        // v8, 2 classes, 1 box, both classes at 0.7.
        let v8 = [5.0, 5.0, 4.0, 4.0, 0.7, 0.7];
        let found = OutputLayout::V8 { classes: 2 }.decode(&v8, &[1, 6, 1], 0.25).expect("decode");
        assert_eq!(found.iter().map(|c| c.class_id).collect::<Vec<_>>(), [0]);
        // v5, 2 classes, 1 box, objectness 1, both classes at 0.5.
        let v5 = [5.0, 5.0, 4.0, 4.0, 1.0, 0.5, 0.5];
        let found = OutputLayout::V5 { classes: 2 }.decode(&v5, &[1, 1, 7], 0.25).expect("decode");
        assert_eq!(found.iter().map(|c| c.class_id).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_score_exactly_at_the_threshold_is_no_detection() {
        // v8, 1 class, 2 boxes: scores 0.25 (the threshold) and 0.26.
        let data = [5.0, 5.0, 5.0, 5.0, 4.0, 4.0, 4.0, 4.0, 0.25, 0.26];
        let found = OutputLayout::V8 { classes: 1 }.decode(&data, &[1, 5, 2], 0.25).expect("decode");
        assert_eq!(found.iter().map(|c| c.score).collect::<Vec<_>>(), [0.26]);
        // v5, 1 class: objectness times class probability, at the threshold, is no detection.
        let v5 = [5.0, 5.0, 4.0, 4.0, 0.5, 0.5, 5.0, 5.0, 4.0, 4.0, 1.0, 0.26];
        let found = OutputLayout::V5 { classes: 1 }.decode(&v5, &[1, 2, 6], 0.25).expect("decode");
        assert_eq!(found.iter().map(|c| c.score).collect::<Vec<_>>(), [0.26]);
        let e2e = [0.0, 0.0, 5.0, 5.0, 0.25, 0.0, 0.0, 0.0, 5.0, 5.0, 0.26, 0.0];
        let found = OutputLayout::EndToEnd.decode(&e2e, &[1, 2, 6], 0.25).expect("decode");
        assert_eq!(found.iter().map(|c| c.score).collect::<Vec<_>>(), [0.26]);
    }

    #[test]
    fn nan_and_infinite_values_make_no_detection() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        // v8, 1 class, 3 boxes: an infinite score, a NaN width, and one good box.
        let data = [10.0, 10.0, 10.0, 1.0, 1.0, 1.0, 4.0, nan, 4.0, 4.0, 4.0, 4.0, inf, 0.9, 0.8];
        let found = OutputLayout::V8 { classes: 1 }.decode(&data, &[1, 5, 3], 0.25).expect("decode");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].score, 0.8);
        let e2e = [0.0, 0.0, 5.0, 5.0, 0.9, nan, 0.0, 0.0, 5.0, 5.0, 0.9, -3.0, 0.0, 0.0, inf, 5.0, 0.9, 1.0];
        assert!(OutputLayout::EndToEnd.decode(&e2e, &[1, 3, 6], 0.25).expect("decode").is_empty());
        assert!(OutputLayout::V8 { classes: 1 }.decode(&data, &[1, usize::MAX, 2], 0.25).is_err(), "no overflow");
    }

    #[test]
    fn layouts_are_told_apart_by_shape() {
        let d = |shape: &[i64], classes| OutputLayout::detect("out", shape, classes, None);
        assert_eq!(d(&[1, 84, 8400], None).ok(), Some(OutputLayout::V8 { classes: 80 }));
        assert_eq!(d(&[1, 84, -1], None).ok(), Some(OutputLayout::V8 { classes: 80 }));
        assert_eq!(d(&[1, 25200, 85], None).ok(), Some(OutputLayout::V5 { classes: 80 }));
        assert_eq!(d(&[1, 300, 6], None).ok(), Some(OutputLayout::EndToEnd));
        assert_eq!(d(&[1, 7, 9], Some(3)).ok(), Some(OutputLayout::V8 { classes: 3 }));
        assert_eq!(d(&[1, 3, 8], Some(3)).ok(), Some(OutputLayout::V5 { classes: 3 }));
        assert_eq!(d(&[1, 10, 6], Some(3)).ok(), Some(OutputLayout::EndToEnd));
        assert_eq!(d(&[1, 6, 8400], None).ok(), Some(OutputLayout::V8 { classes: 2 }), "2-class v8 is not e2e");
        let forced = OutputLayout::detect("out", &[1, 300, 6], None, Some(LayoutKind::V5));
        assert_eq!(forced.ok(), Some(OutputLayout::V5 { classes: 1 }));
    }

    #[test]
    fn unsupported_shapes_say_what_was_expected() {
        for shape in [&[1, 4, 4][..], &[1, 100], &[2, 84, 8400], &[1, 2, 3, 4]] {
            let error = OutputLayout::detect("output0", shape, None, None).expect_err("unsupported");
            assert!(error.to_string().contains("[1, 4+nc, N]"), "{error}");
        }
    }

    #[test]
    fn v8_decodes_best_class_and_filters_by_conf() {
        // 2 classes, 3 boxes: rows cx, cy, w, h, class0, class1.
        let data = [
            10.0, 50.0, 90.0, // cx
            10.0, 50.0, 90.0, // cy
            4.0, 10.0, 2.0, // w
            2.0, 10.0, 2.0, // h
            0.9, 0.1, 0.2, // class 0
            0.3, 0.8, 0.1, // class 1
        ];
        let c = OutputLayout::V8 { classes: 2 }.decode(&data, &[1, 6, 3], 0.25).expect("decode");
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].class_id, c[0].score, c[0].bbox), (0, 0.9, [8.0, 9.0, 12.0, 11.0]));
        assert_eq!((c[1].class_id, c[1].score, c[1].bbox), (1, 0.8, [45.0, 45.0, 55.0, 55.0]));
    }

    #[test]
    fn v5_multiplies_objectness_and_class_probability() {
        let data = [
            20.0, 20.0, 10.0, 10.0, 0.9, 0.1, 0.8, // kept: 0.9 * 0.8 = 0.72, class 1
            20.0, 20.0, 10.0, 10.0, 0.2, 1.0, 0.0, // objectness below conf
            20.0, 20.0, 10.0, 10.0, 0.5, 0.4, 0.4, // 0.5 * 0.4 = 0.2 < 0.25
        ];
        let c = OutputLayout::V5 { classes: 2 }.decode(&data, &[1, 3, 7], 0.25).expect("decode");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class_id, 1);
        assert!((c[0].score - 0.72).abs() < 1e-6);
        assert_eq!(c[0].bbox, [15.0, 15.0, 25.0, 25.0]);
    }

    #[test]
    fn e2e_reads_corners_and_skips_padding_and_bad_classes() {
        let data = [
            1.0,
            2.0,
            30.0,
            40.0,
            0.7,
            2.0, // kept
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0, // padding row
            1.0,
            2.0,
            30.0,
            40.0,
            0.9,
            f32::NAN, // no class
            1.0,
            2.0,
            30.0,
            40.0,
            0.9,
            -1.0, // negative class
        ];
        let c = OutputLayout::EndToEnd.decode(&data, &[1, 4, 6], 0.25).expect("decode");
        assert_eq!(c, vec![Candidate { bbox: [1.0, 2.0, 30.0, 40.0], score: 0.7, class_id: 2 }]);
    }

    #[test]
    fn nan_scores_are_never_candidates() {
        let data = [10.0, 10.0, 4.0, 4.0, f32::NAN];
        assert!(OutputLayout::V8 { classes: 1 }.decode(&data, &[1, 5, 1], 0.25).expect("decode").is_empty());
    }

    #[test]
    fn a_shape_that_does_not_match_the_data_is_an_error() {
        assert!(OutputLayout::V8 { classes: 2 }.decode(&[0.0; 5], &[1, 6, 3], 0.25).is_err());
    }
}
