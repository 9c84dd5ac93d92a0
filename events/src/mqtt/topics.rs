//! Topic names under the prefix, one to one with what they name: camera names go in as they are
//! (they are `[A-Za-z0-9_-]`, see `nvt_transport::protect::valid_name`), labels as slugs no two
//! labels share ([`slug`]); and the way back, from a retained topic found at the broker to the
//! camera it belongs to ([`Topics::owner`]).

/// Topic levels below a camera that are not labels: a label whose plain slug would read one of
/// these takes the hashed form instead.
const RESERVED: [&str; 2] = ["all", "available"];

/// A label as a topic level, one to one: a *plain* label (lower-case ASCII letters and digits,
/// words separated by single spaces, as COCO's `traffic light`) is itself with `_` for the
/// spaces (`traffic_light`); any other label (capitals, `-`, `_`, other characters) and a plain
/// label that would read `all` or `available` is that slug, then `__` and eight hex digits of a
/// hash of the label (`Red-Square` is `red_square__1f0c4a2b`). Plain slugs never hold `__`, so
/// the two forms never meet; two hashed labels that met would be caught by the publisher, which
/// keeps the first.
pub fn slug(label: &str) -> String {
    let base: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let plain = !label.is_empty()
        && label.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b' ')
        && !label.starts_with(' ')
        && !label.ends_with(' ')
        && !label.contains("  ");
    if plain && !RESERVED.contains(&base.as_str()) {
        base
    } else {
        format!("{base}__{:08x}", fnv1a(label.as_bytes()))
    }
}

/// A 32-bit FNV-1a hash: stable across runs and machines, so a label keeps its topic.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &b| (hash ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// What a retained topic under the prefix or the discovery node is, as far as a start-up scan
/// needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A camera's count (`<prefix>/<camera>/<level>`), availability or snapshot.
    Camera {
        /// The camera.
        camera: String,
        /// What it is.
        kind: CameraTopic,
    },
    /// A camera's Home Assistant discovery config.
    Discovery {
        /// The camera.
        camera: String,
    },
    /// The list of a camera's retained topics an earlier run of nvt wrote
    /// (`<prefix>/_nvt/<camera>/manifest`).
    Manifest {
        /// The camera.
        camera: String,
    },
    /// Anything else (the server's own topics, foreign ones).
    Other,
}

impl Owner {
    /// The camera of a camera's topic or discovery config (not of a manifest).
    pub fn camera(&self) -> Option<&str> {
        match self {
            Self::Camera { camera, .. } | Self::Discovery { camera } => Some(camera),
            Self::Manifest { .. } | Self::Other => None,
        }
    }
}

/// The kinds of a camera's retained topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraTopic {
    /// `<prefix>/<camera>/<label slug or all>`.
    Count,
    /// `<prefix>/<camera>/available`.
    Available,
    /// `<prefix>/<camera>/<label slug>/snapshot`.
    Snapshot,
}

/// The topics under one prefix, and the Home Assistant discovery node of that prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
    node: String,
}

impl Topics {
    /// Topics under `prefix` (`nvt` by default).
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/').to_owned();
        // A prefix that is not plain (`home/nvt`) still makes one node id of its own.
        let node = slug(&prefix);
        Self { prefix, node }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Home Assistant discovery node id: the prefix as a slug (`nvt`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The server's `online` / `offline`, retained; the last will.
    pub fn available(&self) -> String {
        format!("{}/available", self.prefix)
    }

    /// Every event, QoS 1.
    pub fn events(&self) -> String {
        format!("{}/events", self.prefix)
    }

    /// The stats line as JSON.
    pub fn stats(&self) -> String {
        format!("{}/stats", self.prefix)
    }

    /// A camera's own `online` / `offline`, retained.
    pub fn camera_available(&self, camera: &str) -> String {
        format!("{}/{camera}/available", self.prefix)
    }

    /// How many of `label` `camera` sees now; `None` for all labels together (`.../all`).
    pub fn count(&self, camera: &str, label: Option<&str>) -> String {
        format!("{}/{camera}/{}", self.prefix, label.map_or_else(|| "all".to_owned(), slug))
    }

    /// The latest snapshot of `label` on `camera`.
    pub fn snapshot(&self, camera: &str, label: &str) -> String {
        format!("{}/{camera}/{}/snapshot", self.prefix, slug(label))
    }

    /// Where the publisher marks the end of a start-up scan: the marker comes back after every
    /// retained message the scan's subscriptions brought (a broker keeps one connection's
    /// messages in order). Four levels below the prefix, so it is no topic nvt publishes else.
    pub fn scan_marker(&self, client_id: &str) -> String {
        format!("{}/_scan/{client_id}/done", self.prefix)
    }

    /// The list of the retained topics nvt writes for `camera` (retained, JSON): the start-up
    /// scan of a later run touches only topics a manifest lists, never another program's under
    /// the same prefix. Three levels below the prefix, ending in `manifest`: no camera topic of
    /// nvt's has that shape (theirs end in a label, `all`, `available` or `snapshot`).
    pub fn manifest(&self, camera: &str) -> String {
        format!("{}/_nvt/{camera}/manifest", self.prefix)
    }

    /// The subscriptions a start-up scan makes: every retained topic nvt may have left, and the
    /// manifests that say which are nvt's.
    pub fn scan_filters(&self) -> [String; 4] {
        [
            format!("{}/_nvt/+/manifest", self.prefix),
            format!("{}/+/+", self.prefix),
            format!("{}/+/+/snapshot", self.prefix),
            format!("homeassistant/+/{}/+/config", self.node),
        ]
    }

    /// A discovery config topic: `homeassistant/<component>/<node>/<object>/config`.
    pub fn discovery(&self, component: &str, object: &str) -> String {
        format!("homeassistant/{component}/{}/{object}/config", self.node)
    }

    /// Whom a topic found at start-up belongs to.
    pub fn owner(&self, topic: &str) -> Owner {
        let valid = nvt_transport::protect::valid_name;
        if let Some(rest) = topic.strip_prefix(&self.prefix).and_then(|r| r.strip_prefix('/')) {
            let levels: Vec<&str> = rest.split('/').collect();
            let owner = |camera: &str, kind| Owner::Camera { camera: camera.to_owned(), kind };
            return match levels[..] {
                ["_nvt", camera, "manifest"] if valid(camera) => Owner::Manifest { camera: camera.to_owned() },
                [camera, "available"] if valid(camera) => owner(camera, CameraTopic::Available),
                [camera, _] if valid(camera) => owner(camera, CameraTopic::Count),
                [camera, _, "snapshot"] if valid(camera) => owner(camera, CameraTopic::Snapshot),
                _ => Owner::Other,
            };
        }
        let Some(object) = topic
            .strip_prefix("homeassistant/")
            .and_then(|r| r.split_once('/'))
            .and_then(|(_, r)| r.strip_prefix(&self.node))
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.strip_suffix("/config"))
        else {
            return Owner::Other;
        };
        camera_of_object(object).filter(|c| valid(c)).map_or(Owner::Other, |camera| Owner::Discovery { camera })
    }
}

