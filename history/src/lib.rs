//! What happened while you were away: every tracked object's event kept in a store (SQLite by
//! default, PostgreSQL for a fleet), one row per object with Frigate's columns ([`store`],
//! [`row`]), asked Frigate's questions ([`query`]) over HTTP ([`api`]) or from a shell
//! (`nvt-events`, [`table`]); each event's clip, cut from the frames as they arrived
//! ([`clips`]), and its thumbnail, in a media folder ([`media`]); all of it kept within
//! retention rules ([`retention`]).
//!
//! Events come in from the events hub as one more of its outputs ([`output`]), and frames from
//! the server's sessions; [`history::History`] holds it together: a writer task (handed
//! [`jobs`]), the clip recorder's thread, and the counts [`metrics`] shows. [`flags`] holds the
//! flags, and [`guard`] the doors every web view that serves the history keeps (the server's and
//! the fleet's).

pub mod api;
pub mod clips;
pub mod error;
pub mod flags;
pub mod guard;
pub mod history;
pub mod jobs;
pub mod lock;
pub mod media;
pub mod metrics;
pub mod output;
pub mod query;
pub mod retention;
pub mod row;
pub mod store;
pub mod table;

pub use error::HistoryError;
pub use history::{History, Settings};
pub use query::Query;
pub use row::EventRow;
pub use store::{Location, Store};
