//! The flags of tracking, events, snapshots and MQTT.

use anyhow::Context;
use clap::builder::TypedValueParser;
use nvt_events::hub::Outputs;
use nvt_events::mqtt::{read_credentials, MqttSettings, Publisher};
use nvt_events::snapshots::SnapshotStore;
use nvt_events::{EventSettings, Hub, TrackSettings};
use nvt_support::units::{duration_in, number_in};
use nvt_support::JsonLines;
use std::path::PathBuf;
use std::time::Duration;

/// The tracker's thresholds (shared by `nvt-server` and `nvt-detect`).
#[derive(Debug, Clone, clap::Args)]
pub struct TrackArgs {
    /// Tracking: detections scoring at least this are matched to tracks first; weaker ones only
    /// extend tracks (ByteTrack's second pass).
    #[arg(long, default_value_t = 0.25, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub track_high: f32,
    /// Tracking: the least score for a detection to start a new track.
    #[arg(long, default_value_t = 0.25, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub track_new: f32,
    /// Tracking: the least overlap (IoU) between a track's predicted box and a detection for
    /// them to match.
    #[arg(long, default_value_t = 0.2, value_parser = number_in(0.01, 1.0).map(|v| v as f32))]
    pub track_iou: f32,
    /// Tracking: frames a lost track is kept, so that an object hidden briefly keeps its id.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10_000).map(|n| n as usize))]
    pub track_buffer: usize,
}

impl TrackArgs {
    /// The tracker settings.
    pub fn settings(&self) -> TrackSettings {
        TrackSettings {
            high: self.track_high,
            new_track: self.track_new,
            match_iou: self.track_iou,
            buffer_frames: self.track_buffer,
        }
    }
}

/// Where events go (shared by `nvt-server` and `nvt-detect`).
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    /// Events (new, update, end of each tracked object) as JSON Lines ('-' for standard output).
    #[arg(long)]
    pub events: Option<String>,
    /// An object's event ends once it has been gone this long.
    #[arg(long, default_value = "2s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
    pub event_timeout: Duration,
    /// Save each event's best frame, its box drawn, as a JPEG in this folder (made if missing;
    /// refused if anyone may write to it).
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    /// Most snapshots kept in --snapshots; the oldest are removed first.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|n| n as usize))]
    pub snapshots_max: usize,
}

impl EventArgs {
    /// The event settings.
    pub fn settings(&self) -> EventSettings {
        EventSettings { timeout: self.event_timeout.as_secs_f64(), ..EventSettings::default() }
    }

    /// Opens the events file and the snapshot folder.
    pub fn outputs(&self) -> anyhow::Result<Outputs> {
        let log = match &self.events {
            Some(target) => Some(std::sync::Arc::new(JsonLines::open(target).context("--events")?)),
            None => None,
        };
        let snapshots = match &self.snapshots {
            Some(dir) => Some(SnapshotStore::open(dir, self.snapshots_max).context("--snapshots")?),
            None => None,
        };
        Ok(Outputs { log, snapshots, mqtt: None, others: Vec::new() })
    }
}

/// MQTT (`nvt-server` only).
#[derive(Debug, Clone, clap::Args)]
pub struct MqttArgs {
    /// Publish events, counts, snapshots, stats and Home Assistant discovery to this broker:
    /// mqtt://HOST[:PORT] or mqtts://HOST[:PORT].
    #[arg(long)]
    pub mqtt: Option<String>,
    /// The topic prefix.
    #[arg(long, default_value = "nvt", requires = "mqtt")]
    pub mqtt_prefix: String,
    /// A file with the broker's user name on its first line and the password on its second.
    #[arg(long, requires = "mqtt")]
    pub mqtt_credentials: Option<PathBuf>,
    /// mqtts: the CA certificates (PEM) the broker's certificate must chain to (default: the
    /// system's).
    #[arg(long, requires = "mqtt")]
    pub mqtt_ca: Option<PathBuf>,
    /// Labels to announce to Home Assistant for every camera at once, comma separated (the
    /// labels a camera has seen are announced anyway).
    #[arg(long, value_delimiter = ',', requires = "mqtt")]
    pub mqtt_labels: Vec<String>,
    /// Most events held while the broker is unreachable; past it the oldest are dropped (and
    /// counted in nvt_mqtt_events_dropped_total).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|n| n as usize), requires = "mqtt")]
    pub mqtt_buffer: usize,
}

impl MqttArgs {
    /// Starts the publisher, when --mqtt is given.
    pub fn start(&self) -> anyhow::Result<Option<Publisher>> {
        let Some(url) = &self.mqtt else { return Ok(None) };
        let mut settings = MqttSettings::from_url(url)?;
        MqttSettings::check_prefix(&self.mqtt_prefix)?;
        settings.prefix.clone_from(&self.mqtt_prefix);
        settings.credentials = self.mqtt_credentials.as_deref().map(read_credentials).transpose()?;
        settings.ca.clone_from(&self.mqtt_ca);
        if let Some(bad) = self.mqtt_labels.iter().find(|l| l.trim().is_empty() || l.len() > 200) {
            anyhow::bail!("--mqtt-labels: {bad:?} is not a label");
        }
        settings.labels = self.mqtt_labels.iter().map(|l| l.trim().to_owned()).collect();
        settings.buffer = self.mqtt_buffer;
        if settings.credentials.is_some() && !settings.tls {
            tracing::warn!("--mqtt-credentials over mqtt://: the password crosses the network in clear text");
        }
        Ok(Some(Publisher::start(settings)?))
    }
}

/// The events hub these flags describe; `lossless` for `nvt-detect` (see [`Hub::new`]).
pub fn hub(events: &EventArgs, mqtt: Option<Publisher>, lossless: bool) -> anyhow::Result<Hub> {
    let mut outputs = events.outputs()?;
    outputs.mqtt = mqtt;
    Ok(Hub::new(events.settings(), outputs, lossless))
}
