//! nvt past one machine, on NATS: what crosses the bus and how. Frames go out from an ingest
//! server as requests to a queue group of workers and detections come back ([`subjects`],
//! [`wire`]); a model pushed to a JetStream object store reaches every worker of the group
//! ([`models`]); events from every ingest server go to a JetStream stream ([`stream`]), which
//! [`bridge`] publishes to MQTT and
//! [`history`] keeps in one event store. [`connect`] opens a connection that survives the broker's
//! restarts, with the TLS and credentials [`access`] reads; [`labels`] bounds what workers may
//! name. The `nvt-fleet` program (push, models, rm, mqtt, history) is this crate's binary, its
//! one-off commands on a group's model in [`admin`] (a push is [`check`]ed first, and
//! [`jetstream`] tells a server without JetStream); the worker is the `nvt-worker` crate
//! (`worker/`).

pub mod access;
pub mod admin;
pub mod bridge;
pub mod check;
pub mod connect;
pub mod error;
pub mod flags;
pub mod history;
pub mod jetstream;
pub mod labels;
pub mod models;
pub mod stream;
pub mod subjects;
pub mod wire;

pub use access::{check_url, Access, AccessFiles};
pub use connect::{connect, Role};
pub use error::FleetError;
pub use subjects::Group;
