//! JPEG encode and decode through OpenCV, as the original project did, with a pixel limit that is
//! checked from the image header before OpenCV allocates anything.

use crate::error::CaptureError;
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

/// Default JPEG quality: 100, as the original client used.
pub const DEFAULT_QUALITY: i32 = 100;

/// Default limit on decoded pixels: a 4K UHD frame and then some (16.7 MP).
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// Encodes a BGR image as baseline JPEG at `quality` (1-100).
pub fn encode(image: &Mat, quality: i32) -> Result<Vec<u8>, CaptureError> {
    if !(1..=100).contains(&quality) {
        return Err(CaptureError::InvalidQuality(quality));
    }
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    imgcodecs::imencode(".jpg", image, &mut buf, &params)?;
    Ok(buf.to_vec())
}

/// Encodes a BGR image with its sides scaled by `scale` (at most 1) at `quality`: the JPEG and the
/// size it holds. A pixel stamp (see [`crate::stamp::Stamp`]) is written again at the new size, so that
/// a frame's capture time can still be read from it.
pub fn encode_scaled(image: &Mat, quality: i32, scale: f64) -> Result<(Vec<u8>, (u32, u32)), CaptureError> {
    let (cols, rows) = (image.cols(), image.rows());
    if !(scale > 0.0 && scale < 1.0) {
        return Ok((encode(image, quality)?, (cols.max(0) as u32, rows.max(0) as u32)));
    }
    let size = opencv::core::Size::new(
        ((f64::from(cols) * scale).round() as i32).max(1),
        ((f64::from(rows) * scale).round() as i32).max(1),
    );
    let mut small = Mat::default();
    opencv::imgproc::resize(image, &mut small, size, 0.0, 0.0, opencv::imgproc::INTER_AREA)?;
    if let Some(stamp) = crate::stamp::Stamp::read(image) {
        // A frame too small for its stamp simply goes without.
        let _ = stamp.write(&mut small);
    }
    Ok((encode(&small, quality)?, (size.width as u32, size.height as u32)))
}

/// The same JPEG with a comment segment after its start marker carrying `text` (at most 200
/// bytes): another file for the same picture. Decoders skip comments.
pub fn with_comment(jpeg: &[u8], text: &[u8]) -> Vec<u8> {
    let text = &text[..text.len().min(200)];
    let Some(rest) = jpeg.strip_prefix(&[0xFF, 0xD8]) else { return jpeg.to_vec() };
    let mut out = Vec::with_capacity(jpeg.len() + text.len() + 4);
    out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFE]);
    out.extend_from_slice(&((text.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(text);
    out.extend_from_slice(rest);
    out
}

/// Decodes a JPEG or PNG to 8-bit BGR, refusing images whose header declares more than
/// `max_pixels` pixels before any pixel memory is allocated.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Mat, CaptureError> {
    check_header(bytes, max_pixels)?;
    let buf = Mat::from_slice(bytes)?;
    let image = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR)?;
    if image.empty() {
        return Err(CaptureError::Corrupt);
    }
    Ok(image)
}

/// Decodes a JPEG or PNG to 8-bit grey, shrunk by `reduction` (1, 2, 4 or 8; a JPEG's decoder
/// shrinks as it decodes, for a fraction of a whole decode's work), with the checks of
/// [`decode`].
pub fn decode_grey(bytes: &[u8], max_pixels: u64, reduction: u32) -> Result<Mat, CaptureError> {
    check_header(bytes, max_pixels)?;
    let flag = match reduction {
        8 => imgcodecs::IMREAD_REDUCED_GRAYSCALE_8,
        4 => imgcodecs::IMREAD_REDUCED_GRAYSCALE_4,
        2 => imgcodecs::IMREAD_REDUCED_GRAYSCALE_2,
        _ => imgcodecs::IMREAD_GRAYSCALE,
    };
    let image = imgcodecs::imdecode(&Mat::from_slice(bytes)?, flag)?;
    if image.empty() {
        return Err(CaptureError::Corrupt);
    }
    Ok(image)
}

/// Checks an image's header without decoding it: a JPEG or PNG of at least one and at most
/// `max_pixels` pixels. Returns its width and height.
pub fn check_header(bytes: &[u8], max_pixels: u64) -> Result<(u32, u32), CaptureError> {
    let (width, height) = dimensions(bytes)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(CaptureError::TooManyPixels { width, height, limit: max_pixels });
    }
    if pixels == 0 {
        return Err(CaptureError::Corrupt);
    }
    if bytes.starts_with(&[0xFF, 0xD8]) && scans(bytes) > MAX_SCANS {
        return Err(CaptureError::UnsupportedFormat("JPEG with more scans than a camera writes"));
    }
    Ok((width, height))
}

