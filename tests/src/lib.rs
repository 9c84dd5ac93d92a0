//! Helpers for nvt's end-to-end tests and benchmarks: the real server and client started on
//! loopback, our binaries, and protocol peers that behave exactly like the original Python
//! client and server ([`original`]).

pub mod broker;
pub mod browser;
pub mod creds;
pub mod fake_camera;
pub mod fake_mqtt;
pub mod harness;
pub mod link;
pub mod nats;
pub mod original;
pub mod over_link;
pub mod pki;
pub mod postgres;
pub mod schema;
