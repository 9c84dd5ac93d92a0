//! One camera's lookout: for each frame, from its small grey copy, whether the detector runs and
//! where. The camera's first frame, and the first after a lighting change, are looked at whole
//! (there is no background to tell motion by, and something may have come meanwhile). Otherwise
//! the regions cover what moved (but for motion within an object that stands still: its own)
//! and the tracked objects due a look ([`crate::watch`]); with nothing to cover, the detector
//! does not run and the tracker carries the objects over.

use crate::background::{Motion, MotionDetector};
use crate::grey::Grey;
use crate::mask::Mask;
use crate::regions::{regions, Rect, RegionRules};
use crate::settings::LookSettings;
use crate::watch::Watch;

/// Where the detector runs on a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nowhere: the tracked objects are carried over.
    Carry,
    /// On the whole frame.
    Frame,
    /// On these regions of the frame.
    Regions(Vec<Rect>),
}

impl Plan {
    /// The rectangles the detector runs on, the whole frame being `[0, 0, width, height]`.
    pub fn looked(&self, (width, height): (u32, u32)) -> Vec<Rect> {
        match self {
            Self::Carry => Vec::new(),
            Self::Frame => vec![[0, 0, width as i32, height as i32]],
            Self::Regions(rects) => rects.clone(),
        }
    }
}

/// A frame's plan, and what the motion check saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// Where the detector runs.
    pub plan: Plan,
    /// The moving blobs' boxes, in frame pixels.
    pub motion: Vec<[f32; 4]>,
    /// What the motion check saw.
    pub seen: Motion,
}

/// One camera's motion check, mask and tracked objects. `T` is what the pipeline keeps of a
/// tracked detection.
#[derive(Debug)]
pub struct Lookout<T> {
    camera: String,
    /// The size of the frames planned so far: the watched boxes are in its pixels.
    frame: Option<(u32, u32)>,
    motion: MotionDetector,
    mask: Option<Mask>,
    /// The tracked objects and when each was looked at.
    pub watch: Watch<T>,
}

impl<T: Clone> Lookout<T> {
    /// The lookout of `camera`, with no background and no objects yet.
    pub fn new(camera: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            frame: None,
            motion: MotionDetector::new(),
            mask: None,
            watch: Watch::default(),
        }
    }

    /// Plans a `frame`-sized frame (width, height) from its motion picture `grey`, at `now`
    /// (seconds), for a model whose input side is `least_side`. `stamp_rows` top rows of the
    /// motion picture are ignored besides the camera's masks (nvt's pixel stamp), and one more for
    /// the blur.
    pub fn plan(
        &mut self,
        grey: &Grey,
        frame: (u32, u32),
        stamp_rows: usize,
        now: f64,
        settings: &LookSettings,
        least_side: u32,
    ) -> Look {
        let (w, h) = (grey.width(), grey.height());
        // The blur carries the stamp's last row one row down.
        let stamp_rows = if stamp_rows > 0 { stamp_rows + 1 } else { 0 };
        let current = self.mask.as_ref().is_some_and(|m| m.fits(w, h) && m.top_rows() == stamp_rows.min(h));
        if !current {
            self.mask = Some(Mask::new(&settings.masks, &self.camera, w, h).with_top_rows(stamp_rows));
        }
        let mask = self.mask.as_ref().unwrap_or_else(|| unreachable!("made above"));
        let seen = self.motion.check(grey, mask, &settings.motion);
        let (sx, sy) = (frame.0 as f32 / w as f32, frame.1 as f32 / h as f32);
        let motion: Vec<[f32; 4]> = seen
            .blobs
            .iter()
            .map(|b| {
                let [x1, y1, x2, y2] = b.bbox.map(|v| v as f32);
                [x1 * sx, y1 * sy, x2 * sx, y2 * sy]
            })
            .collect();
        // A client that scales its frames (a slow link) keeps the motion picture's size, but the
        // watched boxes are in the old frame's pixels: they are forgotten, and the frame looked
        // at whole, so that the tracker finds the objects again in the new pixels.
        let resized = self.frame.is_some_and(|before| before != frame);
        self.frame = Some(frame);
        if resized {
            self.watch.clear();
        }
        // Past the objects the watch keeps, the others could not be carried: the whole frame.
        if seen.first || seen.lighting || resized || self.watch.is_full() {
            return Look { plan: Plan::Frame, motion, seen };
        }
        let moved = self.watch.not_own(now, &motion);
        let mut boxes = moved.clone();
        boxes.extend(self.watch.due(now, settings.recheck, &moved));
        if boxes.is_empty() {
            return Look { plan: Plan::Carry, motion, seen };
        }
        let rules = RegionRules { least_side, max_regions: settings.max_regions, margin: settings.margin };
        let mut rects = regions(&boxes, frame, &rules);
        // A region that cuts through a watched object would find a piece of it beside the whole
        // carried box (two tracks for one object): the object is covered too, and the regions
        // made again, until no region cuts one (a few rounds; each adds at least one box).
        for _ in 0..4 {
            let cut: Vec<[f32; 4]> = self
                .watch
                .objects()
                .map(|o| o.bbox)
                .filter(|b| !boxes.contains(b) && rects.iter().any(|r| cuts(*r, *b)))
                .collect();
            if cut.is_empty() {
                break;
            }
            boxes.extend(cut);
            rects = regions(&boxes, frame, &rules);
        }
        let whole = [0, 0, frame.0 as i32, frame.1 as i32];
        let plan = if rects.is_empty() {
            Plan::Carry
        } else if rects.contains(&whole) {
            Plan::Frame
        } else {
            Plan::Regions(rects)
        };
        Look { plan, motion, seen }
    }
}

/// Whether the region `r` holds part of the box `b` but not all of it.
fn cuts(r: Rect, b: [f32; 4]) -> bool {
    let [x1, y1, x2, y2] = r.map(|v| v as f32);
    let overlaps = b[0] < x2 && x1 < b[2] && b[1] < y2 && y1 < b[3];
    let inside = b[0] >= x1 && b[1] >= y1 && b[2] <= x2 && b[3] <= y2;
    overlaps && !inside
}

#[cfg(test)]
mod tests;
