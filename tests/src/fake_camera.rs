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
    use opencv::core::Size;
    use opencv::prelude::*;
    use opencv::videoio;
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = videoio::VideoWriter::new(path.to_str().expect("utf8"), fourcc, 10.0, Size::new(640, 480), true)
        .expect("writer");
    let scene = Synthetic::new(640, 480).expect("scene");
    for i in 0..frames {
        writer.write(&scene.render(i, std::time::SystemTime::now()).expect("frame").image).expect("write");
    }
    writer.release().expect("release");
}
