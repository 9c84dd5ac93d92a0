//! nvt-client as a library: frames come in from a camera, a file, a URL or the synthetic scene,
//! and go out as JPEGs over the classic protocol to a server, whose replies (detections) come
//! back. [`run`] captures on its own thread into a newest-wins slot ([`capture`]), encoding at
//! the quality and size the link allows ([`fit`], from what [`link`] learns of it); the exchange
//! loop ([`exchange`]) sends the newest frame each time the server asks ([`outbox`]: the newest
//! unsent frame, or the last one again when none is ready), reconnecting with capped, jittered
//! exponential [`backoff`] after any failure. [`status`] and [`preview`] show how it goes.

pub mod backoff;
pub mod capture;
pub mod cli;
pub mod config;
pub mod exchange;
pub mod fit;
pub mod link;
pub mod outbox;
pub mod preview;
pub mod status;

pub use config::Config;
pub use exchange::{run, Summary};