/// The most scans a JPEG may have. A camera's baseline JPEG has one and a progressive one about
/// ten; a hostile one can have thousands of tiny scans, each of which costs a pass over the whole
/// image, and so take minutes to decode from a few hundred kilobytes.
pub const MAX_SCANS: usize = 32;

/// Counts start-of-scan markers. Inside entropy-coded data a 0xFF byte is always followed by a
/// stuffed 0x00 or a restart marker, so every 0xFF 0xDA is a real scan. The pair is found with
/// `memchr`'s vectorised search for both bytes at once (noisy entropy data has a 0xFF every few
/// hundred bytes): every frame a server takes is counted, more than once.
fn scans(bytes: &[u8]) -> usize {
    memchr::memmem::find_iter(bytes, &[0xFF, 0xDA]).count()
}

/// Reads an image's width and height from its JPEG or PNG header without decoding it.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), CaptureError> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_dimensions(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_dimensions(bytes)
    } else {
        Err(CaptureError::UnsupportedFormat("unknown signature"))
    }
}

/// Walks the JPEG marker segments up to the first start-of-frame marker.
fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32), CaptureError> {
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(CaptureError::UnsupportedFormat("JPEG without a frame header"));
        };
        at += 2;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Err(CaptureError::UnsupportedFormat("JPEG without a frame header")),
            _ => {}
        }
        let len = read_u16(bytes, at).ok_or(CaptureError::UnsupportedFormat("truncated JPEG header"))?;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let height = read_u16(bytes, at + 3);
            let width = read_u16(bytes, at + 5);
            return match (width, height) {
                (Some(w), Some(h)) => Ok((u32::from(w), u32::from(h))),
                _ => Err(CaptureError::UnsupportedFormat("truncated JPEG frame header")),
            };
        }
        if len < 2 {
            return Err(CaptureError::UnsupportedFormat("malformed JPEG segment"));
        }
        at += usize::from(len);
    }
}

