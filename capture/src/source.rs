//! Frame sources behind one interface: a camera index, a video or image file, a URL, or the
//! built-in synthetic scene.

use crate::error::CaptureError;
use crate::frame::{Frame, FrameSource};
use crate::synthetic::{Scene, Synthetic, DEFAULT_SIZE};
use opencv::core::{Mat, Size};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc, videoio};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

/// What `--source` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A camera by index (`0`, `1`, ...).
    Camera(i32),
    /// The built-in moving test scene (`synthetic`).
    Synthetic,
    /// The built-in test scene of a mostly empty hall that objects visit (`synthetic:visits`).
    Visits,
    /// A URL that OpenCV opens (RTSP, HTTP, ...).
    Url(String),
    /// A video or image file.
    File(PathBuf),
}

impl FromStr for SourceSpec {
    type Err = CaptureError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CaptureError::Open { spec: String::new(), reason: "empty source".into() });
        }
        if text.eq_ignore_ascii_case("synthetic") {
            Ok(Self::Synthetic)
        } else if text.eq_ignore_ascii_case("synthetic:visits") {
            Ok(Self::Visits)
        } else if let Ok(index) = text.parse::<i32>() {
            Ok(Self::Camera(index))
        } else if text.contains("://") {
            Ok(Self::Url(text.to_owned()))
        } else {
            Ok(Self::File(PathBuf::from(text)))
        }
    }
}

/// Parses a size written `WxH` (for example `640x480`).
pub fn parse_size(text: &str) -> Result<(u32, u32), CaptureError> {
    let invalid = || CaptureError::InvalidSize(text.to_owned());
    let (w, h) = text.trim().split_once(['x', 'X']).ok_or_else(invalid)?;
    let (w, h) = (w.parse::<u32>().map_err(|_| invalid())?, h.parse::<u32>().map_err(|_| invalid())?);
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        return Err(invalid());
    }
    Ok((w, h))
}

/// Opens a source; frames come out resized to `size` when one is given.
pub fn open(spec: &SourceSpec, size: Option<(u32, u32)>) -> Result<Box<dyn FrameSource>, CaptureError> {
    let source: Box<dyn FrameSource> = match spec {
        SourceSpec::Synthetic => {
            let (w, h) = size.unwrap_or(DEFAULT_SIZE);
            return Ok(Box::new(Synthetic::new(w, h)?));
        }
        SourceSpec::Visits => {
            let (w, h) = size.unwrap_or(DEFAULT_SIZE);
            return Ok(Box::new(Synthetic::new(w, h)?.with_scene(Scene::Visits)));
        }
        SourceSpec::Camera(index) => Box::new(Video::camera(*index)?),
        SourceSpec::Url(url) => Box::new(Video::open(url, true)?),
        SourceSpec::File(path) if is_image_file(path) => Box::new(Still::open(path)?),
        SourceSpec::File(path) => {
            if !path.exists() {
                return Err(CaptureError::NoSuchFile(path.clone()));
            }
            Box::new(Video::open(&path.to_string_lossy(), false)?)
        }
    };
    Ok(match size {
        Some(size) => Box::new(Resized { inner: source, size }),
        None => source,
    })
}

/// File names that are opened as still images rather than videos.
pub fn is_image_file(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "bmp" | "webp" | "tif" | "tiff")
}

/// A camera, video file or stream read through OpenCV's `VideoCapture`.
struct Video {
    capture: videoio::VideoCapture,
    live: bool,
    next_index: u64,
}

impl Video {
    fn camera(index: i32) -> Result<Self, CaptureError> {
        let capture = videoio::VideoCapture::new(index, videoio::CAP_ANY)?;
        Self::checked(capture, &index.to_string(), true)
    }

    fn open(name: &str, live: bool) -> Result<Self, CaptureError> {
        // A stream may need any backend (GStreamer for some); a file is FFmpeg's.
        let capture = if live {
            videoio::VideoCapture::from_file(name, videoio::CAP_ANY)?
        } else {
            crate::media::open_video_file(name)?
        };
        Self::checked(capture, name, live)
    }

    fn checked(capture: videoio::VideoCapture, spec: &str, live: bool) -> Result<Self, CaptureError> {
        if !capture.is_opened()? {
            let reason = if live {
                "OpenCV could not open it (no such device, unsupported format or unreachable)"
            } else {
                "neither a video nor an image OpenCV can open"
            };
            return Err(CaptureError::Open { spec: spec.to_owned(), reason: reason.into() });
        }
        Ok(Self { capture, live, next_index: 0 })
    }
}

