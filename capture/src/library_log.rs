//! The media libraries' own messages. OpenCV, and FFmpeg and GStreamer under it, write warnings
//! of their own to standard error (`[ WARN:0@0.3] ... GStreamer warning: ...`, `[mjpeg @ 0x...]
//! overread 2`) before nvt gets the outcome and says it in one line. [`quiet`] keeps their
//! errors and drops their warnings; a user who wants them back sets the libraries' own variables
//! (`OPENCV_LOG_LEVEL=WARNING`, `OPENCV_FFMPEG_LOGLEVEL=24`, `GST_DEBUG=2`), which win.

use opencv::core::LogLevel;

/// FFmpeg's level for no messages at all (`AV_LOG_QUIET`): OpenCV's FFmpeg backend reads
/// `OPENCV_FFMPEG_LOGLEVEL` once, when it starts. FFmpeg's errors while reading a file (a frame
/// cut short) are about the file, and nvt says them itself (see `media::VideoReader`).
const FFMPEG_QUIET: &str = "-8";

/// Quiets the media libraries: OpenCV logs errors only, FFmpeg nothing, GStreamer's debug log
/// nothing, each unless its variable is set already.
///
/// Call it first thing in `main`, before any thread starts (it sets environment variables,
/// which the libraries read when they start).
pub fn quiet() {
    for (variable, value) in [("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET), ("GST_DEBUG", "0")] {
        if std::env::var_os(variable).is_none() {
            std::env::set_var(variable, value);
        }
    }
    if std::env::var_os("OPENCV_LOG_LEVEL").is_none() {
        let _ = opencv::core::set_log_level(LogLevel::LOG_LEVEL_ERROR);
    }
}
