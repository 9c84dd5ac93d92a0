//! What nvt's crates and programs share that belongs to none of them. Nothing flows through it:
//! each piece is a tool the others pick up.
//!
//! - [`boxes`]: a box's area and the overlap of two;
//! - [`errors`]: an error and its causes as one line that says each cause once;
//! - [`files`]: reading a file as untrusted input: regular files only, with a size cap;
//! - [`jsonl`]: the JSON Lines writer behind every `--log`;
//! - [`units`]: the durations, sizes and numbers users write on the command line, range-checked;
//! - [`sync`]: locks taken back after a panic elsewhere;
//! - [`throttle`]: at most one log line per interval about the same thing;
//! - [`backoff`]: a lasting condition said at once, then at growing intervals;
//! - [`program`]: a program's runtime, its log, and the signals that stop it;
//! - [`flag_hints`]: the right flag named for one people type, where clap would name a wrong one.

pub mod backoff;
pub mod boxes;
pub mod errors;
pub mod files;
pub mod flag_hints;
pub mod jsonl;
pub mod program;
pub mod sync;
pub mod throttle;
pub mod units;

pub use backoff::LogBackoff;
pub use jsonl::JsonLines;
pub use throttle::Throttle;
