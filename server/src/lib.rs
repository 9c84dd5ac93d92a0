//! nvt-server as a library: [`run`] serves the classic protocol on a listener until a shutdown
//! future completes, so tests start the real server on `127.0.0.1:0`.
//!
//! Per client: a tokio task runs the exchange ([`session`]) and hands each fresh frame to a
//! newest-wins slot read by the client's own worker thread ([`pipeline`]), which decodes and
//! hands the frame on, newest wins again, to the one thread that runs the model ([`detection`]);
//! finished frames are tracked and handed to every output ([`sinks`]): the reply, the log
//! ([`record`]), the events (`nvt-events`: objects, snapshots, MQTT), the web view and the window
//! thread ([`display`]). Cameras are named in [`cameras`].

pub mod admission;
pub mod cameras;
pub mod cli;
pub mod client;
pub mod config;
pub mod detection;
pub mod display;
pub mod metrics;
pub mod offline;
pub mod panics;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod remote;
pub mod repeats;
pub mod server;
pub mod session;
pub mod sinks;
pub mod stage;
pub mod stats;
pub mod swap;
pub mod throttle;
pub mod web;
pub mod worker;

pub use config::Config;
pub use server::{run, Summary};
