//! `nvt-detect` as a library: the detector over image files, folders of images and video files,
//! offline and headless. Files come in (images decoded, videos read frame by frame); JSON Lines
//! records like the server's go out, and with the flags annotated copies, events and snapshots.
//! It makes its records, and its events, with the same pieces as the server's frame path
//! (`nvt-pipeline`'s record, `nvt-events`' tracker and hub).
//!
//! - [`run`]: the files, the detector, the records and events.
//! - [`pool`]: the detector workers, side by side, their results in order.
//! - [`progress`]: a bar on a terminal, a log line now and then otherwise.

pub mod pool;
pub mod progress;
pub mod run;

pub use run::{run, Args, Failure, Summary};
