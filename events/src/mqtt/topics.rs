//! Topic names and payloads: counts, snapshots, events, stats, and Home Assistant's discovery
//! configs.

use serde_json::json;

/// A label as a topic level: lower case, every character but ASCII letters and digits made `_`
/// (`red square` is `red_square`); a label that would read `all`, the total's level, is `_all`.
pub fn slug(text: &str) -> String {
    let slug: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if slug == "all" {
        "_all".into()
    } else {
        slug
    }
}

/// The topics under one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics under `prefix` (`nvt` by default).
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.trim_end_matches('/').to_owned() }
    }

    /// `online` / `offline`, retained; the last will.
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

    /// How many of `label` `camera` sees now; `None` for all labels together (`.../all`).
    pub fn count(&self, camera: &str, label: Option<&str>) -> String {
        format!("{}/{camera}/{}", self.prefix, label.map_or_else(|| "all".to_owned(), slug))
    }

    /// The latest event's snapshot for `camera` and `label`.
    pub fn snapshot(&self, camera: &str, label: &str) -> String {
        format!("{}/{camera}/{}/snapshot", self.prefix, slug(label))
    }

    /// Home Assistant discovery for `camera` and `label`: a count sensor and an occupancy binary
    /// sensor, both reading the count topic, both unavailable while nvt is offline. Returns
    /// (topic, payload) pairs.
    pub fn discovery(&self, camera: &str, label: &str) -> Vec<(String, Vec<u8>)> {
        let object = format!("{}_{}_{}", slug(&self.prefix), slug(camera), slug(label));
        let device = json!({
            "identifiers": [format!("{}_{}", slug(&self.prefix), slug(camera))],
            "name": format!("nvt {camera}"),
            "manufacturer": "nvt",
            "model": "nvt-server",
        });
        let state_topic = self.count(camera, Some(label));
        let count = json!({
            "name": format!("{label} count"),
            "unique_id": format!("{object}_count"),
            "object_id": format!("{object}_count"),
            "state_topic": state_topic,
            "availability_topic": self.available(),
            "unit_of_measurement": "objects",
            "state_class": "measurement",
            "icon": "mdi:counter",
            "device": device,
        });
        let occupancy = json!({
            "name": format!("{label} occupancy"),
            "unique_id": format!("{object}_occupancy"),
            "object_id": format!("{object}_occupancy"),
            "state_topic": state_topic,
            "availability_topic": self.available(),
            "device_class": "occupancy",
            "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}",
            "device": device,
        });
        vec![
            (format!("homeassistant/sensor/{object}_count/config"), count.to_string().into_bytes()),
            (format!("homeassistant/binary_sensor/{object}_occupancy/config"), occupancy.to_string().into_bytes()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_slugs_and_topics_nest_under_the_prefix() {
        assert_eq!(slug("red square"), "red_square");
        assert_eq!(slug("Traffic-Light/2"), "traffic_light_2");
        assert_eq!(slug("ALL"), "_all", "a label cannot take the total's topic");
        assert_eq!(slug("a/+/#"), "a____");
        let topics = Topics::new("nvt");
        assert_eq!(topics.count("door", Some("red square")), "nvt/door/red_square");
        assert_eq!(topics.count("door", None), "nvt/door/all");
        assert_eq!(topics.snapshot("door", "Person"), "nvt/door/person/snapshot");
        assert_eq!(Topics::new("home/nvt/").available(), "home/nvt/available");
    }

    #[test]
    fn discovery_configs_point_at_the_count_and_availability_topics() {
        let topics = Topics::new("nvt");
        let configs = topics.discovery("127.0.0.1", "red square");
        assert_eq!(configs[0].0, "homeassistant/sensor/nvt_127_0_0_1_red_square_count/config");
        assert_eq!(configs[1].0, "homeassistant/binary_sensor/nvt_127_0_0_1_red_square_occupancy/config");
        for (_, payload) in &configs {
            let config: serde_json::Value = serde_json::from_slice(payload).expect("json");
            assert_eq!(config["state_topic"], "nvt/127.0.0.1/red_square");
            assert_eq!(config["availability_topic"], "nvt/available");
            assert_eq!(config["device"]["identifiers"][0], "nvt_127_0_0_1");
        }
    }
}
