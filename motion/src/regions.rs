//! The regions of a frame the detector runs on, from the boxes that need looking at (where
//! something moved, tracked objects due a look).
//!
//! Each box gets a square around it, at least the model's input side, so that the crop goes to
//! the model at full resolution and small, far objects are as large to it as they are in the
//! frame; a larger box gets a larger square (it is scaled down to the input), with a margin.
//! Squares are moved inside the frame and cut to it when the frame is smaller. Regions that
//! overlap are merged (a square around both contents) until none do; past the most regions a
//! frame may have, the two whose merged region is smallest are merged, and again, so that a busy
//! frame costs at most that many detector runs.

/// A rectangle of the frame: x1, y1, x2, y2 in pixels, the end exclusive.
pub type Rect = [i32; 4];

/// How regions are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionRules {
    /// The least side of a region: the model's input side.
    pub least_side: u32,
    /// The most regions in one frame (at least one).
    pub max_regions: usize,
    /// A region's side over the longest side of the boxes it covers (at least 1).
    pub margin: f32,
}

/// More boxes than this in one frame are not worth regions: the whole frame is looked at.
pub const MAX_BOXES: usize = 256;

/// A region and the boxes it must cover (their union).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Region {
    rect: Rect,
    content: [f32; 4],
}

/// The regions covering `boxes` (x1, y1, x2, y2 in pixels of a `frame` of width and height),
/// top to bottom, left to right. None when there is nothing to cover.
pub fn regions(boxes: &[[f32; 4]], frame: (u32, u32), rules: &RegionRules) -> Vec<Rect> {
    let (w, h) = (frame.0 as f32, frame.1 as f32);
    let clipped: Vec<[f32; 4]> = boxes
        .iter()
        .filter(|b| b.iter().all(|v| v.is_finite()))
        .map(|b| [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)])
        .filter(|b| b[2] > b[0] && b[3] > b[1])
        .collect();
    if clipped.is_empty() || frame.0 == 0 || frame.1 == 0 {
        return Vec::new();
    }
    if clipped.len() > MAX_BOXES {
        return vec![[0, 0, frame.0 as i32, frame.1 as i32]];
    }
    let around = |content: [f32; 4]| Region { rect: square_around(content, frame, rules), content };
    let mut regions: Vec<Region> = clipped.into_iter().map(around).collect();
    // Overlapping regions merge, until none overlap.
    while let Some((i, j)) = overlapping_pair(&regions) {
        let merged = around(union(regions[i].content, regions[j].content));
        regions[i] = merged;
        regions.swap_remove(j);
    }
    // Too many: merge the pair whose merged region is smallest, and again (merging may make
    // new overlaps, which merge too).
    while regions.len() > rules.max_regions.max(1) {
        let mut best: Option<(i64, usize, usize)> = None;
        for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                let area = rect_area(around(union(regions[i].content, regions[j].content)).rect);
                if best.is_none_or(|(a, _, _)| area < a) {
                    best = Some((area, i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        regions[i] = around(union(regions[i].content, regions[j].content));
        regions.swap_remove(j);
        while let Some((i, j)) = overlapping_pair(&regions) {
            regions[i] = around(union(regions[i].content, regions[j].content));
            regions.swap_remove(j);
        }
    }
    let mut rects: Vec<Rect> = regions.into_iter().map(|r| r.rect).collect();
    rects.sort_by_key(|r| (r[1], r[0]));
    rects
}

/// The square around `content`: its side the longest side of the content times the margin, at
/// least the least side, cut to the frame's sides; centred on the content, moved inside the frame.
fn square_around(content: [f32; 4], (fw, fh): (u32, u32), rules: &RegionRules) -> Rect {
    let longest = (content[2] - content[0]).max(content[3] - content[1]);
    let side = ((longest * rules.margin.max(1.0)).ceil() as i64).max(i64::from(rules.least_side)).max(1);
    let (rw, rh) = (side.min(i64::from(fw)), side.min(i64::from(fh)));
    let place = |centre: f32, size: i64, room: u32| {
        let start = (f64::from(centre) - size as f64 / 2.0).round() as i64;
        start.clamp(0, i64::from(room) - size)
    };
    let x = place((content[0] + content[2]) / 2.0, rw, fw);
    let y = place((content[1] + content[3]) / 2.0, rh, fh);
    [x as i32, y as i32, (x + rw) as i32, (y + rh) as i32]
}

fn union(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

fn rect_area(r: Rect) -> i64 {
    i64::from(r[2] - r[0]) * i64::from(r[3] - r[1])
}

/// Whether two rectangles share any area.
pub fn overlap(a: Rect, b: Rect) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn overlapping_pair(regions: &[Region]) -> Option<(usize, usize)> {
    (0..regions.len())
        .flat_map(|i| (i + 1..regions.len()).map(move |j| (i, j)))
        .find(|&(i, j)| overlap(regions[i].rect, regions[j].rect))
}

/// The share of a box's area (x1, y1, x2, y2) inside a rectangle.
pub fn share_inside(b: [f32; 4], r: Rect) -> f32 {
    let r = r.map(|v| v as f32);
    let iw = (b[2].min(r[2]) - b[0].max(r[0])).max(0.0);
    let ih = (b[3].min(r[3]) - b[1].max(r[1])).max(0.0);
    let area = (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    if area <= 0.0 {
        return f32::from(u8::from(b[0] >= r[0] && b[0] <= r[2] && b[1] >= r[1] && b[1] <= r[3]));
    }
    iw * ih / area
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: (u32, u32) = (1280, 720);

    fn rules(max_regions: usize) -> RegionRules {
        RegionRules { least_side: 320, max_regions, margin: 1.25 }
    }

    #[test]
    fn a_small_box_gets_a_square_of_the_models_side_around_it() {
        let r = regions(&[[600.0, 300.0, 640.0, 380.0]], FRAME, &rules(4));
        assert_eq!(r, [[460, 180, 780, 500]], "320x320 at full resolution, centred on the box");
        // Near the edge the square is moved inside the frame, never cut.
        let r = regions(&[[0.0, 700.0, 20.0, 720.0]], FRAME, &rules(4));
        assert_eq!(r, [[0, 400, 320, 720]]);
    }

    #[test]
    fn a_large_box_gets_a_larger_square_with_a_margin_and_a_small_frame_cuts_it() {
        let r = regions(&[[100.0, 100.0, 500.0, 400.0]], FRAME, &rules(4));
        assert_eq!(r, [[50, 0, 550, 500]], "400 px long: a 500 px square");
        let r = regions(&[[10.0, 10.0, 600.0, 50.0]], (640, 480), &rules(4));
        assert_eq!(r, [[0, 0, 640, 480]], "wider than the frame allows: the whole frame");
        let r = regions(&[[10.0, 10.0, 30.0, 30.0]], (200, 150), &rules(4));
        assert_eq!(r, [[0, 0, 200, 150]], "a frame smaller than the model: the whole frame");
    }

    #[test]
    fn overlapping_regions_merge_and_distant_ones_do_not() {
        // Two boxes 200 px apart: their squares overlap, so one region covers both.
        let r = regions(&[[300.0, 300.0, 340.0, 340.0], [500.0, 320.0, 540.0, 360.0]], FRAME, &rules(4));
        assert_eq!(r.len(), 1, "{r:?}");
        let [x1, y1, x2, y2] = r[0];
        assert!(x1 <= 300 && x2 >= 540 && y1 <= 300 && y2 >= 360, "{r:?}");
        assert_eq!((x2 - x1, y2 - y1), (320, 320), "both fit in one model-sized square");
        // Far apart: two regions, each at full resolution.
        let r = regions(&[[50.0, 50.0, 90.0, 90.0], [1100.0, 600.0, 1140.0, 640.0]], FRAME, &rules(4));
        assert_eq!(r, [[0, 0, 320, 320], [960, 400, 1280, 720]]);
        assert!(!overlap(r[0], r[1]));
    }

    #[test]
    fn merging_repeats_until_no_regions_overlap() {
        // A chain: a overlaps b once b has merged with c.
        let boxes = [[0.0, 0.0, 10.0, 10.0], [330.0, 0.0, 340.0, 10.0], [600.0, 0.0, 610.0, 10.0]];
        let r = regions(&boxes, FRAME, &rules(8));
        for (i, a) in r.iter().enumerate() {
            for b in &r[i + 1..] {
                assert!(!overlap(*a, *b), "{r:?}");
            }
        }
        for b in boxes {
            assert!(r.iter().any(|rect| share_inside(b, *rect) == 1.0), "{b:?} is covered: {r:?}");
        }
    }

    #[test]
    fn past_the_most_regions_the_nearest_are_merged() {
        let boxes = [[20.0, 20.0, 40.0, 40.0], [500.0, 20.0, 520.0, 40.0], [1200.0, 600.0, 1220.0, 620.0]];
        assert_eq!(regions(&boxes, FRAME, &rules(3)).len(), 3, "apart, and room for three");
        let two = regions(&boxes, FRAME, &rules(2));
        assert_eq!(two.len(), 2, "{two:?}");
        assert!(
            two.iter().any(|r| share_inside(boxes[0], *r) == 1.0 && share_inside(boxes[1], *r) == 1.0),
            "the two near ones share a region: {two:?}"
        );
        let one = regions(&boxes, FRAME, &rules(1));
        assert_eq!(one.len(), 1);
        assert!(boxes.iter().all(|b| share_inside(*b, one[0]) == 1.0), "{one:?}");
    }

    #[test]
    fn nothing_to_cover_makes_no_region_and_bad_boxes_are_ignored() {
        assert!(regions(&[], FRAME, &rules(4)).is_empty());
        assert!(regions(
            &[[f32::NAN, 0.0, 10.0, 10.0], [5.0, 5.0, 5.0, 9.0], [-50.0, -50.0, -10.0, -10.0]],
            FRAME,
            &rules(4)
        )
        .is_empty());
        let many: Vec<[f32; 4]> = (0..MAX_BOXES + 1).map(|i| [i as f32, 0.0, i as f32 + 1.0, 1.0]).collect();
        assert_eq!(regions(&many, FRAME, &rules(4)), [[0, 0, 1280, 720]]);
    }

    #[test]
    fn share_inside_measures_how_much_of_a_box_a_region_holds() {
        assert_eq!(share_inside([0.0, 0.0, 10.0, 10.0], [0, 0, 20, 20]), 1.0);
        assert_eq!(share_inside([10.0, 0.0, 30.0, 10.0], [0, 0, 20, 20]), 0.5);
        assert_eq!(share_inside([30.0, 30.0, 40.0, 40.0], [0, 0, 20, 20]), 0.0);
    }
}
