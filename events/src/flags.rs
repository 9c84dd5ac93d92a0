//! The flag groups of tracking, events, snapshots and MQTT, which the programs that make or
//! publish events (`nvt-server`, `nvt-detect`, `nvt-fleet mqtt`) put in their command lines.

use crate::hub::Outputs;
use crate::mqtt::{read_credentials, MqttSettings, Publisher, ServerInfo};
use crate::pictures::MqttPicture;
use crate::snapshots::SnapshotStore;
use crate::{EventSettings, Filter, Hub, ObjectFilters, TrackSettings};
use anyhow::Context;
use clap::builder::TypedValueParser;
use nvt_support::units::{duration_in, number_in};
use nvt_support::JsonLines;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Objects: a detection scoring below this is not tracked (Frigate's `min_score`), every
    /// label on every camera unless a --filter says otherwise.
    #[arg(long, default_value_t = 0.5, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub min_score: f32,
    /// Objects: the median of an object's recent scores it needs to be a true positive and make
    /// events (Frigate's `threshold`); until then it is a false positive and publishes nothing.
    #[arg(long, default_value_t = 0.7, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub threshold: f32,
    /// Objects: the smallest box area tracked, in pixels (or a fraction of the frame below 1).
    #[arg(long, default_value_t = 0.0, value_parser = number_in(0.0, 1e12))]
    pub min_area: f64,
    /// Objects: the largest box area tracked, in pixels (or a fraction of the frame below 1).
    #[arg(long, default_value_t = 24_000_000.0, value_parser = number_in(0.0, 1e12))]
    pub max_area: f64,
    /// Objects: the narrowest box tracked, width / height.
    #[arg(long, default_value_t = 0.0, value_parser = number_in(0.0, 1e12))]
    pub min_ratio: f64,
    /// Objects: the widest box tracked, width / height.
    #[arg(long, default_value_t = 24_000_000.0, value_parser = number_in(0.0, 1e12))]
    pub max_ratio: f64,
    /// Objects: a filter for one camera and label, CAMERA:LABEL:KEY=VALUE[,KEY=VALUE...] with
    /// the keys min_score, threshold, min_area, max_area, min_ratio, max_ratio and '*' for any
    /// camera or label (repeatable; the most specific wins).
    #[arg(long = "filter", value_name = "CAMERA:LABEL:KEY=VALUE")]
    pub filters: Vec<String>,
    /// Objects: the labels tracked, comma separated (Frigate's `objects.track`); all of the
    /// model's labels without it.
    #[arg(long, value_delimiter = ',')]
    pub track_labels: Vec<String>,
    /// Objects: the labels one camera tracks, CAMERA:LABEL,LABEL (repeatable), instead of
    /// --track-labels.
    #[arg(long = "camera-labels", value_name = "CAMERA:LABEL,LABEL")]
    pub camera_labels: Vec<String>,
}

impl TrackArgs {
    /// The object filters these flags describe, checked.
    pub fn objects(&self) -> anyhow::Result<Arc<ObjectFilters>> {
        let global = Filter {
            min_score: self.min_score,
            threshold: self.threshold,
            min_area: self.min_area,
            max_area: self.max_area,
            min_ratio: self.min_ratio,
            max_ratio: self.max_ratio,
        };
        let mut objects = ObjectFilters::new(global);
        for spec in &self.filters {
            objects.add_filter(spec)?;
        }
        let labels =
            |list: &str| list.split(',').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect::<Vec<_>>();
        objects.track(self.track_labels.iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
        for spec in &self.camera_labels {
            let (camera, list) =
                spec.split_once(':').filter(|(camera, _)| nvt_transport::protect::valid_name(camera)).with_context(
                    || format!("--camera-labels {spec:?}: use CAMERA:LABEL,LABEL, such as door:person,car"),
                )?;
            objects.track_on(camera, labels(list));
        }
        Ok(Arc::new(objects))
    }

    /// The tracker settings, with `objects` as the filters.
    pub fn settings(&self, objects: &Arc<ObjectFilters>) -> TrackSettings {
        TrackSettings {
            high: self.track_high,
            new_track: self.track_new,
            match_iou: self.track_iou,
            buffer_frames: self.track_buffer,
            objects: Arc::clone(objects),
        }
    }
}

/// Where events go (shared by `nvt-server` and `nvt-detect`).
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    /// Events (new, update, end of each tracked object) as JSON Lines ('-' for standard output).
    #[arg(long)]
    pub events: Option<String>,
    /// An object is let go, and its event ends, once it has been gone this long (Frigate: its
    /// `max_disappeared` frames, 5 s at its default 5 fps).
    #[arg(long, default_value = "5s", value_parser = duration_in(Duration::from_millis(100), Duration::from_secs(3600)))]
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
    /// Refuses `--events -` when the records' `--log` writes standard output too: the two kinds
    /// of lines would be mixed on one stream.
    pub fn check_standard_output(&self, log: Option<&str>) -> anyhow::Result<()> {
        if self.events.as_deref() == Some("-") && log == Some("-") {
            anyhow::bail!(
                "--log - and --events - would both write standard output, the records and events mixed: \
                 give one of them a file"
            );
        }
        Ok(())
    }

