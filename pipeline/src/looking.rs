//! Where the detector looks on a camera's frames (`--detect motion`). Each frame's small grey
//! copy goes through the camera's [`Lookout`], which says whether the detector runs on the whole
//! frame, on regions of it, or not at all. Regions are cut from the frame at full resolution and
//! their detections put back in frame pixels; the tracked objects outside them are carried over
//! from their last look. Once the frame is tracked, what was found tells the lookout which
//! objects it watches ([`Looking::learn`]).
//!
//! nvt-server plans on the preparer thread and learns where frames are finished; nvt-detect does
//! both in its frame loop, on the video's own clock.

use crate::picture::{motion_picture, motion_picture_of_jpeg};
use nvt_capture::{Mat, Stamp};
use nvt_detect::{DetectError, Detection, Detector, Prepared, Preparer, Timings};
use nvt_motion::{Grey, LookSettings, Lookout, Plan, Rect, Seen};
use nvt_transport::{Looked, ReplyDetection};
use opencv::core::Rect as CvRect;
use opencv::prelude::*;
use serde::Serialize;
use std::sync::Arc;

/// Seconds after an object was found, or last moved, that its camera's frames are decoded whole
/// even when the detector skips them: its events take their best picture in its first seconds
/// (it is taken up, and its score settles, on frames that may only carry it).
pub const PICTURES_AFTER_MOVING: f64 = 3.0;

/// One camera's lookout, with the settings it plans by.
pub struct Looking {
    lookout: Lookout<ReplyDetection>,
    settings: Arc<LookSettings>,
    /// Whether the camera's frames carry nvt's pixel stamp, as its last frame decoded whole
    /// showed (a frame planned from its JPEG alone cannot show it).
    stamped: bool,
    /// Whether the detector ran on the camera's last frame planned.
    detected_last: bool,
}

/// Where the detector runs on one frame, and the detections it carries over.
#[derive(Debug, Clone)]
pub struct FramePlan {
    /// When the frame was planned, in seconds on the camera's clock.
    pub at: f64,
    /// Whole, regions, or nowhere.
    pub looked: Looked,
    /// The rectangles the detector runs on (the whole frame is one), in frame pixels.
    pub rects: Vec<Rect>,
    /// The tracked objects outside every rectangle, as last found, marked carried: filled by
    /// [`Looking::carry`] just before the frame is tracked, from the watch as the frames before
    /// it left it.
    pub carried: Vec<ReplyDetection>,
    /// How many moving areas the motion check saw.
    pub motion: usize,
}

/// What the log's record says of where the detector looked (`--detect motion`).
#[derive(Debug, Clone, Serialize)]
pub struct LookRecord {
    /// `frame`, `regions` or `none` (the detector did not run; every detection is carried).
    pub detector: Looked,
    /// The regions it ran on, x1, y1, x2, y2 in frame pixels (`regions` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Rect>,
    /// How many moving areas the motion check saw.
    pub motion: usize,
    /// How many of the frame's detections were carried over rather than found.
    pub carried: usize,
}

impl FramePlan {
    /// A plan that looks at the whole frame (the motion picture could not be made).
    fn whole(at: f64, size: (u32, u32)) -> Self {
        let rects = Plan::Frame.looked(size);
        Self { at, looked: Looked::Frame, rects, carried: Vec::new(), motion: 0 }
    }

    /// Completes a frame's `found` detections (in frame pixels) with what this plan knows: each
    /// found one gets the region it was found in, the carried ones are added, and all are put
    /// most confident first.
    pub fn place(&self, found: &mut Vec<ReplyDetection>) {
        if self.looked == Looked::Regions {
            for d in found.iter_mut() {
                let (cx, cy) = ((d.bbox[0] + d.bbox[2]) / 2.0, (d.bbox[1] + d.bbox[3]) / 2.0);
                d.region = self
                    .rects
                    .iter()
                    .copied()
                    .find(|r| (r[0] as f32..r[2] as f32).contains(&cx) && (r[1] as f32..r[3] as f32).contains(&cy));
            }
        }
        found.extend(self.carried.iter().cloned());
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
    }

