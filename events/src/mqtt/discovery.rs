//! Home Assistant's MQTT discovery configs, the entities Frigate's own integration makes, with
//! its names and icons:
//!
//! - per camera and label: a count `sensor` ("Person count"), an occupancy `binary_sensor`
//!   ("Person occupancy") and the latest snapshot as an `image` ("Person");
//! - per camera: the same count and occupancy for all labels together ("All count", "All
//!   occupancy"), and an `event` entity fed by the camera's events ("Events");
//! - for the server: stats sensors (frames/s in and detected, latency, detector busy, clients).
//!
//! A camera's entities are available while the server and the camera both are (an
//! `availability` list with `availability_mode: all`); each camera is a device `via_device` the
//! server. Every config carries an `origin` so that Home Assistant's logs name nvt. No
//! `object_id` or `default_entity_id`: entity ids come from the device and entity names, the
//! same on Home Assistant 2024 and 2025 releases (2025.10 deprecates `object_id`).

use super::topics::{slug, Topics};
use serde_json::{json, Value};

/// What the configs say about the server itself.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// The web view's address, for `configuration_url` (with `--http`).
    pub web: Option<String>,
}

/// nvt's version, as `sw_version` and in `origin`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Makes the discovery configs of one prefix.
#[derive(Debug, Clone)]
pub struct Discovery {
    topics: Topics,
    server: ServerInfo,
}

/// One discovery config: its topic and payload.
pub type Config = (String, Vec<u8>);

impl Discovery {
    /// Configs for the topics under `topics`.
    pub fn new(topics: Topics, server: ServerInfo) -> Self {
        Self { topics, server }
    }

    fn origin() -> Value {
        json!({"name": "nvt", "sw_version": VERSION})
    }

    fn server_device(&self) -> Value {
        let prefix = self.topics.prefix();
        let name = if prefix == "nvt" { "nvt server".to_owned() } else { format!("nvt server {prefix}") };
        let mut device = json!({
            "identifiers": [self.topics.node()],
            "name": name,
            "manufacturer": "nvt",
            "model": "nvt-server",
            "sw_version": VERSION,
        });
        if let Some(web) = &self.server.web {
            device["configuration_url"] = json!(web);
        }
        device
    }

    fn camera_device(&self, camera: &str) -> Value {
        let mut device = json!({
            "identifiers": [format!("{}-{camera}", self.topics.node())],
            "name": format!("nvt {camera}"),
            "manufacturer": "nvt",
            "model": "nvt camera",
            "sw_version": VERSION,
            "via_device": self.topics.node(),
        });
        if let Some(web) = &self.server.web {
            device["configuration_url"] = json!(web);
        }
        device
    }

    /// The fields every camera entity shares, for the entity `object` of `camera`.
    fn camera_entity(&self, camera: &str, object: &str, name: &str) -> Value {
        json!({
            "name": name,
            "unique_id": format!("{}-{object}", self.topics.node()),
            "availability": [
                {"topic": self.topics.available()},
                {"topic": self.topics.camera_available(camera)},
            ],
            "availability_mode": "all",
            "device": self.camera_device(camera),
            "origin": Self::origin(),
        })
    }

    fn config(&self, component: &str, object: &str, payload: Value) -> Config {
        (self.topics.discovery(component, object), payload.to_string().into_bytes())
    }

    /// A count sensor and an occupancy binary sensor reading `state_topic`, named after `what`.
    fn count_and_occupancy(&self, camera: &str, level: &str, what: &str, state_topic: &str, icon: &str) -> [Config; 2] {
        let count_object = format!("{camera}-{level}-count");
        let mut count = self.camera_entity(camera, &count_object, &format!("{what} count"));
        extend(
            &mut count,
            json!({
                "state_topic": state_topic,
                "unit_of_measurement": "objects",
                "state_class": "measurement",
                "icon": icon,
            }),
        );
        let occupancy_object = format!("{camera}-{level}-occupancy");
        let mut occupancy = self.camera_entity(camera, &occupancy_object, &format!("{what} occupancy"));
        extend(
            &mut occupancy,
            json!({
                "state_topic": state_topic,
                "device_class": "occupancy",
                "value_template": "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
            }),
        );
        [self.config("sensor", &count_object, count), self.config("binary_sensor", &occupancy_object, occupancy)]
    }

    /// The entities of `camera` for `label`: count, occupancy, snapshot image.
    pub fn label(&self, camera: &str, label: &str) -> Vec<Config> {
        let level = slug(label);
        let what = friendly(label);
        let state_topic = self.topics.count(camera, Some(label));
        let mut configs = self.count_and_occupancy(camera, &level, &what, &state_topic, icon(label)).to_vec();
        let image_object = format!("{camera}-{level}-snapshot");
        let mut image = self.camera_entity(camera, &image_object, &what);
        extend(&mut image, json!({"image_topic": self.topics.snapshot(camera, label), "content_type": "image/jpeg"}));
        configs.push(self.config("image", &image_object, image));
        configs
    }

