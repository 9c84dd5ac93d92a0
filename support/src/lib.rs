//! What nvt's crates share that belongs to none of them:
//!
//! - [`files`]: reading a file as untrusted input: regular files only, with a size cap;
//! - [`jsonl`]: the JSON Lines writer behind every `--log`;
//! - [`units`]: the durations, sizes and numbers users write on the command line, range-checked;
//! - [`sync`]: locks taken back after a panic elsewhere.

pub mod files;
pub mod jsonl;
pub mod sync;
pub mod units;

pub use jsonl::JsonLines;