impl FrameSource for Video {
    fn read(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut image = Mat::default();
        if !self.capture.read(&mut image)? || image.empty() {
            if self.live {
                let reason = "the device or stream stopped delivering frames".into();
                return Err(CaptureError::Open { spec: "video source".into(), reason });
            }
            return Ok(None);
        }
        let frame = Frame { image, index: self.next_index, captured: SystemTime::now(), truth: Vec::new() };
        self.next_index += 1;
        Ok(Some(frame))
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn nominal_fps(&self) -> Option<f64> {
        let fps = self.capture.get(videoio::CAP_PROP_FPS).unwrap_or(0.0);
        (fps.is_finite() && fps > 0.0 && fps < 1000.0).then_some(fps)
    }
}

/// An image file, delivered again and again as a still scene.
struct Still {
    image: Mat,
    next_index: u64,
}

impl Still {
    fn open(path: &Path) -> Result<Self, CaptureError> {
        if !path.exists() {
            return Err(CaptureError::NoSuchFile(path.to_owned()));
        }
        let image = imgcodecs::imread(path, imgcodecs::IMREAD_COLOR)?;
        if image.empty() {
            let reason = "OpenCV could not read it as an image".into();
            return Err(CaptureError::Open { spec: path.display().to_string(), reason });
        }
        Ok(Self { image, next_index: 0 })
    }
}

impl FrameSource for Still {
    fn read(&mut self) -> Result<Option<Frame>, CaptureError> {
        let image = self.image.try_clone()?;
        let frame = Frame { image, index: self.next_index, captured: SystemTime::now(), truth: Vec::new() };
        self.next_index += 1;
        Ok(Some(frame))
    }

    fn is_live(&self) -> bool {
        false
    }

    fn nominal_fps(&self) -> Option<f64> {
        None
    }
}

/// Resizes every frame of another source.
struct Resized {
    inner: Box<dyn FrameSource>,
    size: (u32, u32),
}

impl FrameSource for Resized {
    fn read(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Some(mut frame) = self.inner.read()? else { return Ok(None) };
        let size = Size::new(self.size.0 as i32, self.size.1 as i32);
        if frame.image.size()? != size {
            let mut resized = Mat::default();
            imgproc::resize(&frame.image, &mut resized, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            frame.image = resized;
        }
        Ok(Some(frame))
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn nominal_fps(&self) -> Option<f64> {
        self.inner.nominal_fps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_users_write_them() {
        assert_eq!("0".parse::<SourceSpec>().ok(), Some(SourceSpec::Camera(0)));
        assert_eq!("Synthetic".parse::<SourceSpec>().ok(), Some(SourceSpec::Synthetic));
        assert_eq!("synthetic:visits".parse::<SourceSpec>().ok(), Some(SourceSpec::Visits));
        assert_eq!("rtsp://cam/stream".parse::<SourceSpec>().ok(), Some(SourceSpec::Url("rtsp://cam/stream".into())));
        assert_eq!("clip.mp4".parse::<SourceSpec>().ok(), Some(SourceSpec::File("clip.mp4".into())));
        assert!("".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn sizes_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_size("640x480").ok(), Some((640, 480)));
        assert_eq!(parse_size("320X240").ok(), Some((320, 240)));
        for bad in ["640", "x480", "0x0", "640x-1", "99999x10", "axb"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_file_gives_a_clear_error() {
        let err = open(&SourceSpec::File("/nonexistent/clip.mp4".into()), None).err().expect("error");
        assert!(err.to_string().contains("/nonexistent/clip.mp4"), "{err}");
    }

    #[test]
    fn synthetic_source_honours_size() {
        let mut source = open(&SourceSpec::Synthetic, Some((320, 240))).expect("open");
        let frame = source.read().expect("read").expect("frame");
        assert_eq!((frame.image.cols(), frame.image.rows()), (320, 240));
        assert_eq!(frame.truth.len(), 3);
    }

    #[test]
    fn still_image_repeats_and_resizes() {
        let dir = std::env::temp_dir().join(format!("nvt-still-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("still.png");
        let scene = Synthetic::new(200, 100).expect("scene");
        let frame = scene.render(0, SystemTime::now()).expect("render");
        imgcodecs::imwrite(path.to_str().expect("utf8"), &frame.image, &opencv::core::Vector::new()).expect("write");
        let mut source = open(&SourceSpec::File(path), Some((100, 50))).expect("open");
        for expected in 0..3 {
            let frame = source.read().expect("read").expect("frame");
            assert_eq!((frame.index, frame.image.cols(), frame.image.rows()), (expected, 100, 50));
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