/// The camera of a discovery object id: `<camera>-events`, or `<camera>-<slug or all>-<kind>`
/// (slugs hold no `-`); server entities hold no `-` at all.
fn camera_of_object(object: &str) -> Option<String> {
    if let Some(camera) = object.strip_suffix("-events") {
        return Some(camera.to_owned());
    }
    let (rest, _kind) = object.rsplit_once('-')?;
    let (camera, _label) = rest.rsplit_once('-')?;
    Some(camera.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_labels_read_as_they_are_and_no_two_labels_share_a_slug() {
        assert_eq!(slug("person"), "person");
        assert_eq!(slug("traffic light"), "traffic_light");
        assert_eq!(slug("red square"), "red_square");
        let others = ["Red-Square", "red_square", "Red square", "red  square", "all", "ALL", "available", "a/+/#", ""];
        let mut all: Vec<String> = others.iter().map(|l| slug(l)).collect();
        all.push(slug("red square"));
        for (label, s) in others.iter().zip(&all) {
            assert!(s.contains("__") && s.len() >= 10, "{label:?} -> {s}");
            assert!(s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'), "{s}");
        }
        let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
        assert_eq!(slug("Red-Square"), slug("Red-Square"), "stable");
    }

    #[test]
    fn topics_nest_under_the_prefix_and_lead_back_to_their_camera() {
        let topics = Topics::new("nvt");
        assert_eq!(topics.count("door", Some("red square")), "nvt/door/red_square");
        assert_eq!(topics.count("door", None), "nvt/door/all");
        assert_eq!(topics.camera_available("door"), "nvt/door/available");
        assert_eq!(topics.snapshot("door", "person"), "nvt/door/person/snapshot");
        assert_eq!(Topics::new("home/nvt/").available(), "home/nvt/available");
        assert_ne!(Topics::new("home/nvt").node(), Topics::new("home_nvt").node());
        let camera = |c: &str, kind| Owner::Camera { camera: c.into(), kind };
        assert_eq!(topics.owner("nvt/front-door/red_square"), camera("front-door", CameraTopic::Count));
        assert_eq!(topics.owner("nvt/door/available"), camera("door", CameraTopic::Available));
        assert_eq!(topics.owner("nvt/door/person/snapshot"), camera("door", CameraTopic::Snapshot));
        assert_eq!(topics.owner("nvt/available"), Owner::Other);
        assert_eq!(topics.manifest("door"), "nvt/_nvt/door/manifest");
        assert_eq!(topics.owner(&topics.manifest("door")), Owner::Manifest { camera: "door".into() });
        assert_eq!(topics.owner("nvt/127.0.0.1/all"), Owner::Other, "no name of a camera");
        let config = |c: &str| Owner::Discovery { camera: c.into() };
        assert_eq!(topics.owner("homeassistant/sensor/nvt/front-door-red_square-count/config"), config("front-door"));
        assert_eq!(topics.owner("homeassistant/event/nvt/front-door-events/config"), config("front-door"));
        assert_eq!(topics.owner("homeassistant/sensor/nvt/stats_fps_in/config"), Owner::Other);
        assert_eq!(topics.owner("homeassistant/sensor/other/door-x-count/config"), Owner::Other);
    }
}
