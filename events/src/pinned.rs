//! The pictures each camera's objects keep for their snapshots, bounded in bytes.
//!
//! An object keeps its best frame until its next event saves and publishes it (up to 5 s, or
//! until it ends), and a camera may have [`crate::book::MAX_OBJECTS_PER_CAMERA`] objects whose
//! best frames are all different: at a large frame size that would be gigabytes. So each camera
//! keeps at most [`MAX_BYTES_PER_CAMERA`] of pictures: a frame that would pass it is kept as a
//! thumbnail (at most [`THUMBNAIL_SIDE`] pixels on its longer side), and when even that does
//! not fit, not at all (the objects keep the best frames they have). Objects of one frame share
//! one picture, counted once.

use nvt_capture::Mat;
use opencv::core::Size;
use opencv::imgproc;
use opencv::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Most bytes of pictures one camera's objects keep.
pub const MAX_BYTES_PER_CAMERA: usize = 64 << 20;

/// The longer side of a thumbnail kept instead of a frame past the bound.
pub const THUMBNAIL_SIDE: i32 = 640;

/// The pictures kept, per camera: each a weak reference (the objects hold the picture itself)
/// and its bytes.
#[derive(Default)]
pub struct Pinned {
    cameras: HashMap<String, Vec<(Weak<Mat>, usize)>>,
}

impl Pinned {
    /// The picture `camera`'s objects may keep of `image`: the frame itself while the camera's
    /// pictures stay within the bound, else a thumbnail, else nothing.
    pub fn keep(&mut self, camera: &str, image: &Arc<Mat>) -> Option<Arc<Mat>> {
        let kept = self.cameras.entry(camera.to_owned()).or_default();
        kept.retain(|(picture, _)| picture.strong_count() > 0);
        if kept.iter().any(|(picture, _)| std::ptr::eq(picture.as_ptr(), Arc::as_ptr(image))) {
            return Some(Arc::clone(image));
        }
        let used: usize = kept.iter().map(|(_, bytes)| bytes).sum();
        let fits = |picture: &Mat| used + bytes(picture) <= MAX_BYTES_PER_CAMERA;
        let picture = if fits(image) { Arc::clone(image) } else { Arc::new(thumbnail(image).filter(|t| fits(t))?) };
        kept.push((Arc::downgrade(&picture), bytes(&picture)));
        Some(picture)
    }

    /// Bytes `camera`'s objects keep now.
    pub fn bytes(&mut self, camera: &str) -> usize {
        let Some(kept) = self.cameras.get_mut(camera) else { return 0 };
        kept.retain(|(picture, _)| picture.strong_count() > 0);
        kept.iter().map(|(_, bytes)| bytes).sum()
    }

    /// Forgets a camera that left (its objects have ended and let their pictures go).
    pub fn forget(&mut self, camera: &str) {
        self.cameras.remove(camera);
    }
}

fn bytes(picture: &Mat) -> usize {
    picture.total() * picture.elem_size().unwrap_or(3)
}

/// `image` shrunk to at most [`THUMBNAIL_SIDE`] pixels on its longer side.
fn thumbnail(image: &Mat) -> Option<Mat> {
    let (width, height) = (image.cols(), image.rows());
    let longer = width.max(height);
    if longer <= 0 {
        return None;
    }
    let scale = f64::from(THUMBNAIL_SIDE.min(longer)) / f64::from(longer);
    let size = Size::new(((f64::from(width) * scale) as i32).max(1), ((f64::from(height) * scale) as i32).max(1));
    let mut small = Mat::default();
    match imgproc::resize(image, &mut small, size, 0.0, 0.0, imgproc::INTER_AREA) {
        Ok(()) => Some(small),
        Err(error) => {
            tracing::warn!(%error, "cannot shrink a frame for a snapshot");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(side: i32) -> Arc<Mat> {
        Arc::new(Mat::new_rows_cols_with_default(side, side, opencv::core::CV_8UC3, 0.into()).expect("mat"))
    }

    #[test]
    fn a_camera_keeps_frames_within_its_bound_then_thumbnails_then_nothing() {
        let mut pinned = Pinned::default();
        let big = 2048;
        let per_frame = (big * big * 3) as usize;
        let mut held = Vec::new();
        // Frames while they fit: 5 of 12 MiB in 64 MiB.
        for _ in 0..MAX_BYTES_PER_CAMERA / per_frame {
            let image = frame(big);
            let kept = pinned.keep("door", &image).expect("kept");
            assert!(Arc::ptr_eq(&kept, &image), "the frame itself");
            held.push(kept);
        }
        // The same frame again costs nothing.
        let again = pinned.keep("door", &held[0]).expect("kept");
        assert!(Arc::ptr_eq(&again, &held[0]));
        drop(again);
        // Past the bound: thumbnails, 640 pixels on the longer side.
        let image = frame(big);
        let thumb = pinned.keep("door", &image).expect("a thumbnail");
        assert_eq!((thumb.cols(), thumb.rows()), (640, 640));
        held.push(thumb);
        while let Some(kept) = pinned.keep("door", &frame(big)) {
            held.push(kept);
            assert!(held.len() < 1000);
        }
        assert!(pinned.bytes("door") <= MAX_BYTES_PER_CAMERA, "{}", pinned.bytes("door"));
        assert_eq!(pinned.bytes("yard"), 0, "the bound is per camera");
        assert!(pinned.keep("yard", &frame(big)).is_some_and(|k| k.cols() == big));
        // Pictures the objects let go no longer count.
        held.clear();
        assert_eq!(pinned.bytes("door"), 0);
        assert!(pinned.keep("door", &frame(big)).is_some_and(|k| k.cols() == big));
    }
}
