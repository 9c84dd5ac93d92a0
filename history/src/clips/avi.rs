//! MJPEG in AVI, written as the frames come: each frame's JPEG bytes go into the file as they
//! arrived (no decoding, no encoding), the header is written first with room for what is known
//! only at the end (the frame count, the rate, the sizes), and `finish` adds the index and fills
//! it in. VLC, mpv and ffmpeg play it; browsers do not play AVI, so the web view plays a clip
//! itself (it reads the frames from the same file, see `web/history.js`).
//!
//! AVI 1.0: one `RIFF` of at most [`MAX_BYTES`], one video stream (`vids`/`MJPG`), an `idx1`
//! index with every frame a key frame. The frame rate is the clip's mean (AVI has one rate).

use std::io::{self, Seek, SeekFrom, Write};

/// The largest clip file: AVI 1.0 stays below 1 GiB.
pub const MAX_BYTES: u64 = (1 << 30) - (16 << 20);

/// Where the `movi` list's fourcc is: index offsets count from it.
const MOVI: u64 = 220;

/// Where the first frame's chunk starts.
const FIRST_CHUNK: u64 = 224;

/// A clip being written.
pub struct AviWriter<W: Write + Seek> {
    out: W,
    /// Each frame's chunk offset (from [`MOVI`]) and size.
    index: Vec<(u32, u32)>,
    /// Where the next chunk goes.
    at: u64,
    /// The largest frame.
    largest: u32,
    size: (u32, u32),
}

fn fourcc(out: &mut impl Write, code: &[u8; 4]) -> io::Result<()> {
    out.write_all(code)
}

fn u32le(out: &mut impl Write, value: u32) -> io::Result<()> {
    out.write_all(&value.to_le_bytes())
}

fn u16le(out: &mut impl Write, value: u16) -> io::Result<()> {
    out.write_all(&value.to_le_bytes())
}

impl<W: Write + Seek> AviWriter<W> {
    /// Starts a clip of `width` x `height` frames (the first frame's size).
    pub fn start(mut out: W, (width, height): (u32, u32)) -> io::Result<Self> {
        let o = &mut out;
        fourcc(o, b"RIFF")?;
        u32le(o, 0)?; // the file's size, at the end
        fourcc(o, b"AVI ")?;
        fourcc(o, b"LIST")?;
        u32le(o, 192)?;
        fourcc(o, b"hdrl")?;
        fourcc(o, b"avih")?;
        u32le(o, 56)?;
        for value in [0, 0, 0, 0x10, 0, 0, 1, 0, width, height, 0, 0, 0, 0] {
            // µs per frame, bytes per second, padding, AVIF_HASINDEX, frames, initial frames,
            // streams, buffer size, width, height, reserved
            u32le(o, value)?;
        }
        fourcc(o, b"LIST")?;
        u32le(o, 116)?;
        fourcc(o, b"strl")?;
        fourcc(o, b"strh")?;
        u32le(o, 56)?;
        fourcc(o, b"vids")?;
        fourcc(o, b"MJPG")?;
        for value in [0, 0, 0, 1000, 0, 0, 0, 0, 0, 0] {
            // flags, priority and language, initial frames, scale, rate, start, length, buffer
            // size, quality, sample size
            u32le(o, value)?;
        }
        for value in [0, 0, clamp16(width), clamp16(height)] {
            u16le(o, value)?;
        }
        fourcc(o, b"strf")?;
        u32le(o, 40)?;
        u32le(o, 40)?;
        u32le(o, width)?;
        u32le(o, height)?;
        u16le(o, 1)?;
        u16le(o, 24)?;
        fourcc(o, b"MJPG")?;
        for value in [width.saturating_mul(height).saturating_mul(3), 0, 0, 0, 0] {
            u32le(o, value)?;
        }
        fourcc(o, b"LIST")?;
        u32le(o, 0)?; // the frames' size, at the end
        fourcc(o, b"movi")?;
        Ok(Self { out, index: Vec::new(), at: FIRST_CHUNK, largest: 0, size: (width, height) })
    }

    /// Bytes written so far (the index not counted).
    pub fn bytes(&self) -> u64 {
        self.at
    }

    /// Frames written so far.
    pub fn frames(&self) -> usize {
        self.index.len()
    }

