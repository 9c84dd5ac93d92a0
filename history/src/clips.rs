//! Each event's clip: the frames that arrived, from `--clip-pre` seconds before the event
//! started to `--clip-post` seconds after it ended, as they came (MJPEG in AVI). [`ring`] keeps
//! each camera's recent frames, [`recorder`] writes the clips, [`avi`] is the file format.

pub mod avi;
pub mod recorder;
pub mod ring;

pub use recorder::{ClipCounts, ClipSettings, Recorder};
