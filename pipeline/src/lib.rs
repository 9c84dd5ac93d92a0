//! The frame path: what happens to a camera's frame after the network, shared by every program
//! that processes frames.
//!
//! A frame comes in as JPEG bytes in a camera's [`Feed`] (the server's session puts it there,
//! newest wins). A [`FrameStage`] takes it from there: [`stage::DecodeOnly`] decodes it,
//! [`local::DetectorStage`] also runs the model on this machine (one or more inference workers,
//! the model swapped live by [`swap`]), [`remote::RemoteStage`] sends it to the fleet's workers
//! over NATS. Each finished frame becomes a [`record::FrameRecord`] with its detections,
//! tracked per camera, and goes out through every [`Sink`]: the camera's next reply, the stage
//! metrics, the events (objects, snapshots, MQTT), the web viewers' newest picture, the log and
//! the window ([`display`]). With `--detect motion`, [`looking`] decides per frame whether the
//! model runs on the whole frame, on the regions that moved, or not at all. Each stage says whether detection is happening, and why not
//! ([`detection`]).
//!
//! What it does not know: sockets, HTTP or the protocol. The server's session and web view are
//! on one side of it, the outputs on the other.

pub mod counters;
pub mod detection;
pub mod display;
pub mod feed;
pub mod frame;
pub mod local;
pub mod looking;
pub mod metrics;
pub mod panics;
pub mod picture;
pub mod record;
pub mod remote;
pub mod sinks;
pub mod stage;
pub mod swap;

pub use counters::{CounterValues, Counters};
pub use detection::{Detection, DetectionState};
pub use feed::{Feed, Incoming};
pub use frame::Output;
pub use metrics::Metrics;
pub use sinks::Sink;
pub use stage::FrameStage;