    /// Adds one frame, its bytes as they are. Past [`MAX_BYTES`] it is refused.
    pub fn frame(&mut self, jpeg: &[u8]) -> io::Result<()> {
        let size = u32::try_from(jpeg.len()).map_err(|_| io::Error::other("a frame larger than 4 GiB"))?;
        let padded = u64::from(size) + u64::from(size % 2);
        if self.at + 8 + padded + 16 * (self.index.len() as u64 + 1) + 8 > MAX_BYTES {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "the clip reached the AVI size limit"));
        }
        fourcc(&mut self.out, b"00dc")?;
        u32le(&mut self.out, size)?;
        self.out.write_all(jpeg)?;
        if size % 2 == 1 {
            self.out.write_all(&[0])?;
        }
        self.index.push((u32::try_from(self.at - MOVI).unwrap_or(u32::MAX), size));
        self.at += 8 + padded;
        self.largest = self.largest.max(size);
        Ok(())
    }

    /// Writes the index and fills in the header for frames that span `seconds`; returns the
    /// output, flushed.
    pub fn finish(mut self, seconds: f64) -> io::Result<W> {
        let frames = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
        fourcc(&mut self.out, b"idx1")?;
        u32le(&mut self.out, frames.saturating_mul(16))?;
        for (offset, size) in &self.index {
            fourcc(&mut self.out, b"00dc")?;
            u32le(&mut self.out, 0x10)?;
            u32le(&mut self.out, *offset)?;
            u32le(&mut self.out, *size)?;
        }
        let end = self.out.stream_position()?;
        // The mean rate over the frames: n frames over their span, one interval per frame.
        let fps = if frames > 1 && seconds > 0.0 { f64::from(frames - 1) / seconds } else { 1.0 }.clamp(0.1, 1000.0);
        let rate = (fps * 1000.0).round() as u32;
        let per_second = ((self.at - FIRST_CHUNK) as f64 / (f64::from(frames.max(1)) / fps)) as u32;
        let movi = u32::try_from(self.at - MOVI).unwrap_or(u32::MAX);
        let (width, height) = self.size;
        for (at, value) in [
            (4, u32::try_from(end - 8).unwrap_or(u32::MAX)),
            (32, (1_000_000.0 / fps).round() as u32),
            (36, per_second),
            (48, frames),
            (60, self.largest),
            (64, width),
            (68, height),
            (132, rate),
            (140, frames),
            (144, self.largest),
            (216, movi),
        ] {
            self.out.seek(SeekFrom::Start(at))?;
            u32le(&mut self.out, value)?;
        }
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn clamp16(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// A written clip read back: its frames' bytes, in order, and its rate in frames per second.
/// Only what [`AviWriter`] writes is read; anything else is an error, never a panic.
pub fn read(file: &[u8]) -> Result<(Vec<&[u8]>, f64), &'static str> {
    let word = |at: usize| -> Result<u32, &'static str> {
        let bytes = file.get(at..at + 4).ok_or("the file ends early")?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    if file.get(0..4) != Some(b"RIFF") || file.get(8..12) != Some(b"AVI ") || file.get(212..216) != Some(b"LIST") {
        return Err("not an AVI clip nvt wrote");
    }
    let (rate, scale) = (word(132)?, word(128)?);
    let end = (MOVI as usize).saturating_add(word(216)? as usize).min(file.len());
    let mut frames = Vec::new();
    let mut at = FIRST_CHUNK as usize;
    while at + 8 <= end {
        let size = word(at + 4)? as usize;
        let data = file.get(at + 8..at + 8 + size).ok_or("a frame runs past the file")?;
        if file.get(at..at + 4) == Some(b"00dc") {
            frames.push(data);
        }
        at += 8 + size + size % 2;
    }
    Ok((frames, f64::from(rate) / f64::from(scale.max(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_go_in_and_come_back_as_they_were() {
        let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let mut writer = AviWriter::start(io::Cursor::new(Vec::new()), (640, 480)).expect("start");
        for frame in &frames {
            writer.frame(frame).expect("frame");
        }
        let file = writer.finish(0.4).expect("finish").into_inner();
        let (back, fps) = read(&file).expect("read");
        assert_eq!(back, frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!((fps - 10.0).abs() < 1e-9, "{fps}");
        assert_eq!(u32::from_le_bytes([file[4], file[5], file[6], file[7]]) as usize, file.len() - 8);
        assert_eq!(&file[file.len() - 16 * 5 - 8..file.len() - 16 * 5], b"idx1\x50\0\0\0");
        assert!(read(b"RIFF").is_err());
        assert!(read(&file[..300]).is_err(), "a cut file is an error");
    }
}
