//! The retained state nvt keeps at the broker, per camera, and when it goes: the latest payload
//! of each retained topic (published again after every reconnect, so a broker that lost its
//! store learns it back), which camera each belongs to, and the cameras that have gone.
//!
//! A camera named with `--camera` keeps its topics for good (its entities show unavailable while
//! it is away). Any other camera's topics (counts, availability, snapshots, discovery configs)
//! are removed once it has been gone for the forget time, so that passing connections leave
//! nothing at the broker for good; so are those found at start-up of cameras that do not come.
//! At most [`MAX_CAMERAS`] cameras are kept: a new one past that makes the longest-gone one be
//! forgotten at once, and while every kept camera is connected a new one publishes no retained
//! state at all. Time is seconds on a clock the caller passes in.
//!
//! Each camera's topics are listed in its manifest ([`Topics::manifest`], retained, published
//! before the topics it lists and removed after them): a later run's start-up scan touches only
//! the topics a manifest lists, so another program's retained topics under the same prefix (
//! Frigate's own, with `--mqtt-prefix frigate`) are never changed or removed. A camera has at
//! most [`MAX_LABELS_PER_CAMERA`] labels with topics, and its manifest at most
//! [`MAX_MANIFEST`] bytes.

use super::topics::Topics;
use std::collections::{BTreeMap, BTreeSet};

/// Most cameras whose retained topics are kept.
pub const MAX_CAMERAS: usize = 1024;

/// Most labels a camera has topics and entities for (a detector, or a worker, inventing labels
/// makes no more).
pub const MAX_LABELS_PER_CAMERA: usize = 256;

/// Most bytes of a camera's manifest (a start-up scan reads no longer one).
pub const MAX_MANIFEST: usize = 256 << 10;

/// Whether a label of a camera has topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Newly admitted: its discovery configs are to be published.
    New,
    /// Admitted before.
    Known,
    /// Refused: the camera is not kept, has [`MAX_LABELS_PER_CAMERA`] labels, or its manifest
    /// would be too long.
    Refused,
}

/// One camera's retained topics.
#[derive(Debug, Default)]
struct Camera {
    topics: BTreeSet<String>,
    connected: bool,
    /// When it left (or was found at start-up without being connected).
    gone_since: f64,
    /// Labels whose discovery configs are published.
    announced: BTreeSet<String>,
    /// Whether the camera's own discovery configs are published.
    camera_announced: bool,
    /// Bytes of its manifest.
    manifest_bytes: usize,
}

/// Every retained topic and camera.
#[derive(Debug)]
pub struct Retained {
    latest: BTreeMap<String, Vec<u8>>,
    dirty: BTreeSet<String>,
    /// Topics to remove at the broker (an empty retained payload each).
    clear: BTreeSet<String>,
    cameras: BTreeMap<String, Camera>,
    configured: BTreeSet<String>,
    forget_after: f64,
    topics: Topics,
}

impl Retained {
    /// State for the `configured` cameras (kept for good); other cameras are forgotten once gone
    /// for `forget_after` seconds. `topics` names the manifests.
    pub fn new(topics: Topics, configured: impl IntoIterator<Item = String>, forget_after: f64) -> Self {
        Self {
            topics,
            latest: BTreeMap::new(),
            dirty: BTreeSet::new(),
            clear: BTreeSet::new(),
            cameras: BTreeMap::new(),
            configured: configured.into_iter().collect(),
            forget_after,
        }
    }

    /// Sets a retained topic of the server's own.
    pub fn set(&mut self, topic: &str, payload: Vec<u8>) {
        self.clear.remove(topic);
        if self.latest.get(topic) != Some(&payload) {
            self.latest.insert(topic.to_owned(), payload);
            self.dirty.insert(topic.to_owned());
        }
    }

    /// Sets a retained topic of `camera`; false (and nothing kept) when the camera cannot be kept.
    pub fn set_for(&mut self, camera: &str, topic: &str, payload: Vec<u8>, now: f64) -> bool {
        if !self.admit(camera, now) {
            return false;
        }
        self.record(camera, topic);
        self.set(topic, payload);
        true
    }

