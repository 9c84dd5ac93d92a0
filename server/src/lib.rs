//! nvt-server as a library: [`run`] serves the classic protocol on a listener until a shutdown
//! future completes, so tests start the real server on `127.0.0.1:0`.
//!
//! Frames come in over TCP: [`server`] accepts connections within the limits of [`admission`]
//! and names each camera ([`cameras`]); a [`session`] per connection runs the exchange (judging
//! freshness, telling repeats apart with [`repeats`]) and puts each fresh frame in its camera's
//! feed. From there the frame path (`nvt-pipeline`) decodes and detects it and hands it to every
//! output. What goes out besides: the replies on the same connection, the web view, its API and
//! `/metrics` ([`web`]), the stats line ([`stats`]), and the event store with its clips
//! ([`history`]). [`cli`] turns the flags into a
//! [`Config`].

pub mod admission;
pub mod cameras;
pub mod cli;
pub mod config;
pub mod history;
pub mod repeats;
pub mod server;
pub mod session;
pub mod stats;
pub mod web;

pub use config::Config;
pub use server::{run, Summary};