    /// The record's account of this plan.
    pub fn record(&self) -> LookRecord {
        let regions = if self.looked == Looked::Regions { self.rects.clone() } else { Vec::new() };
        LookRecord { detector: self.looked, regions, motion: self.motion, carried: self.carried.len() }
    }
}

impl Looking {
    /// The lookout of `camera`, with no background and no objects yet.
    pub fn new(camera: &str, settings: Arc<LookSettings>) -> Self {
        Self { lookout: Lookout::new(camera), settings, stamped: false, detected_last: false }
    }

    /// Plans a frame from its `jpeg` alone, of `size` (from its header), at `at` seconds: its
    /// motion picture is decoded grey at a reduced scale ([`motion_picture_of_jpeg`]), so that a
    /// frame the detector skips need not be decoded whole (nvt-server). The stamp rows are those
    /// the camera's last frame decoded whole showed ([`Looking::saw_whole`]). A camera's frames
    /// may be planned either way, frame by frame: the two pictures agree.
    pub fn plan_jpeg(
        &mut self,
        jpeg: &[u8],
        size: (u32, u32),
        max_pixels: u64,
        at: f64,
        input: (u32, u32),
    ) -> Result<FramePlan, nvt_capture::CaptureError> {
        let grey = motion_picture_of_jpeg(jpeg, size, max_pixels)?;
        let stamp_rows = if self.stamped { stamp_rows(size, &grey) } else { 0 };
        Ok(self.plan_picture(&grey, size, stamp_rows, at, input))
    }

    /// Learns from a frame decoded whole whether the camera's frames carry nvt's pixel stamp.
    pub fn saw_whole(&mut self, image: &Mat) {
        self.stamped = Stamp::read(image).is_some();
    }

    /// Whether nvt-server decodes the camera's frame at `at` whole before planning it: the
    /// detector ran on its last frame (something moves, and it likely runs on this one too), or
    /// an object was found or moved less than [`PICTURES_AFTER_MOVING`] ago.
    pub fn wants_whole(&self, at: f64) -> bool {
        self.detected_last || self.lookout.watch.objects().any(|o| at - o.moved < PICTURES_AFTER_MOVING)
    }

    /// Plans `image` at `at` seconds, for a model whose input is `input` (width, height).
    pub fn plan(&mut self, image: &Mat, at: f64, input: (u32, u32)) -> FramePlan {
        let size = (image.cols().max(0) as u32, image.rows().max(0) as u32);
        let grey = match motion_picture(image) {
            Ok(grey) => grey,
            Err(error) => {
                tracing::debug!(%error, "no motion picture: the detector looks at the whole frame");
                return FramePlan::whole(at, size);
            }
        };
        // nvt's pixel stamp changes every frame: its rows are never motion.
        self.saw_whole(image);
        let stamp_rows = if self.stamped { stamp_rows(size, &grey) } else { 0 };
        self.plan_picture(&grey, size, stamp_rows, at, input)
    }

    /// Plans a `size` frame from its motion picture `grey`.
    fn plan_picture(
        &mut self,
        grey: &Grey,
        size: (u32, u32),
        stamp_rows: usize,
        at: f64,
        input: (u32, u32),
    ) -> FramePlan {
        let least_side = input.0.min(input.1);
        let look = self.lookout.plan(grey, size, stamp_rows, at, &self.settings, least_side);
        let (looked, rects) = match &look.plan {
            Plan::Carry => (Looked::None, Vec::new()),
            Plan::Frame => (Looked::Frame, look.plan.looked(size)),
            Plan::Regions(rects) => (Looked::Regions, rects.clone()),
        };
        self.detected_last = looked != Looked::None;
        FramePlan { at, looked, rects, carried: Vec::new(), motion: look.motion.len() }
    }

