//! The pictures of an object's best frame: the saved snapshot (the whole frame, its box drawn)
//! and the MQTT snapshot as Frigate sends it (`mqtt: {crop, height, quality, bounding_box,
//! timestamp}`: by default cropped to the object with a margin, 270 pixels high, JPEG quality 70,
//! box and time drawn).

use crate::object::{EventObject, Snapshot};
use nvt_capture::{draw, jpeg, Mat};
use opencv::core::{Point, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// JPEG quality of saved snapshots.
const SAVED_QUALITY: i32 = 90;

/// How the MQTT snapshot is made (Frigate's camera `mqtt` settings, with its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttPicture {
    /// Crop to the object, with a margin.
    pub crop: bool,
    /// Height in pixels, the width following; 0 keeps the size.
    pub height: u32,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// Draw the object's box, label, score and area.
    pub bounding_box: bool,
    /// Draw the frame's time (UTC).
    pub timestamp: bool,
}

impl Default for MqttPicture {
    fn default() -> Self {
        Self { crop: true, height: 270, quality: 70, bounding_box: true, timestamp: true }
    }
}

/// How much smaller than the frame the picture kept of it is: 1 for the frame itself, less
/// for a thumbnail (see [`crate::pinned`]). The snapshot's region is the whole frame.
fn scale(snapshot: &Snapshot, image: &Mat) -> f64 {
    let width = f64::from(snapshot.region[2]);
    if width > 0.0 && image.cols() > 0 {
        (f64::from(image.cols()) / width).min(1.0)
    } else {
        1.0
    }
}

/// The saved snapshot: the whole best frame with the object's box drawn, as JPEG.
pub fn saved(object: &EventObject, image: &Mat) -> Option<Vec<u8>> {
    let snapshot = object.snapshot.as_ref()?;
    let mut picture = copy(image)?;
    let label = format!("{} #{}", object.label, object.track_id);
    let bbox = snapshot.bbox.map(|v| (f64::from(v) * scale(snapshot, image)) as f32);
    if let Err(error) = draw::draw_box(&mut picture, bbox, colour(&object.label), &label, snapshot.score) {
        tracing::warn!(%error, "cannot draw a snapshot's box");
    }
    encode(&picture, SAVED_QUALITY)
}

/// The MQTT snapshot of the best frame, as `settings` say.
pub fn mqtt(object: &EventObject, image: &Mat, settings: &MqttPicture) -> Option<Vec<u8>> {
    let snapshot = object.snapshot.as_ref()?;
    let mut picture = copy(image)?;
    let scale = scale(snapshot, image);
    if settings.bounding_box {
        let label = format!("{} {}", object.label, snapshot.area);
        let bbox = snapshot.bbox.map(|v| (f64::from(v) * scale) as f32);
        if let Err(error) = draw::draw_box(&mut picture, bbox, colour(&object.label), &label, snapshot.score) {
            tracing::warn!(%error, "cannot draw an MQTT snapshot's box");
        }
    }
    if settings.crop {
        // Frigate's square in the frame's pixels, then in the picture's.
        let frame = (snapshot.region[2], snapshot.region[3]);
        let [x, y, right, bottom] = crop_region(frame, snapshot.bbox).map(|v| (f64::from(v) * scale) as i32);
        let (right, bottom) = (right.min(picture.cols()), bottom.min(picture.rows()));
        let cut = Mat::roi(&picture, Rect::new(x, y, right - x, bottom - y)).and_then(|roi| roi.try_clone());
        match cut {
            Ok(cut) => picture = cut,
            Err(error) => tracing::warn!(%error, "cannot crop an MQTT snapshot"),
        }
    }
    if settings.height > 0 && picture.rows() > 0 {
        let height = i32::try_from(settings.height).unwrap_or(i32::MAX);
        let width = ((i64::from(height) * i64::from(picture.cols())) / i64::from(picture.rows())).max(1);
        let mut resized = Mat::default();
        let size = Size::new(i32::try_from(width).unwrap_or(i32::MAX), height);
        match imgproc::resize(&picture, &mut resized, size, 0.0, 0.0, imgproc::INTER_AREA) {
            Ok(()) => picture = resized,
            Err(error) => tracing::warn!(%error, "cannot resize an MQTT snapshot"),
        }
    }
    if settings.timestamp {
        if let Err(error) = stamp_time(&mut picture, snapshot.frame_time) {
            tracing::warn!(%error, "cannot draw an MQTT snapshot's time");
        }
    }
    encode(&picture, i32::from(settings.quality.clamp(1, 100)))
}

