//! Image and video files for offline work (`nvt-detect`): reading a still of any format OpenCV
//! reads, reading a video's frames with its rate and length, and writing annotated copies.

use crate::error::CaptureError;
use crate::jpeg;
use opencv::core::{Mat, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, videoio};
use std::path::Path;

/// The largest image file read.
const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// Reads an image file: a JPEG or PNG is checked against `max_pixels` from its header before it
/// is decoded; other formats OpenCV knows are decoded as they are.
pub fn read_image(path: &Path, max_pixels: u64) -> Result<Mat, CaptureError> {
    let bytes = nvt_support::files::read_regular(path, MAX_IMAGE_BYTES)
        .map_err(|e| CaptureError::Open { spec: path.display().to_string(), reason: e.to_string() })?;
    let image = match jpeg::dimensions(&bytes) {
        Ok(_) => jpeg::decode(&bytes, max_pixels)?,
        Err(_) => imgcodecs::imdecode(&Mat::from_slice(&bytes)?, imgcodecs::IMREAD_COLOR)?,
    };
    if image.empty() {
        return Err(CaptureError::Corrupt);
    }
    Ok(image)
}

/// Writes an image file, in the format its extension names.
pub fn write_image(path: &Path, image: &Mat) -> Result<(), CaptureError> {
    imgcodecs::imwrite(path, image, &Vector::new())?;
    Ok(())
}

/// A video file's frames, in order.
pub struct VideoReader {
    capture: videoio::VideoCapture,
    /// Frames per second, as the file says (30 when it says nothing sensible).
    pub fps: f64,
    /// How many frames the file says it has, when it says.
    pub frames: Option<u64>,
}

impl VideoReader {
    /// Opens a video file.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        if !path.is_file() {
            return Err(CaptureError::NoSuchFile(path.into()));
        }
        let capture = open_video_file(&path.to_string_lossy())?;
        if !capture.is_opened()? {
            return Err(CaptureError::Open {
                spec: path.display().to_string(),
                reason: "neither an image nor a video OpenCV can open".into(),
            });
        }
        let fps = capture.get(videoio::CAP_PROP_FPS).ok().filter(|f| *f > 0.0 && *f < 1000.0).unwrap_or(30.0);
        let frames =
            capture.get(videoio::CAP_PROP_FRAME_COUNT).ok().filter(|n| *n >= 1.0 && *n < 1e9).map(|n| n as u64);
        Ok(Self { capture, fps, frames })
    }

    /// The next frame, or `None` at the end.
    pub fn read(&mut self) -> Option<Mat> {
        let mut image = Mat::default();
        (self.capture.read(&mut image).unwrap_or(false) && !image.empty()).then_some(image)
    }
}

/// Opens a video file with FFmpeg alone, when OpenCV has it: after FFmpeg, `CAP_ANY` would try
/// GStreamer, image sequences and OpenCV's own MJPEG reader in turn, and each says on standard
/// error why a file that is no video is none of theirs either. Without FFmpeg, every backend.
pub fn open_video_file(name: &str) -> Result<videoio::VideoCapture, CaptureError> {
    let api = if videoio::has_backend(videoio::VideoCaptureAPIs::CAP_FFMPEG).unwrap_or(false) {
        videoio::CAP_FFMPEG
    } else {
        videoio::CAP_ANY
    };
    Ok(videoio::VideoCapture::from_file(name, api)?)
}

/// A Motion-JPEG `.avi` written frame by frame, sized by its first frame.
pub struct VideoWriter {
    writer: videoio::VideoWriter,
}

impl VideoWriter {
    /// Creates `path` for frames of `size` (width, height) at `fps`.
    pub fn create(path: &Path, fps: f64, size: (i32, i32)) -> Result<Self, CaptureError> {
        let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G')?;
        let writer = videoio::VideoWriter::new(path, fourcc, fps, Size::new(size.0, size.1), true)?;
        Ok(Self { writer })
    }

    /// Appends a frame.
    pub fn write(&mut self, image: &Mat) -> Result<(), CaptureError> {
        self.writer.write(image)?;
        Ok(())
    }
}
