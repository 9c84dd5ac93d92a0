//! Where the changed pixels of a motion picture gather: the changed pixels are grown by one
//! pixel in every direction (so that an object's fragments join), then each 8-connected group is
//! a blob with its bounding box and its area (Frigate finds contours and their areas; a group's
//! pixel count is the area of its filled contour).

/// One group of changed pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    /// x1, y1, x2, y2 in pixels of the motion picture, the end exclusive.
    pub bbox: [usize; 4],
    /// Its pixels, after growing.
    pub area: usize,
}

/// The changed pixels grown by one pixel in every direction (a 3x3 dilation).
pub fn grow(changed: &[bool], width: usize, height: usize, out: &mut Vec<bool>) {
    out.clear();
    out.resize(width * height, false);
    for y in 0..height {
        for x in 0..width {
            if !changed[y * width + x] {
                continue;
            }
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    out[ny * width + nx] = true;
                }
            }
        }
    }
}

/// The 8-connected groups of set pixels, each with at least `least_area` pixels; the largest
/// `most` of them when there are more.
pub fn find(pixels: &[bool], width: usize, height: usize, least_area: usize, most: usize) -> Vec<Blob> {
    let mut seen = vec![false; pixels.len()];
    let mut stack = Vec::new();
    let mut blobs = Vec::new();
    for start in 0..pixels.len() {
        if !pixels[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x1, mut y1, mut x2, mut y2, mut area) = (usize::MAX, usize::MAX, 0, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x + 1), y2.max(y + 1));
            area += 1;
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    let j = ny * width + nx;
                    if pixels[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if area >= least_area {
            blobs.push(Blob { bbox: [x1, y1, x2, y2], area });
        }
    }
    if blobs.len() > most {
        blobs.sort_by_key(|b| std::cmp::Reverse(b.area));
        blobs.truncate(most);
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(rows: &[&str]) -> (Vec<bool>, usize, usize) {
        let pixels = rows.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect();
        (pixels, rows[0].len(), rows.len())
    }

    #[test]
    fn groups_are_found_with_their_boxes_and_small_ones_dropped() {
        let (pixels, w, h) = picture(&[
            "##......", //
            "##......", "......#.", ".....#..", "........", "#.......",
        ]);
        let mut blobs = find(&pixels, w, h, 1, 10);
        blobs.sort_by_key(|b| b.bbox);
        assert_eq!(
            blobs,
            [
                Blob { bbox: [0, 0, 2, 2], area: 4 },
                Blob { bbox: [0, 5, 1, 6], area: 1 },
                Blob { bbox: [5, 2, 7, 4], area: 2 },
            ],
            "diagonal neighbours join"
        );
        assert_eq!(find(&pixels, w, h, 2, 10).len(), 2, "a one-pixel group is below the least area");
        assert_eq!(find(&pixels, w, h, 1, 1), [Blob { bbox: [0, 0, 2, 2], area: 4 }], "the largest kept");
    }

    #[test]
    fn growing_joins_fragments_one_pixel_apart() {
        let (pixels, w, h) = picture(&["#.#.....", "........", "........"]);
        let mut grown = Vec::new();
        grow(&pixels, w, h, &mut grown);
        assert_eq!(find(&grown, w, h, 1, 10), [Blob { bbox: [0, 0, 4, 2], area: 8 }]);
    }
}