/// The square around a box that Frigate crops to (`calculate_region` with a 300-pixel least
/// side and a 1.1 margin), within a frame of `(width, height)`: x1, y1, x2, y2.
pub fn crop_region((width, height): (i32, i32), bbox: [i32; 4]) -> [i32; 4] {
    let [x1, y1, x2, y2] = bbox;
    let longest = f64::from((x2 - x1).max(y2 - y1));
    let size = (((longest * 1.1) / 4.0).floor() as i32 * 4).max(300);
    let place = |low: i32, high: i32, limit: i32| {
        let offset = (f64::from(high - low) / 2.0 + f64::from(low) - f64::from(size) / 2.0) as i32;
        offset.clamp(0, (limit - size).max(0))
    };
    let (x, y) = (place(x1, x2, width), place(y1, y2, height));
    [x, y, (x + size).min(width), (y + size).min(height)]
}

/// The colour class of a label: stable per label.
fn colour(label: &str) -> usize {
    label.bytes().map(usize::from).sum()
}

/// A JPEG made smaller than `max_bytes` (shrunk and encoded again at MQTT's default quality),
/// for a broker that refuses one so large; `None` when even a small one would not fit. At most
/// [`MAX_SHRINK_PIXELS`] pixels are decoded.
pub fn shrink(jpeg_bytes: &[u8], max_bytes: usize) -> Option<Vec<u8>> {
    let image = jpeg::decode(jpeg_bytes, MAX_SHRINK_PIXELS).ok()?;
    let mut scale = ((max_bytes as f64) / (jpeg_bytes.len().max(1) as f64)).sqrt().min(1.0) * 0.9;
    for _ in 0..8 {
        let (small, _) = jpeg::encode_scaled(&image, i32::from(MqttPicture::default().quality), scale).ok()?;
        if small.len() <= max_bytes {
            return Some(small);
        }
        scale *= 0.7;
        if (f64::from(image.cols().max(image.rows())) * scale) < 16.0 {
            return None;
        }
    }
    None
}

/// Most pixels of a snapshot [`shrink`] decodes (an MQTT snapshot is at most 4096 pixels high).
pub const MAX_SHRINK_PIXELS: u64 = 64 << 20;

fn copy(image: &Mat) -> Option<Mat> {
    if image.empty() {
        return None;
    }
    image.try_clone().map_err(|error| tracing::warn!(%error, "cannot copy a snapshot")).ok()
}

fn encode(picture: &Mat, quality: i32) -> Option<Vec<u8>> {
    jpeg::encode(picture, quality).map_err(|error| tracing::warn!(%error, "cannot encode a snapshot")).ok()
}

/// Draws `YYYY-MM-DD HH:MM:SS` (UTC) in the top left corner, white on a dark tab.
fn stamp_time(picture: &mut Mat, unix: f64) -> opencv::Result<()> {
    let text = utc(unix);
    let mut baseline = 0;
    let size = imgproc::get_text_size(&text, imgproc::FONT_HERSHEY_SIMPLEX, 0.5, 1, &mut baseline)?;
    let tab = Rect::new(0, 0, size.width + 8, size.height + 8);
    imgproc::rectangle(picture, tab, Scalar::all(0.0), -1, imgproc::LINE_8, 0)?;
    let white = Scalar::all(255.0);
    let origin = Point::new(4, size.height + 4);
    imgproc::put_text(picture, &text, origin, imgproc::FONT_HERSHEY_SIMPLEX, 0.5, white, 1, imgproc::LINE_AA, false)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC; the proleptic Gregorian calendar).
pub fn utc(unix: f64) -> String {
    let secs = if unix.is_finite() { unix.floor() as i64 } else { 0 };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_too_large_for_the_broker_is_shrunk_below_the_bound() {
        let mut noisy = Mat::new_rows_cols_with_default(540, 720, opencv::core::CV_8UC3, 0.into()).expect("mat");
        opencv::core::randu(&mut noisy, &Scalar::all(0.0), &Scalar::all(255.0)).expect("noise");
        let big = jpeg::encode(&noisy, 70).expect("jpeg");
        assert!(big.len() > 100_000, "{}", big.len());
        let small = shrink(&big, 20_000).expect("shrunk");
        assert!(small.len() <= 20_000 && small.len() > 2_000, "{}", small.len());
        assert!(jpeg::decode(&small, 1 << 20).is_ok());
        assert!(shrink(&big, 10).is_none(), "nothing fits in 10 bytes");
        assert!(shrink(b"not a jpeg", 1000).is_none());
    }

    #[test]
    fn the_crop_is_frigates_square_around_the_box_within_the_frame() {
        // A small box: the 300-pixel least size, centred on it.
        assert_eq!(crop_region((640, 480), [300, 200, 340, 240]), [170, 70, 470, 370]);
        // Near a corner: moved inside the frame.
        assert_eq!(crop_region((640, 480), [0, 0, 40, 40]), [0, 0, 300, 300]);
        // A large box: 1.1 times its longest side, a multiple of 4.
        assert_eq!(crop_region((1920, 1080), [100, 100, 600, 400]), [76, 0, 624, 548]);
        // Larger than the frame: the whole frame.
        assert_eq!(crop_region((640, 480), [0, 0, 639, 479]), [0, 0, 640, 480]);
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_709_210_096.9), "2024-02-29 12:34:56");
    }
}
