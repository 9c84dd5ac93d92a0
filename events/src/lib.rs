//! From boxes to events: the object filters pick the detections that count ([`filters`]), a
//! tracker per camera and label gives them ids ([`track`]), a book of the
//! objects in view turns their lives into Frigate-shaped events ([`book`], [`object`]), and the
//! events go to a JSON Lines file, a folder of snapshots ([`snapshots`]), MQTT ([`mqtt`]) and the
//! web view, all through one [`hub::Hub`]. Detections come in per camera and frame; events,
//! snapshots and MQTT messages go out. [`flags`] holds the flag groups that configure it.

pub mod book;
mod dispatch;
pub mod filters;
pub mod flags;
pub mod hub;
pub mod mqtt;
pub mod object;
pub mod outputs;
pub mod pictures;
pub mod pinned;
pub mod snapshots;
pub mod track;

pub use book::{EventSettings, ObjectBook};
pub use filters::{Filter, ObjectFilters};
pub use hub::Hub;
pub use object::{Event, EventObject, EventType, Severity};
pub use track::{TrackSettings, Tracker};