    /// Lists `topic` as `camera`'s (a kept camera), rewriting its manifest when it is new.
    fn record(&mut self, camera: &str, topic: &str) {
        let Some(entry) = self.cameras.get_mut(camera) else { return };
        if !entry.topics.insert(topic.to_owned()) {
            return;
        }
        self.write_manifest(camera);
    }

    fn write_manifest(&mut self, camera: &str) {
        let Some(entry) = self.cameras.get_mut(camera) else { return };
        let json = serde_json::to_vec(&entry.topics).unwrap_or_default();
        entry.manifest_bytes = json.len();
        let topic = self.topics.manifest(camera);
        self.set(&topic, json);
    }

    /// A camera connected; false when it cannot be kept.
    pub fn joined(&mut self, camera: &str, now: f64) -> bool {
        if !self.admit(camera, now) {
            return false;
        }
        if let Some(entry) = self.cameras.get_mut(camera) {
            entry.connected = true;
        }
        true
    }

    /// A camera left at `now`.
    pub fn left(&mut self, camera: &str, now: f64) {
        if let Some(entry) = self.cameras.get_mut(camera) {
            entry.connected = false;
            entry.gone_since = now;
        }
    }

    /// Whether `camera` is connected.
    pub fn connected(&self, camera: &str) -> bool {
        self.cameras.get(camera).is_some_and(|c| c.connected)
    }

    /// Whether `label` of `camera` has topics: admitted now (its discovery configs are to be
    /// published), before, or refused. `bytes` is how long the label's topics are together, to
    /// keep the manifest within [`MAX_MANIFEST`].
    pub fn announce(&mut self, camera: &str, label: &str, bytes: usize) -> Label {
        let Some(entry) = self.cameras.get_mut(camera) else { return Label::Refused };
        if entry.announced.contains(label) {
            return Label::Known;
        }
        // Each topic is listed in JSON as `"topic",`.
        if entry.announced.len() >= MAX_LABELS_PER_CAMERA || entry.manifest_bytes + bytes > MAX_MANIFEST {
            return Label::Refused;
        }
        entry.announced.insert(label.to_owned());
        Label::New
    }

    /// Whether `label` of `camera` has been admitted.
    pub fn announced(&self, camera: &str, label: &str) -> bool {
        self.cameras.get(camera).is_some_and(|c| c.announced.contains(label))
    }

    /// Whether the camera's own discovery configs are yet to be published; marks them published.
    pub fn announce_camera(&mut self, camera: &str) -> bool {
        self.cameras.get_mut(camera).is_some_and(|c| !std::mem::replace(&mut c.camera_announced, true))
    }

    /// Keeps `camera` (not connected, if new); false when it cannot be kept.
    pub fn keep(&mut self, camera: &str, now: f64) -> bool {
        self.admit(camera, now)
    }

    /// The payload nvt keeps for `topic`.
    pub fn payload(&self, topic: &str) -> Option<&[u8]> {
        self.latest.get(topic).map(Vec::as_slice)
    }

    /// Stops publishing `topic` (a payload the broker cannot take); its camera still lists it,
    /// so that it is removed with the camera.
    pub fn discard(&mut self, topic: &str) {
        self.latest.remove(topic);
        self.dirty.remove(topic);
    }

    /// Whether nvt publishes `topic` in this run.
    pub fn holds(&self, topic: &str) -> bool {
        self.latest.contains_key(topic)
    }

    /// A retained topic of `camera` found at the broker at start-up (left by an earlier run):
    /// it is now the camera's, to be removed with it. False when the camera cannot be kept.
    pub fn found(&mut self, camera: &str, topic: &str, now: f64) -> bool {
        if !self.admit(camera, now) {
            return false;
        }
        self.record(camera, topic);
        true
    }

    /// A manifest of `camera` found at start-up: the camera is kept (its manifest now lists what
    /// was found of it, and goes with it). False when the camera cannot be kept.
    pub fn found_manifest(&mut self, camera: &str, now: f64) -> bool {
        if !self.admit(camera, now) {
            return false;
        }
        self.write_manifest(camera);
        true
    }

