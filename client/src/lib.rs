//! nvt-client as a library: [`run`] captures on its own thread into a newest-wins slot
//! ([`capture`]), and the exchange loop ([`exchange`]) sends the newest frame each time the
//! server asks ([`outbox`]: the newest unsent frame, or the last one again when none is ready), reconnecting with capped, jittered exponential [`backoff`] after any failure.

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