    /// Fills `plan.carried` with the tracked objects outside every rectangle it looks at, as
    /// last found. Called just before the frame is tracked: nvt-server plans a frame while the
    /// one before it may still be in the detector.
    pub fn carry(&self, plan: &mut FramePlan) {
        plan.carried = self
            .lookout
            .watch
            .carried(&plan.rects)
            .map(|o| ReplyDetection { bbox: o.bbox, carried: true, ..o.found.clone() })
            .collect();
    }

    /// Learns from a frame planned by `plan`, once its `detections` (found and carried) are
    /// tracked: objects found are watched, objects looked for and not found count a miss.
    pub fn learn(&mut self, plan: &FramePlan, detections: &[ReplyDetection]) {
        let seen = detections
            .iter()
            .filter_map(|d| {
                let track_id = d.track_id?;
                Some(Seen {
                    track_id,
                    bbox: d.bbox,
                    carried: d.carried,
                    found: ReplyDetection { carried: false, ..d.clone() },
                })
            })
            .collect();
        self.lookout.watch.update(plan.at, &plan.rects, seen, self.settings.give_up_after);
    }
}

/// The rows of the motion picture nvt's pixel stamp takes in a `size` frame, and one more for
/// the blur.
fn stamp_rows(size: (u32, u32), grey: &Grey) -> usize {
    (Stamp::height(size.0 as usize) * grey.height()).div_ceil(size.1.max(1) as usize)
}

/// The part of `image` inside `rect` (clipped to it), not copied.
pub fn crop(image: &Mat, rect: Rect) -> Result<opencv::boxed_ref::BoxedRef<'_, Mat>, opencv::Error> {
    let (w, h) = (image.cols(), image.rows());
    let x1 = rect[0].clamp(0, w);
    let y1 = rect[1].clamp(0, h);
    let x2 = rect[2].clamp(x1, w);
    let y2 = rect[3].clamp(y1, h);
    if x2 - x1 < 1 || y2 - y1 < 1 {
        return Err(opencv::Error::new(opencv::core::StsBadArg, format!("empty region {rect:?}")));
    }
    Mat::roi(image, CvRect::new(x1, y1, x2 - x1, y2 - y1))
}

/// Prepares the region `rect` of `image` into `input`.
pub fn prepare_region(preparer: &Preparer, image: &Mat, rect: Rect, input: &mut Prepared) -> Result<(), DetectError> {
    if rect == [0, 0, image.cols(), image.rows()] {
        return preparer.prepare(image, input);
    }
    preparer.prepare(&crop(image, rect).map_err(DetectError::from)?, input)
}

/// Moves detections found in the region `rect` into frame pixels.
pub fn into_frame(detections: &mut [Detection], rect: Rect) {
    let (dx, dy) = (rect[0] as f32, rect[1] as f32);
    for d in detections {
        d.bbox = [d.bbox[0] + dx, d.bbox[1] + dy, d.bbox[2] + dx, d.bbox[3] + dy];
    }
}

