//! The publisher: one thread with its own small runtime, holding what is to be published until
//! the broker has it.
//!
//! - Events go out one at a time at QoS 1, in order; an event leaves the buffer only once the
//!   broker has acknowledged it, so a broker that goes away loses none of them (one may come
//!   twice, as QoS 1 allows). While the broker is away they wait in a bounded buffer, the oldest
//!   dropped first and counted.
//! - Retained state (availability, counts, snapshots, discovery) is kept per camera
//!   ([`Retained`]) and published again after every reconnect, so a restarted broker learns it
//!   back; a camera gone for the forget time (not one named with `--camera`) has it removed.
//! - At the first connect, a scan reads what earlier runs left retained under the prefix and
//!   the discovery node: of the topics the cameras' manifests list (nvt's own, never another
//!   program's), counts of objects no longer in view are set to 0, cameras not connected are
//!   marked `offline`, and what they left is removed with them once forgotten. No retained state
//!   is published before the scan is over (at most [`SCAN_PATIENCE`]), so `online` never
//!   comes before the stale counts are cleared.
//! - A payload the broker refuses (one past its packet limit, as mosquitto's `max_packet_size`:
//!   the broker drops the connection) never blocks the rest. A packet larger than any the broker
//!   has acknowledged goes at QoS 1 and waits for its acknowledgement; when the connection drops
//!   with one in flight, that same packet goes first after the reconnect, and when it drops
//!   again the broker's limit is taken to be below it (never below [`MIN_LIMIT`]). From then on
//!   retained state is held to a goal under that limit: the geometric mean of the largest packet
//!   acknowledged and the one refused, so that a round or two find a size the broker takes. A
//!   snapshot past the goal is shrunk to it ([`crate::pictures::shrink`]) before it is sent,
//!   any other retained payload past it dropped, each counted ([`PublisherStats`]); a snapshot
//!   the goal lets through and the broker still refuses lowers it again. Each size costs the
//!   broker two dropped connections at most, and none once learnt. Events are held to the
//!   limit itself, not the goal: one the broker refuses twice in a row is dropped and counted
//!   (in the events dropped and the payloads dropped), the limit learnt from it, and the next
//!   goes. A payload refused twice that is under [`MIN_LIMIT`] is dropped alone, nothing learnt.
//! - A broker that takes events and never acknowledges them holds them in the buffer (bounded
//!   as ever); each is sent again after [`ACK_PATIENCE`], and the log says so at the first wait
//!   and then at most once a minute.
//! - `online` is published at each connect; `offline` is the last will and is published on a
//!   clean stop, with every camera's availability `offline`.

use super::discovery::Discovery;
use super::retained::{Label, Retained, MAX_MANIFEST};
use super::settings::{MqttError, MqttSettings};
use super::topics::{slug, CameraTopic, Owner, Topics};
use crate::pictures::MqttPicture;
use nvt_support::sync::lock;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Most one-off payloads waiting (the latest per topic is kept; past the bound the oldest go).
const MAX_ONCE: usize = 1024;

/// How long an event waits for the broker's acknowledgement before it is sent again.
const ACK_PATIENCE: Duration = Duration::from_secs(10);

/// The longest a start-up scan waits for its marker to come back.
const SCAN_PATIENCE: Duration = Duration::from_secs(5);

/// Most retained messages a start-up scan takes in (a broker holding more under nvt's prefix
/// has the rest left alone).
const MAX_SCANNED: usize = 100_000;

/// Bytes of a retained payload a scan keeps: enough for a count or `online` / `offline`
/// (manifests are kept whole, up to [`MAX_MANIFEST`]).
const MAX_SCANNED_PAYLOAD: usize = 32;

/// Most bytes (topics and payloads) a start-up scan keeps, whatever the broker sends.
const MAX_SCANNED_BYTES: usize = 64 << 20;

/// The largest packet nvt sends or takes (rumqttc's bound, both ways).
const MAX_PACKET: usize = 16 << 20;

/// The smallest packet limit nvt ever takes a broker to have (brokers take far more: AWS IoT
/// 128 KB, EMQX 1 MB, mosquitto what `max_packet_size` says, 16 KiB say): a packet this small
/// that the connection dropped twice with is dropped alone, nothing learnt from it.
const MIN_LIMIT: usize = 1 << 10;

/// Most bytes of messages nvt did not ask for (none once the start-up scan is over) a
/// connection takes before it is dropped: a broker flooding its client costs that connection,
/// not a core for as long as it floods.
const MAX_UNASKED: usize = 64 << 20;

/// Most bytes of messages a connection takes while the start-up scan may still be reading
/// retained state (of which it keeps at most [`MAX_SCANNED_BYTES`]).
const MAX_SCAN_READ: usize = 256 << 20;

/// How often at most the log says that the broker leaves events unacknowledged.
const UNACKED_LOG_EVERY: Duration = Duration::from_secs(60);

/// Most labels with topics, over every camera (two labels never share a slug; remembering which
/// label has which takes memory).
const MAX_SLUGS: usize = 4096;

