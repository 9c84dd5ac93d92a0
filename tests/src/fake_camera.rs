//! A file for Chromium's fake camera (`--use-file-for-fake-video-capture`): the synthetic scene
//! as Motion JPEG, a JPEG per frame one after another, which Chromium plays at 30 frames a
//! second, from the start again at the end; and the same scene as a video file.

use nvt_capture::synthetic::Synthetic;
use std::io::Write;
use std::path::Path;

/// Writes frames `0..frames` of the synthetic scene at `width` x `height` to `path`.
pub fn write_scene(path: &Path, (width, height): (u32, u32), frames: u64) -> anyhow::Result<()> {
    let scene = Synthetic::new(width, height)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for index in 0..frames {
        let frame = scene.render(index, std::time::SystemTime::now())?;
        out.write_all(&nvt_capture::jpeg::encode(&frame.image, 85)?)?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `frames` frames of the synthetic scene at 640x480 as a 10 fps Motion-JPEG video
/// (an AVI OpenCV writes), for the programs that read video files.
pub fn write_scene_video(path: &Path, frames: u64) {
    write_video(path, &Synthetic::new(640, 480).expect("scene"), frames, 10.0, 0.0);
}

/// Writes frames `0..frames` of `scene` as a Motion-JPEG video (an AVI OpenCV writes) at `fps`,
/// with grey sensor noise of standard deviation `noise` added to each frame (0: none).
pub fn write_video(path: &Path, scene: &Synthetic, frames: u64, fps: f64, noise: f64) {
    use opencv::core::{Mat, Scalar, Size, CV_16SC3};
    use opencv::prelude::*;
    use opencv::videoio;
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let first = scene.render(0, std::time::SystemTime::now()).expect("frame").image;
    let size = Size::new(first.cols(), first.rows());
    let mut writer = videoio::VideoWriter::new(path.to_str().expect("utf8"), fourcc, fps, size, true).expect("writer");
    for i in 0..frames {
        let mut image = scene.render(i, std::time::SystemTime::now()).expect("frame").image;
        if noise > 0.0 {
            let mut grain = Mat::new_size_with_default(size, CV_16SC3, Scalar::all(0.0)).expect("noise");
            opencv::core::randn(&mut grain, &Scalar::all(0.0), &Scalar::all(noise)).expect("randn");
            let mut noisy = Mat::default();
            opencv::core::add(&image, &grain, &mut noisy, &opencv::core::no_array(), opencv::core::CV_8UC3)
                .expect("add");
            image = noisy;
        }
        writer.write(&image).expect("write");
    }
    writer.release().expect("release");
}