fn png_dimensions(bytes: &[u8]) -> Result<(u32, u32), CaptureError> {
    let field = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match (&bytes.get(12..16), field(16), field(20)) {
        (Some(b"IHDR"), Some(w), Some(h)) => Ok((w, h)),
        _ => Err(CaptureError::UnsupportedFormat("PNG without an IHDR header")),
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC3};

    fn grey(width: i32, height: i32) -> Mat {
        Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(128.0)).expect("mat")
    }

    #[test]
    fn round_trip_keeps_size_and_content() {
        let jpeg = encode(&grey(320, 240), 90).expect("encode");
        assert_eq!(dimensions(&jpeg).expect("header"), (320, 240));
        let back = decode(&jpeg, DEFAULT_MAX_PIXELS).expect("decode");
        assert_eq!((back.cols(), back.rows(), back.channels()), (320, 240, 3));
        let px = back.at_2d::<opencv::core::Vec3b>(100, 100).expect("pixel");
        assert!(px.0.iter().all(|&c| c.abs_diff(128) <= 2), "{px:?}");
    }

    #[test]
    fn a_scaled_frame_keeps_its_stamp_and_a_comment_changes_only_the_bytes() {
        let scene = crate::synthetic::Synthetic::new(640, 480).expect("scene");
        let frame = scene.render(42, std::time::SystemTime::now()).expect("render");
        let stamp = crate::stamp::Stamp::read(&frame.image).expect("the scene is stamped");
        let (jpeg, size) = encode_scaled(&frame.image, 70, 0.5).expect("encode");
        assert_eq!(size, (320, 240));
        assert_eq!(dimensions(&jpeg).expect("header"), (320, 240));
        let back = decode(&jpeg, DEFAULT_MAX_PIXELS).expect("decode");
        assert_eq!(crate::stamp::Stamp::read(&back), Some(stamp), "the stamp, written again at the new size");
        let (full, size) = encode_scaled(&frame.image, 70, 1.0).expect("encode");
        assert_eq!((full, size), (encode(&frame.image, 70).expect("encode"), (640, 480)), "scale 1 is plain encode");

        let marked = with_comment(&jpeg, b"nvt frame 42");
        assert_ne!(marked, jpeg);
        assert_eq!(marked.len(), jpeg.len() + 4 + 12);
        assert_eq!(check_header(&marked, DEFAULT_MAX_PIXELS).expect("header"), (320, 240));
        let again = decode(&marked, DEFAULT_MAX_PIXELS).expect("decode");
        assert_eq!(again.data_bytes().expect("pixels"), back.data_bytes().expect("pixels"), "the same picture");
    }

    #[test]
    fn quality_out_of_range_is_refused() {
        assert!(matches!(encode(&grey(8, 8), 0), Err(CaptureError::InvalidQuality(0))));
        assert!(matches!(encode(&grey(8, 8), 101), Err(CaptureError::InvalidQuality(101))));
    }

    #[test]
    fn a_progressive_jpeg_passes_and_a_scan_bomb_is_refused_before_decoding() {
        let image = grey(64, 48);
        let mut progressive = Vector::<u8>::new();
        let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1]);
        imgcodecs::imencode(".jpg", &image, &mut progressive, &params).expect("progressive");
        let progressive = progressive.to_vec();
        assert!(scans(&progressive) > 1 && scans(&progressive) <= MAX_SCANS, "{}", scans(&progressive));
        assert_eq!(check_header(&progressive, DEFAULT_MAX_PIXELS).expect("a camera's progressive JPEG"), (64, 48));
        // Thousands of tiny scans: each would cost a pass over the whole image.
        let mut bomb = progressive[..progressive.len() - 2].to_vec();
        for _ in 0..MAX_SCANS {
            bomb.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        }
        bomb.extend_from_slice(&[0xFF, 0xD9]);
        let error = decode(&bomb, DEFAULT_MAX_PIXELS).expect_err("refused");
        assert!(error.to_string().contains("more scans"), "{error}");
    }

    #[test]
    fn huge_declared_size_is_refused_before_decoding() {
        // A real JPEG whose SOF0 header is patched to claim 65000x65000.
        let mut jpeg = encode(&grey(16, 16), 90).expect("encode");
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
        jpeg[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes());
        match decode(&jpeg, DEFAULT_MAX_PIXELS) {
            Err(CaptureError::TooManyPixels { width: 65000, height: 65000, .. }) => {}
            other => panic!("expected TooManyPixels, got {:?}", other.map(|m| m.cols())),
        }
    }

    #[test]
    fn non_images_and_truncations_are_refused() {
        for bad in [&b""[..], b"hello world", b"\xFF\xD8", b"\xFF\xD8\xFF\xE0\x00", b"\x89PNG\r\n\x1a\n"] {
            assert!(decode(bad, DEFAULT_MAX_PIXELS).is_err(), "{bad:?}");
        }
        // A valid header with its data cut short: refused, or decoded (libjpeg pads what is
        // missing) at the size the header declares, never a panic or another size.
        let jpeg = encode(&grey(64, 64), 90).expect("encode");
        for cut in [jpeg.len() / 3, jpeg.len() - 2] {
            if let Ok(image) = decode(&jpeg[..cut], DEFAULT_MAX_PIXELS) {
                assert_eq!((image.cols(), image.rows(), image.channels()), (64, 64, 3), "cut at {cut}");
            }
        }
    }

    #[test]
    fn png_header_is_read() {
        let mut buf = Vector::<u8>::new();
        imgcodecs::imencode(".png", &grey(33, 17), &mut buf, &Vector::new()).expect("png");
        assert_eq!(dimensions(&buf.to_vec()).expect("header"), (33, 17));
    }
}

#[cfg(test)]
mod concurrency {
    use super::*;
    use crate::synthetic::Synthetic;
    use std::time::SystemTime;

    /// A server decodes on one thread per client while another thread encodes for the web view:
    /// OpenCV's codecs must take that.
    #[test]
    fn encoding_and_decoding_on_many_threads_at_once() {
        let scene = Synthetic::new(640, 480).expect("scene");
        let jpeg = encode(&scene.render(1, SystemTime::now()).expect("frame").image, 90).expect("encode");
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let jpeg = jpeg.clone();
                std::thread::spawn(move || {
                    let scene = Synthetic::new(320, 240).expect("scene");
                    for i in 0..150 {
                        if t % 2 == 0 {
                            let image = scene.render(i, SystemTime::now()).expect("frame").image;
                            assert!(!encode(&image, 80).expect("encode").is_empty());
                        } else {
                            assert_eq!(decode(&jpeg, DEFAULT_MAX_PIXELS).expect("decode").cols(), 640);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread failed");
        }
    }
}
