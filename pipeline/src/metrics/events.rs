//! The events' and MQTT's series, read from the events hub at scrape time.

use nvt_events::Hub;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// `nvt_events_total{type}`, `nvt_snapshot_errors_total`, `nvt_events_frames_skipped_total`,
/// `nvt_events_objects_refused_total`, and with MQTT
/// `nvt_mqtt_events_published_total`, `nvt_mqtt_events_dropped_total`,
/// `nvt_mqtt_events_pending`, `nvt_mqtt_connects_total`, `nvt_mqtt_connected`,
/// `nvt_mqtt_payloads_resized_total` and `nvt_mqtt_payloads_dropped_total`.
pub struct EventCollector {
    hub: Arc<Hub>,
    descs: Vec<Desc>,
}

const SERIES: [(&str, &str); 11] = [
    ("nvt_events_total", "Events made, by type (new, update, end)"),
    ("nvt_snapshot_errors_total", "Snapshots that could not be saved"),
    ("nvt_mqtt_events_published_total", "Events the MQTT broker acknowledged"),
    ("nvt_mqtt_events_dropped_total", "Events dropped from the full MQTT buffer, oldest first"),
    ("nvt_mqtt_events_pending", "Events waiting for the MQTT broker"),
    ("nvt_mqtt_connects_total", "Connections made to the MQTT broker"),
    ("nvt_mqtt_connected", "1 while the MQTT broker is connected"),
    ("nvt_events_frames_skipped_total", "Frames left out of events because the events queue was full"),
    ("nvt_events_objects_refused_total", "New tracks left out of events because their camera's book was full"),
    ("nvt_mqtt_payloads_resized_total", "MQTT snapshots shrunk to fit under the broker's packet limit"),
    ("nvt_mqtt_payloads_dropped_total", "MQTT payloads dropped because the broker's packet limit refuses them"),
];

impl EventCollector {
    /// Reads `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        let descs = SERIES
            .iter()
            .filter_map(|(name, help)| Desc::new((*name).into(), (*help).into(), vec![], Default::default()).ok())
            .collect();
        Self { hub, descs }
    }
}

impl Collector for EventCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let made = &self.hub.made;
        let mut families = Vec::new();
        if let Ok(events) = IntCounterVec::new(Opts::new(SERIES[0].0, SERIES[0].1), &["type"]) {
            for (kind, counter) in [("new", &made.new), ("update", &made.update), ("end", &made.end)] {
                events.with_label_values(&[kind]).inc_by(counter.load(Relaxed));
            }
            families.extend(events.collect());
        }
        let mut counter = |(name, help): (&str, &str), value: u64| {
            if let Ok(c) = IntCounter::new(name, help) {
                c.inc_by(value);
                families.extend(c.collect());
            }
        };
        counter(SERIES[1], made.snapshot_errors.load(Relaxed));
        counter(SERIES[7], made.frames_skipped.load(Relaxed));
        counter(SERIES[8], made.objects_refused.load(Relaxed));
        if let Some(mqtt) = self.hub.mqtt() {
            let stats = mqtt.stats();
            counter(SERIES[2], stats.events_published.load(Relaxed));
            counter(SERIES[3], stats.events_dropped.load(Relaxed));
            counter(SERIES[5], stats.connects.load(Relaxed));
            counter(SERIES[9], stats.payloads_resized.load(Relaxed));
            counter(SERIES[10], stats.payloads_dropped.load(Relaxed));
            let mut gauge = |(name, help): (&str, &str), value: i64| {
                if let Ok(g) = IntGauge::new(name, help) {
                    g.set(value);
                    families.extend(g.collect());
                }
            };
            gauge(SERIES[4], mqtt.pending_events() as i64);
            gauge(SERIES[6], i64::from(stats.connected.load(Relaxed)));
        }
        families
    }
}
