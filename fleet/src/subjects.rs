//! Names on the broker: the detection subject and queue of a group, the model store, and the
//! events stream.

use crate::error::FleetError;

/// A worker group (`--group`, default `default`): the ingest servers and workers that share its
/// detection subject and its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group(String);

/// The JetStream object store holding each group's current model, under the group's name.
pub const MODEL_BUCKET: &str = "nvt-models";

/// The JetStream stream of events, subjects `nvt.events.<camera>`.
pub const EVENTS_STREAM: &str = "NVT_EVENTS";

impl Group {
    /// Checks a group name: 1-64 letters, digits, `_` or `-` (a single subject token).
    pub fn new(name: &str) -> Result<Self, FleetError> {
        let ok =
            (1..=64).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(FleetError::Group(name.to_owned()))
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Where its detection requests go: `nvt.detect.<group>`; workers subscribe in a queue of
    /// the same name, so each request goes to one of them.
    pub fn detect_subject(&self) -> String {
        format!("nvt.detect.{}", self.0)
    }
}

/// Checks a durable consumer's name (`nvt-fleet mqtt --consumer`): 1-64 letters, digits, `_`
/// or `-`, as JetStream takes it in a subject token.
pub fn check_consumer(name: &str) -> Result<(), FleetError> {
    let ok =
        (1..=64).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(FleetError::Consumer(name.to_owned()))
    }
}

impl Default for Group {
    fn default() -> Self {
        Self("default".into())
    }
}

/// The events subject of a camera: `nvt.events.<camera>`, with the `.` of an address-named
/// camera made `_` so that the camera stays one subject token (`127.0.0.1` is `127_0_0_1`).
pub fn events_subject(camera: &str) -> String {
    let token: String =
        camera.chars().map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect();
    format!("nvt.events.{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_subjects() {
        assert_eq!(Group::default().detect_subject(), "nvt.detect.default");
        assert_eq!(Group::new("gpu-a").expect("ok").detect_subject(), "nvt.detect.gpu-a");
        for bad in ["", "a.b", "a b", "*", ">", &"x".repeat(65)] {
            assert!(Group::new(bad).is_err(), "{bad}");
        }
        assert_eq!(events_subject("127.0.0.1"), "nvt.events.127_0_0_1");
        assert!(check_consumer("nvt-mqtt").is_ok());
        for bad in ["a.b", "", "x y", "*", ">", "a\nb", &"c".repeat(65)] {
            assert!(check_consumer(bad).is_err(), "{bad:?}");
        }
        assert_eq!(events_subject("door"), "nvt.events.door");
    }
}
