//! A file for Chromium's fake camera (`--use-file-for-fake-video-capture`): the synthetic scene
//! as Motion JPEG, a JPEG per frame one after another, which Chromium plays at 30 frames a
//! second, from the start again at the end.

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