    /// The entities of `camera` itself: all labels' count and occupancy, and its events.
    pub fn camera(&self, camera: &str) -> Vec<Config> {
        let mut configs = self
            .count_and_occupancy(camera, "all", "All", &self.topics.count(camera, None), "mdi:shield-alert")
            .to_vec();
        let object = format!("{camera}-events");
        let mut events = self.camera_entity(camera, &object, "Events");
        // Every camera's events come on one topic; this camera's entity takes its own (camera
        // names are letters, digits, '_' and '-', safe inside the quotes) and renders nothing
        // for the others, which Home Assistant ignores.
        let template = format!(
            "{{% if value_json.after.camera == '{camera}' %}}{{{{ {{'event_type': value_json.type, 'id': value_json.after.id, \
             'label': value_json.after.label, 'score': value_json.after.top_score, 'has_snapshot': value_json.after.has_snapshot}} \
             | to_json }}}}{{% endif %}}"
        );
        extend(
            &mut events,
            json!({
                "state_topic": self.topics.events(),
                "event_types": ["new", "update", "end"],
                "value_template": template,
                "icon": "mdi:cctv",
            }),
        );
        configs.push(self.config("event", &object, events));
        configs
    }

    /// The server's stats sensors, reading `<prefix>/stats`.
    pub fn server(&self) -> Vec<Config> {
        let sensors = [
            ("fps_in", "Camera fps", "fps", "mdi:speedometer"),
            ("fps_processed", "Detection fps", "fps", "mdi:speedometer"),
            ("latency_ms", "Latency", "ms", "mdi:timer-outline"),
            ("detector_busy", "Detector busy", "%", "mdi:chip"),
            ("clients", "Clients", "clients", "mdi:cctv"),
        ];
        sensors
            .into_iter()
            .map(|(key, name, unit, icon)| {
                let object = format!("stats_{key}");
                let payload = json!({
                    "name": name,
                    "unique_id": format!("{}-{object}", self.topics.node()),
                    "state_topic": self.topics.stats(),
                    "value_template": format!("{{{{ value_json.{key} }}}}"),
                    "unit_of_measurement": unit,
                    "state_class": "measurement",
                    "icon": icon,
                    "availability_topic": self.topics.available(),
                    "device": self.server_device(),
                    "origin": Self::origin(),
                });
                self.config("sensor", &object, payload)
            })
            .collect()
    }
}

fn extend(config: &mut Value, more: Value) {
    if let (Some(config), Value::Object(more)) = (config.as_object_mut(), more) {
        config.extend(more);
    }
}

/// A label as Frigate's integration names it: `_` made spaces, each word capitalised
/// (`red square` is `Red Square`).
pub fn friendly(label: &str) -> String {
    label
        .replace('_', " ")
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The icon Frigate's integration gives a label's count.
pub fn icon(label: &str) -> &'static str {
    match label {
        "person" => "mdi:human",
        "car" => "mdi:car",
        "dog" => "mdi:dog-side",
        "cat" => "mdi:cat",
        "motorcycle" => "mdi:motorbike",
        "bicycle" => "mdi:bicycle",
        "cow" => "mdi:cow",
        "horse" => "mdi:horse",
        _ => "mdi:shield-alert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_point_at_their_topics_with_per_camera_availability() {
        let discovery = Discovery::new(Topics::new("nvt"), ServerInfo { web: Some("http://10.0.0.5:8080/".into()) });
        let configs = discovery.label("front-door", "red square");
        let topics: Vec<&str> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/nvt/front-door-red_square-count/config",
                "homeassistant/binary_sensor/nvt/front-door-red_square-occupancy/config",
                "homeassistant/image/nvt/front-door-red_square-snapshot/config",
            ]
        );
        let count: Value = serde_json::from_slice(&configs[0].1).expect("json");
        assert_eq!(count["state_topic"], "nvt/front-door/red_square");
        assert_eq!(count["name"], "Red Square count");
        assert_eq!(count["availability"][1]["topic"], "nvt/front-door/available");
        assert_eq!(count["availability_mode"], "all");
        assert_eq!(count["device"]["via_device"], "nvt");
        assert_eq!(count["device"]["configuration_url"], "http://10.0.0.5:8080/");
        assert!(count.get("object_id").is_none() && count.get("default_entity_id").is_none());
        let image: Value = serde_json::from_slice(&configs[2].1).expect("json");
        assert_eq!(image["image_topic"], "nvt/front-door/red_square/snapshot");
        let camera = discovery.camera("front-door");
        assert_eq!(camera[2].0, "homeassistant/event/nvt/front-door-events/config");
        let server: Value = serde_json::from_slice(&discovery.server()[0].1).expect("json");
        assert_eq!(server["device"]["identifiers"][0], "nvt");
        assert_eq!(server["value_template"], "{{ value_json.fps_in }}");
    }

    #[test]
    fn names_and_icons_as_frigates_integration_gives_them() {
        assert_eq!(friendly("person"), "Person");
        assert_eq!(friendly("traffic light"), "Traffic Light");
        assert_eq!(friendly("license_plate"), "License Plate");
        assert_eq!(
            (icon("person"), icon("dog"), icon("red square")),
            ("mdi:human", "mdi:dog-side", "mdi:shield-alert")
        );
    }
}
