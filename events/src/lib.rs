//! From boxes to events: a tracker per camera gives detections ids ([`track`]), a book of the
//! objects in view turns their lives into Frigate-shaped events ([`book`], [`object`]), and the
//! events go to a JSON Lines file, a folder of snapshots ([`snapshots`]), MQTT ([`mqtt`]) and the
//! web view, all through one [`hub::Hub`].

pub mod book;
mod dispatch;
pub mod hub;
pub mod mqtt;
pub mod object;
pub mod outputs;
pub mod snapshots;
pub mod track;

pub use book::{EventSettings, ObjectBook};
pub use hub::Hub;
pub use object::{Event, EventObject, EventType};
pub use track::{TrackSettings, Tracker};