/// What the publisher has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Events the broker has acknowledged.
    pub events_published: AtomicU64,
    /// Events dropped from a full buffer, oldest first.
    pub events_dropped: AtomicU64,
    /// Connections made to the broker (1 after the first, more after reconnects).
    pub connects: AtomicU64,
    /// Whether the broker is connected now.
    pub connected: AtomicBool,
    /// Snapshots shrunk to fit under the broker's packet limit.
    pub payloads_resized: AtomicU64,
    /// Payloads dropped because they did not fit under the broker's packet limit.
    pub payloads_dropped: AtomicU64,
}

/// What waits to be published.
struct Outbox {
    /// Events, oldest first, each with its number.
    events: VecDeque<(u64, Vec<u8>)>,
    next_event: u64,
    /// The retained state, per camera.
    retained: Retained,
    /// Payloads to publish once, not kept (stats).
    once: VecDeque<(String, Vec<u8>, bool)>,
    /// Label slugs in use and the label each stands for, so that two labels never share topics.
    slugs: HashMap<String, String>,
    /// Cameras whose state could not be kept (past the bound), warned about once.
    refused: u64,
    /// Labels that could have no topics (past a bound), warned about now and then.
    refused_labels: u64,
}

/// Where the start-up scan stands.
#[derive(Default)]
struct Scan {
    /// Retained messages found so far: topic and payload.
    found: Vec<(String, Vec<u8>)>,
    /// Their bytes.
    bytes: usize,
    started: Option<Instant>,
    done: bool,
}

struct Inner {
    outbox: Mutex<Outbox>,
    scan: Mutex<Scan>,
    wake: Notify,
    /// Acknowledgements of the event in flight (matched by packet id).
    acked: AtomicU64,
    /// The packet id the event in flight went out with (0 until it has gone out).
    in_flight: AtomicU64,
    generation: AtomicU64,
    stats: Arc<PublisherStats>,
    topics: Topics,
    discovery: Discovery,
    settings: MqttSettings,
    /// The publisher's clock: seconds since it started.
    started: Instant,
    /// Every event numbered below this has left the buffer: acknowledged by the broker, or
    /// dropped and counted (see [`Publisher::settled`]).
    settled: tokio::sync::watch::Sender<u64>,
    /// Packet sizes: the largest the broker has acknowledged, the largest it is taken to
    /// accept, and the size a snapshot past that is shrunk to.
    accepted: AtomicUsize,
    limit: AtomicUsize,
    goal: AtomicUsize,
    /// A retained packet in flight when the connection dropped, sent first after the reconnect.
    suspect: Mutex<Option<(String, Vec<u8>)>>,
    /// When the log last said that the broker leaves an event unacknowledged.
    unacked_logged: Mutex<Option<Instant>>,
}

/// A handle to the publisher; cheap to share.
pub struct Publisher {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: Arc<Notify>,
}