/// Runs `detector` on each of `rects` of `image` (the first already prepared in `input` when
/// `first_prepared`), and returns every detection in frame pixels, most confident first, with
/// the stages' times summed and the number of runs.
pub fn detect_regions(
    detector: &mut Detector,
    image: &Mat,
    rects: &[Rect],
    input: &mut Prepared,
    first_prepared: bool,
) -> Result<(Vec<Detection>, Timings, u64), DetectError> {
    let preparer = detector.preparer();
    let mut all = Vec::new();
    let mut total = Timings::default();
    let mut runs = 0;
    for (i, rect) in rects.iter().enumerate() {
        if !(i == 0 && first_prepared && input.is_for(&preparer)) {
            prepare_region(&preparer, image, *rect, input)?;
        }
        let (mut found, timings) = detector.run(input)?;
        runs += 1;
        into_frame(&mut found, *rect);
        all.append(&mut found);
        total.preprocess += timings.preprocess;
        total.infer += timings.infer;
        total.postprocess += timings.postprocess;
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok((all, total, runs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, Size, CV_8UC3};
    use opencv::imgproc;

    fn frame(width: i32, height: i32, square: Option<(i32, i32)>) -> Mat {
        let mut image = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(90.0)).expect("mat");
        if let Some((x, y)) = square {
            // Bright on the grey: the motion check sees brightness, not colour.
            let rect = CvRect::new(x, y, 40, 40);
            imgproc::rectangle(&mut image, rect, Scalar::all(250.0), -1, imgproc::LINE_8, 0).expect("draw");
        }
        image
    }

    #[test]
    fn a_still_frame_is_carried_and_a_moving_square_gets_a_region_around_it() {
        let settings = Arc::new(LookSettings::default());
        let mut looking = Looking::new("door", settings);
        let first = looking.plan(&frame(1280, 720, None), 0.0, (320, 320));
        assert_eq!(first.looked, Looked::Frame, "no background yet: the whole frame");
        let still = looking.plan(&frame(1280, 720, None), 0.1, (320, 320));
        assert_eq!((still.looked, still.rects.len()), (Looked::None, 0), "nothing moved: {still:?}");
        let moved = looking.plan(&frame(1280, 720, Some((900, 500))), 0.2, (320, 320));
        assert_eq!(moved.looked, Looked::Regions, "{moved:?}");
        let [x1, y1, x2, y2] = moved.rects[0];
        assert!(x1 <= 900 && y1 <= 500 && x2 >= 940 && y2 >= 540, "the region covers the square: {moved:?}");
        assert!(x2 - x1 >= 320 && y2 - y1 >= 320, "at least the model's input, for full resolution: {moved:?}");
        assert!(x2 - x1 < 1280, "not the whole frame: {moved:?}");
    }

    /// nvt-server plans from the JPEG alone, decoded grey at a reduced scale: the same plans as
    /// from the frame decoded whole, and the motion picture the same size.
    #[test]
    fn a_frame_planned_from_its_jpeg_alone_is_planned_as_the_whole_frame_is() {
        let settings = Arc::new(LookSettings::default());
        let mut looking = Looking::new("door", settings);
        let jpeg = |image: &Mat| nvt_capture::jpeg::encode(image, 90).expect("jpeg");
        let size = (1280, 720);
        assert_eq!(crate::picture::motion_geometry(1280, 720), (Some(8), 160, 90));
        let first = looking.plan_jpeg(&jpeg(&frame(1280, 720, None)), size, 1 << 24, 0.0, (320, 320)).expect("plan");
        assert_eq!(first.looked, Looked::Frame, "no background yet: the whole frame");
        let still = looking.plan_jpeg(&jpeg(&frame(1280, 720, None)), size, 1 << 24, 0.1, (320, 320)).expect("plan");
        assert_eq!(still.looked, Looked::None, "nothing moved: {still:?}");
        let moved = looking
            .plan_jpeg(&jpeg(&frame(1280, 720, Some((900, 500)))), size, 1 << 24, 0.2, (320, 320))
            .expect("plan");
        assert_eq!(moved.looked, Looked::Regions, "{moved:?}");
        let [x1, y1, x2, y2] = moved.rects[0];
        assert!(x1 <= 900 && y1 <= 500 && x2 >= 940 && y2 >= 540, "the region covers the square: {moved:?}");
        let refused = looking.plan_jpeg(b"\xFF\xD8 not a jpeg", size, 1 << 24, 0.3, (320, 320));
        assert!(refused.is_err(), "a JPEG that cannot be decoded is an error, not a plan");
    }

    /// A still scene planned from its JPEG alone and from the frame decoded whole in turn (as
    /// nvt-server does around a detector run) shows no motion, on real photos.
    #[test]
    fn a_still_scene_planned_from_its_jpeg_and_decoded_whole_in_turn_shows_no_motion() {
        for photo in ["dog", "giraffe", "kite"] {
            let path = format!("/usr/share/darknet/data/{photo}.jpg");
            let photo = opencv::imgcodecs::imread(&path, opencv::imgcodecs::IMREAD_COLOR).expect("photo");
            assert!(!photo.empty(), "{path}: make setup installs darknet's photos");
            let mut image = Mat::default();
            imgproc::resize(&photo, &mut image, Size::new(1280, 720), 0.0, 0.0, imgproc::INTER_LINEAR).expect("resize");
            let jpeg = nvt_capture::jpeg::encode(&image, 90).expect("jpeg");
            let decoded = nvt_capture::jpeg::decode(&jpeg, 1 << 26).expect("decode");
            let mut looking = Looking::new("door", Arc::new(LookSettings::default()));
            let first = looking.plan_jpeg(&jpeg, (1280, 720), 1 << 26, 0.0, (320, 320)).expect("plan");
            assert_eq!(first.looked, Looked::Frame, "no background yet");
            for i in 1..20 {
                let at = f64::from(i) / 10.0;
                let plan = if i % 2 == 0 {
                    looking.plan_jpeg(&jpeg, (1280, 720), 1 << 26, at, (320, 320)).expect("plan")
                } else {
                    looking.plan(&decoded, at, (320, 320))
                };
                assert_eq!((plan.looked, plan.motion), (Looked::None, 0), "{path}, frame {i}: {plan:?}");
            }
        }
    }

    #[test]
    fn found_objects_are_carried_until_due_and_regions_go_back_to_frame_pixels() {
        let settings = Arc::new(LookSettings { recheck: 5.0, ..LookSettings::default() });
        let mut looking = Looking::new("door", settings);
        let image = frame(640, 480, Some((100, 100)));
        let first = looking.plan(&image, 0.0, (320, 320));
        let found = ReplyDetection {
            class_id: 0,
            label: "red square".into(),
            score: 0.9,
            bbox: [100.0, 100.0, 140.0, 140.0],
            track_id: Some(7),
            carried: false,
            region: None,
        };
        looking.learn(&first, std::slice::from_ref(&found));
        let mut later = looking.plan(&image, 1.0, (320, 320));
        assert!(later.carried.is_empty(), "carried only when asked, just before tracking");
        looking.carry(&mut later);
        assert_eq!(later.looked, Looked::None);
        assert_eq!(later.carried, vec![ReplyDetection { carried: true, ..found.clone() }]);
        assert_eq!(later.record().carried, 1);
        let mut due = looking.plan(&image, 5.0, (320, 320));
        looking.carry(&mut due);
        assert_eq!(due.looked, Looked::Regions, "due a look after --recheck: {due:?}");
        assert!(due.carried.is_empty(), "looked at, so not carried: {due:?}");

        // Found in a region: it says which, and the carried objects join it, most confident
        // first (a region's own object comes first here, 0.95 against the carried 0.9).
        let region = [0, 0, 640, 480];
        let in_region =
            ReplyDetection { score: 0.95, bbox: [300.0, 300.0, 340.0, 340.0], track_id: None, ..found.clone() };
        let plan = FramePlan { looked: Looked::Regions, rects: vec![region], ..later.clone() };
        let mut detections = vec![in_region];
        plan.place(&mut detections);
        assert_eq!(
            detections.iter().map(|d| (d.score, d.carried, d.region)).collect::<Vec<_>>(),
            [(0.95, false, Some(region)), (0.9, true, None)]
        );

        let mut detections = vec![Detection { class_id: 0, label: "x".into(), score: 0.5, bbox: [1.0, 2.0, 3.0, 4.0] }];
        into_frame(&mut detections, [100, 200, 420, 520]);
        assert_eq!(detections[0].bbox, [101.0, 202.0, 103.0, 204.0]);
        assert!(crop(&image, [600, 400, 900, 900]).is_ok_and(|c| (c.cols(), c.rows()) == (40, 80)));
        assert!(crop(&image, [700, 0, 900, 100]).is_err(), "outside the frame");
    }
}