    /// Forgets the cameras gone for the forget time at `now` (never a configured one): their
    /// topics are to be cleared.
    pub fn forget_due(&mut self, now: f64) {
        let due: Vec<String> = self
            .cameras
            .iter()
            .filter(|(name, c)| {
                !c.connected && !self.configured.contains(*name) && now - c.gone_since >= self.forget_after
            })
            .map(|(name, _)| name.clone())
            .collect();
        for camera in due {
            self.forget(&camera);
        }
    }

    /// The retained topics changed since last asked, with their payloads, in the order to
    /// publish them: manifests first (a topic is never at the broker unlisted), the server's
    /// availability last (`online` once the rest is there).
    pub fn take_dirty(&mut self) -> Vec<(String, Vec<u8>)> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut out: Vec<(String, Vec<u8>)> =
            dirty.into_iter().filter_map(|t| self.latest.get(&t).cloned().map(|p| (t, p))).collect();
        let available = self.topics.available();
        out.sort_by_key(|(topic, _)| {
            if self.is_manifest(topic) {
                0
            } else if *topic == available {
                2
            } else {
                1
            }
        });
        out
    }

    /// The topics to clear at the broker, since last asked: manifests last (a topic is never
    /// at the broker unlisted).
    pub fn take_clears(&mut self) -> Vec<String> {
        let mut out: Vec<String> = std::mem::take(&mut self.clear).into_iter().collect();
        out.sort_by_key(|topic| self.is_manifest(topic));
        out
    }

    fn is_manifest(&self, topic: &str) -> bool {
        matches!(self.topics.owner(topic), super::topics::Owner::Manifest { .. })
    }

    /// After a reconnect: every retained topic is to be published again.
    pub fn all_dirty(&mut self) {
        self.dirty = self.latest.keys().cloned().collect();
    }

    /// Cameras kept.
    pub fn cameras(&self) -> usize {
        self.cameras.len()
    }

    fn admit(&mut self, camera: &str, now: f64) -> bool {
        if self.cameras.contains_key(camera) {
            return true;
        }
        if self.cameras.len() >= MAX_CAMERAS {
            let oldest = self
                .cameras
                .iter()
                .filter(|(name, c)| !c.connected && !self.configured.contains(*name))
                .min_by(|a, b| a.1.gone_since.total_cmp(&b.1.gone_since))
                .map(|(name, _)| name.clone());
            match oldest {
                Some(oldest) => self.forget(&oldest),
                None => return false,
            }
        }
        self.cameras.insert(camera.to_owned(), Camera { gone_since: now, ..Camera::default() });
        true
    }

    fn forget(&mut self, camera: &str) {
        let Some(entry) = self.cameras.remove(camera) else { return };
        let manifest = self.topics.manifest(camera);
        for topic in entry.topics.into_iter().chain([manifest]) {
            self.latest.remove(&topic);
            self.dirty.remove(&topic);
            self.clear.insert(topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_camera_is_forgotten_after_the_forget_time_a_configured_one_never() {
        let mut state = Retained::new(Topics::new("nvt"), ["door".to_owned()], 60.0);
        for camera in ["door", "10_0_0_9"] {
            assert!(state.joined(camera, 0.0));
            assert!(state.set_for(camera, &format!("nvt/{camera}/all"), b"1".to_vec(), 0.0));
        }
        assert_eq!(state.take_dirty().len(), 4, "two topics and their manifests");
        state.left("door", 10.0);
        state.left("10_0_0_9", 10.0);
        state.forget_due(69.0);
        assert!(state.take_clears().is_empty(), "not yet");
        state.forget_due(70.0);
        assert_eq!(state.take_clears(), ["nvt/10_0_0_9/all", "nvt/_nvt/10_0_0_9/manifest"], "the manifest last");
        assert!(state.holds("nvt/door/all") && !state.holds("nvt/10_0_0_9/all"));
        state.all_dirty();
        let kept: Vec<String> = state.take_dirty().into_iter().map(|(topic, _)| topic).collect();
        assert_eq!(kept, ["nvt/_nvt/door/manifest", "nvt/door/all"], "only what is kept is republished");
        state.forget_due(1e9);
        assert!(state.take_clears().is_empty(), "a configured camera stays");
    }

    #[test]
    fn manifests_list_a_cameras_topics_and_go_out_first_and_online_last() {
        let mut state = Retained::new(Topics::new("nvt"), [], 60.0);
        state.set("nvt/available", b"online".to_vec());
        assert!(state.joined("Door9", 0.0));
        for topic in ["nvt/Door9/all", "nvt/Door9/available", "homeassistant/sensor/nvt/Door9-all-count/config"] {
            assert!(state.set_for("Door9", topic, b"x".to_vec(), 0.0));
        }
        let order: Vec<String> = state.take_dirty().into_iter().map(|(topic, _)| topic).collect();
        assert_eq!(order.first().map(String::as_str), Some("nvt/_nvt/Door9/manifest"), "{order:?}");
        assert_eq!(order.last().map(String::as_str), Some("nvt/available"), "{order:?}");
        state.all_dirty();
        let manifest = state.take_dirty().into_iter().find(|(t, _)| t.contains("_nvt")).expect("manifest").1;
        let listed: Vec<String> = serde_json::from_slice(&manifest).expect("json");
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(listed.contains(&"homeassistant/sensor/nvt/Door9-all-count/config".to_owned()));
    }

    #[test]
    fn a_camera_has_a_bounded_number_of_labels_and_manifest_bytes() {
        let mut state = Retained::new(Topics::new("nvt"), [], 60.0);
        assert!(state.joined("door", 0.0));
        assert_eq!(state.announce("yard", "cat", 10), Label::Refused, "a camera not kept");
        for i in 0..MAX_LABELS_PER_CAMERA {
            assert_eq!(state.announce("door", &format!("l{i}"), 10), Label::New);
        }
        assert_eq!(state.announce("door", "l0", 10), Label::Known);
        assert_eq!(state.announce("door", "one-more", 10), Label::Refused);
        assert!(state.joined("gate", 0.0));
        assert_eq!(state.announce("gate", "huge", MAX_MANIFEST + 1), Label::Refused, "its topics would not be listed");
        assert!(!state.announced("gate", "huge"));
    }

    #[test]
    fn a_camera_back_before_the_forget_time_keeps_its_topics() {
        let mut state = Retained::new(Topics::new("nvt"), [], 60.0);
        state.joined("cam", 0.0);
        state.set_for("cam", "nvt/cam/all", b"0".to_vec(), 0.0);
        state.left("cam", 1.0);
        state.joined("cam", 50.0);
        state.forget_due(1000.0);
        assert!(state.take_clears().is_empty() && state.holds("nvt/cam/all"));
    }

    #[test]
    fn topics_found_at_start_up_go_with_their_camera() {
        let mut state = Retained::new(Topics::new("nvt"), [], 5.0);
        assert!(state.found("old", "nvt/old/person/snapshot", 0.0));
        assert!(state.found("old", "homeassistant/sensor/nvt/old-person-count/config", 0.0));
        state.forget_due(5.0);
        let clears = state.take_clears();
        assert_eq!(clears.len(), 3, "its two topics and its manifest: {clears:?}");
        assert_eq!(clears.last().map(String::as_str), Some("nvt/_nvt/old/manifest"));
        assert_eq!(state.cameras(), 0);
    }

    #[test]
    fn the_number_of_cameras_is_bounded() {
        let mut state = Retained::new(Topics::new("nvt"), [], 3600.0);
        for i in 0..MAX_CAMERAS {
            let camera = format!("c{i}");
            state.joined(&camera, i as f64);
            state.left(&camera, i as f64);
        }
        assert!(state.joined("newcomer", 5000.0), "the longest gone makes room");
        assert_eq!(state.cameras(), MAX_CAMERAS);
        let mut full = Retained::new(Topics::new("nvt"), [], 3600.0);
        for i in 0..MAX_CAMERAS {
            full.joined(&format!("c{i}"), 0.0);
        }
        assert!(!full.joined("one-too-many", 1.0), "all connected: no room, nothing kept");
        assert!(!full.set_for("one-too-many", "nvt/one-too-many/all", b"0".to_vec(), 1.0));
    }
}