impl Publisher {
    /// Starts publishing to the broker `settings` names. Nothing connects before this returns,
    /// and a broker that cannot be reached is retried every second for as long as nvt runs.
    pub fn start(settings: MqttSettings) -> Result<Self, MqttError> {
        let options = options(&settings)?;
        let topics = Topics::new(&settings.prefix);
        let discovery = Discovery::new(topics.clone(), settings.server.clone());
        let outbox = Outbox {
            events: VecDeque::new(),
            next_event: 0,
            retained: Retained::new(topics.clone(), settings.cameras.clone(), settings.forget.as_secs_f64()),
            once: VecDeque::new(),
            slugs: HashMap::new(),
            refused: 0,
            refused_labels: 0,
        };
        let inner = Arc::new(Inner {
            outbox: Mutex::new(outbox),
            scan: Mutex::default(),
            wake: Notify::new(),
            acked: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stats: Arc::default(),
            topics,
            discovery,
            settings,
            started: Instant::now(),
            settled: tokio::sync::watch::Sender::new(0),
            accepted: AtomicUsize::new(0),
            limit: AtomicUsize::new(MAX_PACKET),
            goal: AtomicUsize::new(MAX_PACKET),
            suspect: Mutex::new(None),
            unacked_logged: Mutex::new(None),
        });
        {
            let mut outbox = lock(&inner.outbox);
            outbox.retained.set(&inner.topics.available(), b"online".to_vec());
            if !inner.settings.events_only {
                for (topic, payload) in inner.discovery.server() {
                    outbox.retained.set(&topic, payload);
                }
            }
        }
        // The --camera cameras have their entities from the start, unavailable until they come.
        for camera in inner.settings.cameras.clone() {
            inner.camera_state(&camera, false);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MqttError::Tls(format!("cannot start the MQTT runtime: {e}")))?;
        let stop = Arc::new(Notify::new());
        let (task_inner, task_stop) = (Arc::clone(&inner), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || runtime.block_on(run(task_inner, options, task_stop)))
            .map_err(|e| MqttError::Tls(format!("cannot start the MQTT thread: {e}")))?;
        Ok(Self { inner, thread: Mutex::new(Some(thread)), stop })
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> Arc<PublisherStats> {
        Arc::clone(&self.inner.stats)
    }

    /// How MQTT snapshots are made.
    pub fn picture(&self) -> MqttPicture {
        self.inner.settings.picture
    }

    /// Queues an event (JSON) for `<prefix>/events`.
    pub fn event(&self, json: Vec<u8>) {
        self.numbered_event(json);
    }

    /// [`Publisher::event`], returning the event's number (they count up from 0), which
    /// [`Publisher::settled`] passes once the event has left the buffer.
    pub fn numbered_event(&self, json: Vec<u8>) -> u64 {
        let mut outbox = lock(&self.inner.outbox);
        let number = outbox.next_event;
        outbox.next_event += 1;
        outbox.events.push_back((number, json));
        let mut dropped = false;
        while outbox.events.len() > self.inner.settings.buffer.max(1) {
            outbox.events.pop_front();
            self.inner.stats.events_dropped.fetch_add(1, Relaxed);
            dropped = true;
        }
        if dropped {
            self.inner.settled.send_replace(outbox.settled());
        }
        drop(outbox);
        self.inner.wake.notify_one();
        number
    }

    /// Watches how far events have gone: every event numbered below the value has left the
    /// buffer, acknowledged by the broker (QoS 1) or dropped (counted in
    /// [`PublisherStats::events_dropped`]). A caller that must not lose an event (the fleet's
    /// bridge) keeps its own copy until then.
    pub fn settled(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.settled.subscribe()
    }

    /// A camera is streaming: it is available, with its entities and the `--mqtt-labels`'.
    pub fn camera(&self, camera: &str) {
        self.inner.camera_state(camera, true);
    }

    /// Publishes how many of each label `camera` sees now (retained), announcing new labels to
    /// Home Assistant first. `counts` holds every label whose count changed, zeros included.
    pub fn counts(&self, camera: &str, counts: &BTreeMap<String, usize>, all: usize) {
        for (label, count) in counts {
            if self.inner.announce(camera, label) {
                self.inner.retain_for(
                    camera,
                    &self.inner.topics.count(camera, Some(label)),
                    count.to_string().into_bytes(),
                );
            }
        }
        self.inner.retain_for(camera, &self.inner.topics.count(camera, None), all.to_string().into_bytes());
    }

    /// Publishes the latest snapshot for `camera` and `label` (retained).
    pub fn snapshot(&self, camera: &str, label: &str, jpeg: Vec<u8>) {
        if self.inner.announce(camera, label) {
            self.inner.retain_for(camera, &self.inner.topics.snapshot(camera, label), jpeg);
        }
    }

    /// Publishes the stats line (not retained; only the latest waits while disconnected).
    pub fn stats_line(&self, json: Vec<u8>) {
        lock(&self.inner.outbox).once(self.inner.topics.stats(), json, false);
        self.inner.wake.notify_one();
    }

    /// A camera has gone: it is unavailable, and (unless named with `--camera`) its retained
    /// topics and entities are removed once it has been gone for the forget time. Its counts
    /// were set to 0 before.
    pub fn camera_left(&self, camera: &str) {
        let now = self.inner.now();
        let mut outbox = lock(&self.inner.outbox);
        let topic = self.inner.topics.camera_available(camera);
        if outbox.retained.connected(camera) {
            outbox.retained.set_for(camera, &topic, b"offline".to_vec(), now);
        }
        outbox.retained.left(camera, now);
        drop(outbox);
        self.inner.wake.notify_one();
    }

    /// Events waiting for the broker.
    pub fn pending_events(&self) -> usize {
        lock(&self.inner.outbox).events.len()
    }

    /// Stops: waits up to `patience` for the waiting events to go out, publishes `offline`, and
    /// disconnects.
    pub fn stop(&self, patience: Duration) {
        let Some(thread) = lock(&self.thread).take() else { return };
        let until = std::time::Instant::now() + patience;
        while self.pending_events() > 0 && std::time::Instant::now() < until {
            if !self.inner.stats.connected.load(Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.notify_one();
        let _ = thread.join();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

impl Outbox {
    /// Counts a label that can have no topics (warned at the 1st, 2nd, 4th, ... time); false.
    fn refuse_label(&mut self, camera: &str, label: &str) -> bool {
        self.refused_labels += 1;
        if self.refused_labels.is_power_of_two() {
            tracing::warn!(
                camera,
                label = %label.escape_debug(),
                refused = self.refused_labels,
                "MQTT: too many labels to publish topics for; this one has none"
            );
        }
        false
    }

    /// The number of the oldest event still waiting (the next one's when none waits).
    fn settled(&self) -> u64 {
        self.events.front().map_or(self.next_event, |(n, _)| *n)
    }

    /// Queues a one-off payload, replacing one waiting for the same topic.
    fn once(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        self.once.retain(|(t, _, _)| t != &topic);
        self.once.push_back((topic, payload, retain));
        while self.once.len() > MAX_ONCE {
            self.once.pop_front();
        }
    }
}

impl Inner {
    /// Seconds since the publisher started.
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// A camera's availability and entities: `online` when it has connected, `offline` for a
    /// `--camera` one not (yet) there.
    fn camera_state(&self, camera: &str, connected: bool) {
        let now = self.now();
        let mut outbox = lock(&self.outbox);
        let kept = if connected { outbox.retained.joined(camera, now) } else { outbox.retained.keep(camera, now) };
        if !kept {
            outbox.refused += 1;
            if outbox.refused.is_power_of_two() {
                tracing::warn!(
                    camera,
                    refused = outbox.refused,
                    "MQTT: too many cameras to keep state for; this one publishes none"
                );
            }
            return;
        }
        let availability = if connected { &b"online"[..] } else { &b"offline"[..] };
        outbox.retained.set_for(camera, &self.topics.camera_available(camera), availability.to_vec(), now);
        if outbox.retained.announce_camera(camera) {
            for (topic, payload) in self.discovery.camera(camera) {
                outbox.retained.set_for(camera, &topic, payload, now);
            }
            if !outbox.retained.holds(&self.topics.count(camera, None)) {
                outbox.retained.set_for(camera, &self.topics.count(camera, None), b"0".to_vec(), now);
            }
        }
        drop(outbox);
        for label in self.settings.labels.clone() {
            self.announce(camera, &label);
        }
        self.wake.notify_one();
    }

    /// Publishes `label`'s discovery configs for `camera` the first time; false when the label
    /// cannot have topics (its slug is another label's, the camera is not kept, or it has too
    /// many labels).
    fn announce(&self, camera: &str, label: &str) -> bool {
        let now = self.now();
        let mut outbox = lock(&self.outbox);
        if outbox.retained.announced(camera, label) {
            return true;
        }
        let level = slug(label);
        match outbox.slugs.get(&level) {
            Some(owner) if owner != label => {
                tracing::warn!(label, other = %owner, slug = %level, "MQTT: two labels would share topics; this one has none");
                return false;
            }
            Some(_) => {}
            None if outbox.slugs.len() >= MAX_SLUGS => return outbox.refuse_label(camera, label),
            None => {
                outbox.slugs.insert(level, label.to_owned());
            }
        }
        if !outbox.retained.keep(camera, now) {
            return false;
        }
        let configs = self.discovery.label(camera, label);
        let count = self.topics.count(camera, Some(label));
        let snapshot = self.topics.snapshot(camera, label);
        let listed = configs.iter().map(|(topic, _)| topic.len()).sum::<usize>() + count.len() + snapshot.len();
        match outbox.retained.announce(camera, label, listed + 3 * (configs.len() + 2)) {
            Label::Refused => return outbox.refuse_label(camera, label),
            Label::Known => {}
            Label::New => {
                for (topic, payload) in configs {
                    outbox.retained.set_for(camera, &topic, payload, now);
                }
                if !outbox.retained.holds(&count) {
                    outbox.retained.set_for(camera, &count, b"0".to_vec(), now);
                }
            }
        }
        drop(outbox);
        self.wake.notify_one();
        true
    }

    /// Keeps `payload` as the retained value of `camera`'s `topic` and marks it to publish.
    fn retain_for(&self, camera: &str, topic: &str, payload: Vec<u8>) {
        let now = self.now();
        lock(&self.outbox).retained.set_for(camera, topic, payload, now);
        self.wake.notify_one();
    }

    /// The start-up scan is over. Only the topics a camera's manifest lists are nvt's: of
    /// those, counts of objects no longer in view become 0, cameras not connected `offline`, and
    /// all are the camera's, to go with it. Any other topic found is left as it is.
    fn settle_scan(&self, found: Vec<(String, Vec<u8>)>) {
        let now = self.now();
        let mut listed: HashMap<String, String> = HashMap::new();
        let mut manifests = Vec::new();
        for (topic, payload) in &found {
            let Owner::Manifest { camera } = self.topics.owner(topic) else { continue };
            let Ok(topics) = serde_json::from_slice::<Vec<String>>(payload) else { continue };
            // A manifest names only topics nvt would write for its own camera.
            for topic in topics.into_iter().filter(|t| self.topics.owner(t).camera() == Some(camera.as_str())) {
                listed.insert(topic, camera.clone());
            }
            manifests.push(camera);
        }
        let mut outbox = lock(&self.outbox);
        for camera in &manifests {
            outbox.retained.found_manifest(camera, now);
        }
        let (mut zeroed, mut kept, mut foreign) = (0usize, 0usize, 0usize);
        for (topic, payload) in found {
            if matches!(self.topics.owner(&topic), Owner::Manifest { .. }) {
                continue;
            }
            let Some(camera) = listed.get(&topic) else {
                foreign += 1;
                continue;
            };
            if outbox.retained.holds(&topic) || !outbox.retained.found(camera, &topic, now) {
                continue;
            }
            kept += 1;
            let text = String::from_utf8_lossy(&payload);
            match self.topics.owner(&topic) {
                Owner::Camera { kind: CameraTopic::Count, .. } if text.trim().parse::<u64>().is_ok_and(|n| n > 0) => {
                    outbox.retained.set_for(camera, &topic, b"0".to_vec(), now);
                    zeroed += 1;
                }
                Owner::Camera { kind: CameraTopic::Available, .. }
                    if !outbox.retained.connected(camera) && text != "offline" =>
                {
                    outbox.retained.set_for(camera, &topic, b"offline".to_vec(), now);
                }
                _ => {}
            }
        }
        drop(outbox);
        tracing::info!(
            found = kept,
            counts_cleared = zeroed,
            left_alone = foreign,
            "MQTT: retained state of earlier runs read (only topics nvt's manifests list)"
        );
        self.wake.notify_one();
    }

    /// Whether messages may be the start-up scan's: it has started, its marker has not come
    /// back, and it has waited less than [`SCAN_PATIENCE`].
    fn scan_open(&self) -> bool {
        let scan = lock(&self.scan);
        !scan.done && scan.started.is_some_and(|started| started.elapsed() < SCAN_PATIENCE)
    }

    /// Whether the start-up scan is going on.
    fn scanning(&self) -> bool {
        lock(&self.scan).started.is_some()
    }
}

fn options(settings: &MqttSettings) -> Result<MqttOptions, MqttError> {
    let mut options = MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(true);
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    options.set_request_channel_capacity(64);
    let will = format!("{}/available", settings.prefix.trim_end_matches('/'));
    options.set_last_will(LastWill::new(will, "offline", QoS::AtLeastOnce, true));
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    if settings.tls {
        options.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(tls(settings)?))));
    }
    Ok(options)
}

fn tls(settings: &MqttSettings) -> Result<rustls::ClientConfig, MqttError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let ca = settings.ca.clone().unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let file_error = |reason: String| MqttError::File { what: "MQTT CA certificates", path: ca.clone(), reason };
    let pem = nvt_support::files::read_regular(&ca, 16 << 20).map_err(|e| file_error(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| file_error(e.to_string()))?;
        roots.add(cert).map_err(|e| file_error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(file_error("no certificates in it".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The two halves: the connection (rumqttc's event loop) and the sender.
async fn run(inner: Arc<Inner>, options: MqttOptions, stop: Arc<Notify>) {
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let connection = async {
        let (mut failures, mut unasked) = (0u64, 0usize);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    (failures, unasked) = (0, 0);
                    tracing::info!(host = %inner.settings.host, port = inner.settings.port, "MQTT connected");
                    lock(&inner.outbox).retained.all_dirty();
                    let first = inner.stats.connects.load(Relaxed) == 0;
                    if first && !inner.settings.events_only {
                        start_scan(&inner, &client);
                    }
                    inner.stats.connects.fetch_add(1, Relaxed);
                    inner.generation.fetch_add(1, Relaxed);
                    inner.stats.connected.store(true, Relaxed);
                    inner.wake.notify_one();
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) if pkid != 0 => {
                    inner.in_flight.store(u64::from(pkid), Relaxed);
                }
                Ok(Event::Incoming(Packet::Publish(message))) => {
                    let budget = if inner.scan_open() {
                        inner.scanned(&message.topic, message.retain, &message.payload);
                        MAX_SCAN_READ
                    } else {
                        MAX_UNASKED
                    };
                    unasked += message.topic.len() + message.payload.len();
                    if unasked > budget {
                        tracing::warn!(
                            bytes = unasked,
                            "MQTT: the broker floods nvt with messages it never asked for; the connection is dropped"
                        );
                        eventloop.network = None;
                        eventloop.clean();
                        inner.stats.connected.store(false, Relaxed);
                        inner.wake.notify_one();
                        unasked = 0;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    // Only the event in flight's own acknowledgement counts: a late one for an
                    // earlier copy must not let the next event leave unacknowledged.
                    if u64::from(ack.pkid) == inner.in_flight.load(Relaxed) {
                        inner.acked.fetch_add(1, Relaxed);
                        inner.wake.notify_one();
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let was = inner.stats.connected.swap(false, Relaxed);
                    inner.wake.notify_one();
                    if was {
                        tracing::warn!(%error, "MQTT connection lost; events wait in the buffer");
                    } else if failures.is_multiple_of(30) {
                        tracing::warn!(%error, host = %inner.settings.host, port = inner.settings.port, "cannot reach the MQTT broker; retrying every second");
                    }
                    failures += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    let sender = send(&inner, &client);
    tokio::select! {
        () = connection => {}
        () = sender => {}
        () = stop.notified() => {}
    }
    // A clean stop: the last state (the cameras' counts at 0, their availability `offline`),
    // then `offline` (retained), then a clean disconnect, so the will is not sent.
    if inner.stats.connected.load(Relaxed) {
        let disconnect = async {
            let (state, clears) = {
                let mut outbox = lock(&inner.outbox);
                (outbox.retained.take_dirty(), outbox.retained.take_clears())
            };
            let limit = inner.ceiling();
            for (topic, payload) in state.into_iter().filter(|(t, p)| packet_size(t, p.len()) <= limit) {
                let _ = client.publish(topic, QoS::AtLeastOnce, true, payload).await;
            }
            for topic in clears {
                let _ = client.publish(topic, QoS::AtLeastOnce, true, Vec::new()).await;
            }
            let _ = client.publish(inner.topics.available(), QoS::AtLeastOnce, true, b"offline".to_vec()).await;
            let _ = client.disconnect().await;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), disconnect).await;
    }
}

/// Subscribes to every retained topic earlier runs may have left, then sends the marker that
/// ends the scan when it comes back.
fn start_scan(inner: &Inner, client: &AsyncClient) {
    lock(&inner.scan).started = Some(Instant::now());
    // Called from the connection's own loop: requests are queued without waiting, as the loop
    // that sends them is this one.
    for filter in inner.topics.scan_filters() {
        let _ = client.try_subscribe(filter, QoS::AtMostOnce);
    }
    let marker = inner.topics.scan_marker(&inner.settings.client_id);
    let _ = client.try_subscribe(marker.clone(), QoS::AtMostOnce);
    let _ = client.try_publish(marker, QoS::AtMostOnce, false, Vec::new());
}

impl Inner {
    /// A message the scan's subscriptions brought: a retained one is kept, the marker ends it.
    fn scanned(&self, topic: &str, retain: bool, payload: &[u8]) {
        let mut scan = lock(&self.scan);
        if scan.done {
            return;
        }
        if topic == self.topics.scan_marker(&self.settings.client_id) {
            scan.done = true;
            drop(scan);
            self.wake.notify_one();
        } else if retain && !payload.is_empty() && scan.found.len() < MAX_SCANNED {
            // Only manifests, counts and availability are read, and only a manifest is long: a
            // snapshot's or a config's bytes are not kept, and the whole is bounded, so memory
            // stays bounded whatever the broker holds.
            let manifest = matches!(self.topics.owner(topic), Owner::Manifest { .. });
            let keep = if manifest { MAX_MANIFEST } else { MAX_SCANNED_PAYLOAD };
            if manifest && payload.len() > keep {
                return;
            }
            let kept = &payload[..payload.len().min(keep)];
            if scan.bytes + topic.len() + kept.len() > MAX_SCANNED_BYTES {
                return;
            }
            scan.bytes += topic.len() + kept.len();
            scan.found.push((topic.to_owned(), kept.to_vec()));
        }
    }
}

/// Ends the scan once its marker came back or it waited long enough: settles what it found and
/// unsubscribes.
async fn finish_scan(inner: &Inner, client: &AsyncClient) {
    let found = {
        let mut scan = lock(&inner.scan);
        let Some(started) = scan.started else { return };
        if !scan.done && started.elapsed() < SCAN_PATIENCE {
            return;
        }
        scan.done = true;
        scan.started = None;
        scan.bytes = 0;
        std::mem::take(&mut scan.found)
    };
    inner.settle_scan(found);
    for filter in inner.topics.scan_filters() {
        let _ = client.unsubscribe(filter).await;
    }
    let _ = client.unsubscribe(inner.topics.scan_marker(&inner.settings.client_id)).await;
}

/// The size of an MQTT 3.1.1 PUBLISH packet of `topic` and `payload` bytes at QoS 1.
fn packet_size(topic: &str, payload: usize) -> usize {
    let remaining = 2 + topic.len() + 2 + payload;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

/// How a publish went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Sent (acknowledged, when it had to be).
    Done,
    /// Past the broker's packet limit: not sent.
    TooBig,
    /// The connection dropped while it was in flight, and it is larger than any packet the
    /// broker has acknowledged.
    Lost,
    /// Not acknowledged (the connection dropped, or the broker did not answer in time): to be
    /// sent again.
    Failed,
}

/// Publishes one payload, minding the broker's packet limit: one past it is not sent; one
/// larger than any the broker has acknowledged goes at QoS 1 and is waited for (as is every one
/// with `acked`); the rest go at QoS 0.
async fn deliver(
    inner: &Inner,
    client: &AsyncClient,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    acked: bool,
) -> Sent {
    let size = packet_size(&topic, payload.len());
    // Events go up to the limit; the rest is held to the goal under it.
    let bound = if acked && !retain { inner.limit.load(Relaxed) } else { inner.ceiling() };
    if size > bound {
        return Sent::TooBig;
    }
    if !acked && size <= inner.accepted.load(Relaxed) {
        let _ = client.publish(topic, QoS::AtMostOnce, retain, payload).await;
        return Sent::Done;
    }
    let generation = inner.generation.load(Relaxed);
    let acked_before = inner.acked.load(Relaxed);
    inner.in_flight.store(0, Relaxed);
    if client.publish(topic.clone(), QoS::AtLeastOnce, retain, payload).await.is_err() {
        return Sent::Failed;
    }
    let answer = tokio::time::timeout(ACK_PATIENCE, async {
        loop {
            if inner.acked.load(Relaxed) > acked_before {
                return true;
            }
            if inner.generation.load(Relaxed) != generation || !inner.stats.connected.load(Relaxed) {
                return false;
            }
            inner.wake.notified().await;
        }
    })
    .await;
    match answer {
        Ok(true) => {
            inner.accepted.fetch_max(size, Relaxed);
            Sent::Done
        }
        Ok(false) if size > inner.accepted.load(Relaxed) => Sent::Lost,
        Ok(false) => Sent::Failed,
        Err(_) => {
            inner.unacknowledged(&topic);
            Sent::Failed
        }
    }
}

impl Inner {
    /// The largest retained or one-off packet sent: the limit, or the goal under it once the
    /// broker has refused a packet.
    fn ceiling(&self) -> usize {
        self.limit.load(Relaxed).min(self.goal.load(Relaxed))
    }

    /// The broker has not acknowledged a packet of `topic` within [`ACK_PATIENCE`]: said at the
    /// first time and then at most every [`UNACKED_LOG_EVERY`].
    fn unacknowledged(&self, topic: &str) {
        let mut logged = lock(&self.unacked_logged);
        if logged.is_some_and(|at| at.elapsed() < UNACKED_LOG_EVERY) {
            return;
        }
        *logged = Some(Instant::now());
        drop(logged);
        tracing::warn!(
            topic = %topic.escape_debug(),
            pending = lock(&self.outbox).events.len(),
            patience_seconds = ACK_PATIENCE.as_secs(),
            "MQTT: the broker has not acknowledged a message in time; it is sent again, and events wait in the buffer (said at most once a minute)"
        );
    }

    /// The connection dropped twice with a packet of `size` bytes in flight: the broker's limit
    /// is below it (unless it is under [`MIN_LIMIT`]: then nothing is learnt).
    fn refused(&self, topic: &str, size: usize) {
        if size <= MIN_LIMIT {
            tracing::warn!(
                topic = %topic.escape_debug(),
                bytes = size,
                "MQTT: the connection dropped twice with this small packet in flight; it is dropped"
            );
            return;
        }
        self.limit.fetch_min(size - 1, Relaxed);
        // The geometric mean of the largest packet acknowledged and this one: a refused
        // snapshot of 2 MB with 4 kB acknowledged tries 90 kB, then 19 kB.
        let accepted = self.accepted.load(Relaxed).max(1024) as f64;
        self.goal.fetch_min((accepted * size as f64).sqrt() as usize, Relaxed);
        tracing::warn!(
            topic = %topic.escape_debug(),
            bytes = size,
            "MQTT: the broker drops the connection on a packet this large; larger ones are shrunk or dropped"
        );
    }
}

/// Publishes the retained state that changed (a snapshot past the broker's limit shrunk to fit,
/// anything else past it dropped), and removes the topics of forgotten cameras.
async fn publish_state(inner: &Inner, client: &AsyncClient) {
    let suspect = lock(&inner.suspect).take();
    if let Some((topic, payload)) = suspect {
        // Dropped once with it in flight: dropped again, it is the broker's answer.
        let (length, size) = (payload.len(), packet_size(&topic, payload.len()));
        match deliver(inner, client, topic.clone(), payload, true, true).await {
            Sent::Done | Sent::Failed => {}
            Sent::Lost => {
                // Shrunk to the new goal, or dropped: never sent as it is a third time.
                inner.refused(&topic, size);
                if size > MIN_LIMIT {
                    inner.too_big(&topic, length);
                } else {
                    inner.drop_retained(&topic, length);
                }
                return;
            }
            Sent::TooBig => inner.too_big(&topic, length),
        }
    }
    let (state, clears) = {
        let mut outbox = lock(&inner.outbox);
        (outbox.retained.take_dirty(), outbox.retained.take_clears())
    };
    for (topic, payload) in state {
        let length = payload.len();
        let probe = packet_size(&topic, length) > inner.accepted.load(Relaxed);
        let copy = probe.then(|| payload.clone());
        match deliver(inner, client, topic.clone(), payload, true, false).await {
            Sent::Done => {}
            Sent::Lost => {
                // The rest goes again after the reconnect; this one first.
                *lock(&inner.suspect) = copy.map(|payload| (topic, payload));
                return;
            }
            Sent::Failed => {
                if !inner.stats.connected.load(Relaxed) {
                    return;
                }
            }
            Sent::TooBig => inner.too_big(&topic, length),
        }
    }
    for topic in clears {
        let _ = client.publish(topic, QoS::AtMostOnce, true, Vec::new()).await;
    }
}

impl Inner {
    /// A retained payload of `topic` (`length` bytes) is past the broker's limit: a snapshot is
    /// shrunk to fit (published at the next round), anything else dropped.
    fn too_big(&self, topic: &str, length: usize) {
        let room = self.ceiling().saturating_sub(packet_size(topic, 0));
        let mut outbox = lock(&self.outbox);
        let snapshot = matches!(self.topics.owner(topic), Owner::Camera { kind: CameraTopic::Snapshot, .. });
        let smaller = snapshot
            .then(|| outbox.retained.payload(topic).and_then(|jpeg| crate::pictures::shrink(jpeg, room)))
            .flatten();
        match smaller {
            Some(smaller) => {
                self.stats.payloads_resized.fetch_add(1, Relaxed);
                outbox.retained.set(topic, smaller);
                drop(outbox);
                self.wake.notify_one();
            }
            None => {
                drop(outbox);
                self.drop_retained(topic, length);
            }
        }
    }

    /// Drops the retained payload of `topic` (`length` bytes), counted: it waits for its next
    /// value.
    fn drop_retained(&self, topic: &str, length: usize) {
        self.stats.payloads_dropped.fetch_add(1, Relaxed);
        lock(&self.outbox).retained.discard(topic);
        tracing::warn!(topic = %topic.escape_debug(), bytes = length, "MQTT: a payload too large for the broker is dropped");
        self.wake.notify_one();
    }
}

/// Publishes what waits, while connected: retained state first, then one-off payloads, then the
/// events one at a time, each kept until acknowledged (one too large for the broker dropped and
/// counted). Once a second it ends the start-up scan when due and forgets the cameras gone for
/// the forget time.
async fn send(inner: &Inner, client: &AsyncClient) {
    // The event the connection dropped with in flight, once: dropped with it again, it is the
    // broker refusing it.
    let mut lost_once: Option<u64> = None;
    loop {
        if !inner.stats.connected.load(Relaxed) {
            let _ = tokio::time::timeout(Duration::from_secs(1), inner.wake.notified()).await;
            continue;
        }
        finish_scan(inner, client).await;
        // Nothing retained (`online` included) before the scan has cleared what is stale.
        if !inner.scanning() {
            let now = inner.now();
            lock(&inner.outbox).retained.forget_due(now);
            publish_state(inner, client).await;
        }
        let (once, event) = {
            let mut outbox = lock(&inner.outbox);
            let once: Vec<_> = outbox.once.drain(..).collect();
            (once, outbox.events.front().cloned())
        };
        for (topic, payload, retain) in once {
            if deliver(inner, client, topic, payload, retain, false).await == Sent::TooBig {
                inner.stats.payloads_dropped.fetch_add(1, Relaxed);
            }
        }
        if !inner.stats.connected.load(Relaxed) {
            continue;
        }
        let Some((number, payload)) = event else {
            let _ = tokio::time::timeout(Duration::from_secs(1), inner.wake.notified()).await;
            continue;
        };
        let (topic, size) = (inner.topics.events(), packet_size(&inner.topics.events(), payload.len()));
        let mut sent = deliver(inner, client, topic.clone(), payload, false, true).await;
        if sent == Sent::Lost {
            if lost_once != Some(number) {
                lost_once = Some(number);
                continue;
            }
            inner.refused(&topic, size);
            tracing::warn!(bytes = size, "MQTT: an event the broker refuses is dropped");
            sent = Sent::TooBig;
        }
        if sent == Sent::Failed {
            continue;
        }
        lost_once = None;
        let mut outbox = lock(&inner.outbox);
        if outbox.events.front().is_some_and(|(n, _)| *n == number) {
            outbox.events.pop_front();
        }
        inner.settled.send_replace(outbox.settled());
        if sent == Sent::Done {
            inner.stats.events_published.fetch_add(1, Relaxed);
        } else {
            inner.stats.payloads_dropped.fetch_add(1, Relaxed);
            inner.stats.events_dropped.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_up_scan_keeps_bounded_memory_whatever_the_broker_sends() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let settings = MqttSettings::from_url(&format!("mqtt://127.0.0.1:{}", port.expect("port"))).expect("url");
        let publisher = Publisher::start(settings).expect("start");
        let inner = &publisher.inner;
        lock(&inner.scan).started = Some(Instant::now());
        // A hostile broker: 4000 retained messages with 60 kB topics and 1 MB payloads (4 GB).
        let payload = vec![b'7'; 1 << 20];
        for i in 0..4000 {
            inner.scanned(&format!("nvt/c{i}/{}", "x".repeat(60_000)), true, &payload);
        }
        // Manifests are kept whole up to their bound, and refused past it.
        let manifest = serde_json::to_vec(&vec!["nvt/door/all"; 10]).expect("json");
        let huge = vec![b' '; MAX_MANIFEST + 1];
        {
            let mut scan = lock(&inner.scan);
            scan.found.clear();
            scan.bytes = 0;
        }
        inner.scanned("nvt/_nvt/door/manifest", true, &manifest);
        inner.scanned("nvt/_nvt/yard/manifest", true, &huge);
        let scan = lock(&inner.scan);
        assert_eq!(scan.found.len(), 1);
        assert_eq!(scan.found[0].1, manifest);
        drop(scan);
        // Back to the flood: never past the bound.
        lock(&inner.scan).bytes = 0;
        for i in 0..4000 {
            inner.scanned(&format!("nvt/c{i}/{}", "x".repeat(60_000)), true, &payload);
        }
        let scan = lock(&inner.scan);
        assert!(scan.bytes <= MAX_SCANNED_BYTES, "{}", scan.bytes);
        assert!(scan.found.iter().skip(1).all(|(_, p)| p.len() <= MAX_SCANNED_PAYLOAD));
        let held: usize = scan.found.iter().map(|(t, p)| t.len() + p.len()).sum();
        assert!(held <= MAX_SCANNED_BYTES + manifest.len() + 64, "{held}");
        drop(scan);
        publisher.stop(Duration::from_millis(100));
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_events_and_counts_them() {
        // A port nothing listens on: the publisher retries in the background, events wait.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let mut settings = MqttSettings::from_url(&format!("mqtt://127.0.0.1:{}", port.expect("port"))).expect("url");
        settings.buffer = 3;
        let publisher = Publisher::start(settings).expect("start");
        let settled = publisher.settled();
        for n in 0..5u8 {
            assert_eq!(publisher.numbered_event(vec![n]), u64::from(n));
        }
        let stats = publisher.stats();
        assert_eq!(stats.events_dropped.load(Relaxed), 2);
        assert_eq!(*settled.borrow(), 2, "the two dropped have left the buffer; the rest wait");
        assert_eq!(publisher.pending_events(), 3);
        let kept: Vec<Vec<u8>> = lock(&publisher.inner.outbox).events.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(kept, [vec![2], vec![3], vec![4]], "the newest are kept, in order");
        publisher.stop(Duration::from_millis(100));
    }
}