    /// The event settings, with `objects`' thresholds.
    pub fn settings(&self, objects: &Arc<ObjectFilters>) -> EventSettings {
        EventSettings {
            timeout: self.event_timeout.as_secs_f64(),
            objects: Arc::clone(objects),
            ..EventSettings::default()
        }
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
    /// How long a camera not named with --camera must be gone before its retained topics and
    /// Home Assistant entities are removed (cameras named with --camera keep theirs).
    #[arg(long, default_value = "10m", value_parser = duration_in(Duration::from_secs(1), Duration::from_secs(30 * 24 * 3600)), requires = "mqtt")]
    pub mqtt_forget: Duration,
    /// MQTT snapshots: the height in pixels (the width follows; 0 keeps the frame's size).
    #[arg(long, default_value_t = 270, value_parser = clap::value_parser!(u32).range(0..=4096), requires = "mqtt")]
    pub mqtt_snapshot_height: u32,
    /// MQTT snapshots: the JPEG quality, 1-100.
    #[arg(long, default_value_t = 70, value_parser = clap::value_parser!(u8).range(1..=100), requires = "mqtt")]
    pub mqtt_snapshot_quality: u8,
    /// MQTT snapshots: the whole frame instead of the object cropped with a margin.
    #[arg(long, requires = "mqtt")]
    pub mqtt_snapshot_no_crop: bool,
    /// MQTT snapshots: without the object's box drawn.
    #[arg(long, requires = "mqtt")]
    pub mqtt_snapshot_no_box: bool,
    /// MQTT snapshots: without the frame's time drawn.
    #[arg(long, requires = "mqtt")]
    pub mqtt_snapshot_no_timestamp: bool,
}

impl MqttArgs {
    /// Starts the publisher, when --mqtt is given: `cameras` are the --camera names, `web` the
    /// web view's address for Home Assistant's `configuration_url`.
    pub fn start(&self, cameras: Vec<String>, web: Option<String>) -> anyhow::Result<Option<Publisher>> {
        let Some(settings) = self.settings(cameras, web)? else { return Ok(None) };
        Ok(Some(Publisher::start(settings)?))
    }

    /// Starts a publisher of events only, and the availability (`nvt-fleet mqtt`): no counts,
    /// no discovery, no scan of what earlier runs left.
    pub fn start_events_only(&self) -> anyhow::Result<Option<Publisher>> {
        let Some(mut settings) = self.settings(Vec::new(), None)? else { return Ok(None) };
        settings.events_only = true;
        Ok(Some(Publisher::start(settings)?))
    }

    fn settings(&self, cameras: Vec<String>, web: Option<String>) -> anyhow::Result<Option<MqttSettings>> {
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
        settings.cameras = cameras;
        settings.forget = self.mqtt_forget;
        settings.picture = MqttPicture {
            crop: !self.mqtt_snapshot_no_crop,
            height: self.mqtt_snapshot_height,
            quality: self.mqtt_snapshot_quality,
            bounding_box: !self.mqtt_snapshot_no_box,
            timestamp: !self.mqtt_snapshot_no_timestamp,
        };
        settings.server = ServerInfo { web };
        if settings.credentials.is_some() && !settings.tls {
            tracing::warn!("--mqtt-credentials over mqtt://: the password crosses the network in clear text");
        }
        Ok(Some(settings))
    }
}

/// The events hub these flags describe; `lossless` for `nvt-detect` (see [`Hub::new`]).
pub fn hub(
    events: &EventArgs,
    objects: &Arc<ObjectFilters>,
    mqtt: Option<Publisher>,
    lossless: bool,
) -> anyhow::Result<Hub> {
    let mut outputs = events.outputs()?;
    outputs.mqtt = mqtt;
    Ok(Hub::new(events.settings(objects), outputs, lossless))
}
