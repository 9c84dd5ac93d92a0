//! The schemas catch what they are there to catch: nvt's events as they were before they carried
//! Frigate's whole dictionary, and discovery configs Home Assistant would refuse or quietly cut.

use nvt_tests::schema::Schema;
use serde_json::{json, Value};

fn frigate_object() -> Value {
    json!({
        "id": "1795822210.863375-cka67y", "track_id": 1, "camera": "door", "frame_time": 1795822212.71,
        "snapshot": null, "label": "person", "sub_label": null, "top_score": 0.93, "false_positive": false,
        "start_time": 1795822210.86, "end_time": null, "score": 0.91, "box": [392, 76, 474, 158], "area": 6724,
        "ratio": 1.0, "region": [0, 0, 640, 480], "active": true, "stationary": false, "motionless_count": 0,
        "position_changes": 1, "current_zones": [], "entered_zones": [], "has_clip": false, "has_snapshot": false,
        "attributes": {}, "current_attributes": [], "pending_loitering": false, "max_severity": null,
        "current_estimated_speed": 0.0, "average_estimated_speed": 0.0, "velocity_angle": 0.0, "path_data": [],
        "recognized_license_plate": null
    })
}

#[test]
fn frigates_event_schema_takes_a_whole_event_and_refuses_what_nvt_used_to_send() {
    let schema = Schema::load("frigate-event");
    let good = json!({"type": "new", "before": frigate_object(), "after": frigate_object()});
    assert!(schema.errors(None, &good).is_empty(), "{:?}", schema.errors(None, &good));
    // The event as nvt sent it before: float boxes and areas, keys missing.
    let mut old = frigate_object();
    for key in ["sub_label", "ratio", "region", "active", "stationary", "has_clip", "has_snapshot", "attributes"] {
        old.as_object_mut().expect("object").remove(key);
    }
    old["box"] = json!([392.0, 76.5, 474.0, 158.0]);
    old["area"] = json!(6724.5);
    let errors = schema.errors(None, &json!({"type": "update", "before": old, "after": old}));
    for what in ["sub_label is missing", "ratio is missing", "has_snapshot is missing", "box[1]", ".area"] {
        assert!(errors.iter().any(|e| e.contains(what)), "{what} not caught: {errors:?}");
    }
    let mut dotted = frigate_object();
    dotted["camera"] = json!("192.168.1.20");
    assert!(!schema.errors(None, &json!({"type": "end", "before": dotted, "after": dotted})).is_empty());
    let mut extra = frigate_object();
    extra["zones"] = json!([]);
    assert!(!schema.errors(None, &json!({"type": "end", "before": extra, "after": extra})).is_empty(), "unknown keys");
}

#[test]
fn home_assistants_schemas_refuse_what_it_would_refuse_or_drop() {
    let schema = Schema::load("home-assistant-discovery");
    let base = json!({
        "name": "Person count", "unique_id": "nvt-door-person-count", "state_topic": "nvt/door/person",
        "availability": [{"topic": "nvt/available"}, {"topic": "nvt/door/available"}], "availability_mode": "all",
        "device": {"identifiers": ["nvt-door"], "name": "nvt door", "via_device": "nvt"},
        "origin": {"name": "nvt", "sw_version": "0.1.0"},
    });
    assert!(schema.errors(Some("sensor"), &base).is_empty(), "{:?}", schema.errors(Some("sensor"), &base));
    let broken = |change: &dyn Fn(&mut Value), platform: &str| {
        let mut config = base.clone();
        change(&mut config);
        schema.errors(Some(platform), &config)
    };
    assert!(!broken(&|c| c["availability_topic"] = json!("nvt/available"), "sensor").is_empty(), "both availabilities");
    assert!(!broken(&|c| c["availability_mode"] = json!("most"), "sensor").is_empty());
    assert!(!broken(&|c| c["colour"] = json!("red"), "sensor").is_empty(), "a key Home Assistant would drop");
    assert!(!broken(&|c| c["device"] = json!({"name": "no id"}), "sensor").is_empty(), "a device with no identifier");
    assert!(!broken(&|c| c["device"]["configuration_url"] = json!("10.0.0.5:8080"), "sensor").is_empty());
    assert!(!broken(&|c| c["icon"] = json!("human"), "sensor").is_empty(), "an icon without its set");
    assert!(!broken(&|c| c["device_class"] = json!("people"), "binary_sensor").is_empty());
    assert!(!broken(
        &|c| {
            c.as_object_mut().expect("object").remove("origin");
        },
        "sensor"
    )
    .is_empty());
    assert!(!broken(&|_| {}, "image").is_empty(), "an image needs image_topic or url_topic");
    assert!(!broken(&|_| {}, "event").is_empty(), "an event needs event_types");
    let image = broken(
        &|c| {
            let object = c.as_object_mut().expect("object");
            object.remove("state_topic");
            object.insert("image_topic".into(), json!("nvt/door/person/snapshot"));
            object.insert("content_type".into(), json!("image/jpeg"));
        },
        "image",
    );
    assert!(image.is_empty(), "{image:?}");
}
