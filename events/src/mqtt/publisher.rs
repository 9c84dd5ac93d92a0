//! The publisher: one thread with its own small runtime, holding what is to be published until
//! the broker has it.
//!
//! - Events go out one at a time at QoS 1, in order; an event leaves the buffer only once the
//!   broker has acknowledged it, so a broker that goes away loses none of them (one may come
//!   twice, as QoS 1 allows). While the broker is away they wait in a bounded buffer, the oldest
//!   dropped first and counted.
//! - Retained state (availability, counts, snapshots, discovery) is kept as the latest payload per
//!   topic and published again after every reconnect, so a restarted broker learns it back.
//! - `online` is published at each connect; `offline` is the last will and is published on a
//!   clean stop.

use super::settings::{MqttError, MqttSettings};
use super::topics::Topics;
use nvt_support::sync::lock;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Most cameras whose retained topics are kept for republishing; past it, a camera's state is
/// published once and not kept (a bound on memory that many short-lived camera names could
/// otherwise grow).
const MAX_CAMERAS: usize = 1024;

/// Most one-off payloads waiting (the latest per topic is kept; past the bound the oldest go).
const MAX_ONCE: usize = 1024;

/// How long an event waits for the broker's acknowledgement before it is sent again.
const ACK_PATIENCE: Duration = Duration::from_secs(10);

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
}

/// What waits to be published.
#[derive(Default)]
struct Outbox {
    /// Events, oldest first, each with its number.
    events: VecDeque<(u64, Vec<u8>)>,
    next_event: u64,
    /// The latest retained payload per topic.
    retained: BTreeMap<String, Vec<u8>>,
    /// Retained topics not yet published since they changed or since the last connect.
    dirty: BTreeSet<String>,
    /// Payloads to publish once, not kept (stats; state of cameras past the bound).
    once: VecDeque<(String, Vec<u8>, bool)>,
    /// Cameras with retained state kept, and the (camera, label) pairs announced to Home Assistant.
    cameras: HashSet<String>,
    announced: HashSet<(String, String)>,
}

struct Inner {
    outbox: Mutex<Outbox>,
    wake: Notify,
    /// Acknowledgements of the event in flight (matched by packet id).
    acked: AtomicU64,
    /// The packet id the event in flight went out with (0 until it has gone out).
    in_flight: AtomicU64,
    generation: AtomicU64,
    stats: Arc<PublisherStats>,
    topics: Topics,
    settings: MqttSettings,
    /// Every event numbered below this has left the buffer: acknowledged by the broker, or
    /// dropped and counted (see [`Publisher::settled`]).
    settled: tokio::sync::watch::Sender<u64>,
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
        let inner = Arc::new(Inner {
            outbox: Mutex::default(),
            wake: Notify::new(),
            acked: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stats: Arc::default(),
            topics,
            settings,
            settled: tokio::sync::watch::Sender::new(0),
        });
        inner.retain(&inner.topics.available(), b"online".to_vec());
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

    /// A camera is streaming: announces the `--mqtt-labels` to Home Assistant for it.
    pub fn camera(&self, camera: &str) {
        for label in self.inner.settings.labels.clone() {
            self.announce(camera, &label);
        }
    }

    /// Publishes how many of each label `camera` sees now (retained), announcing new labels to
    /// Home Assistant first. `counts` holds every label whose count changed, zeros included.
    pub fn counts(&self, camera: &str, counts: &BTreeMap<String, usize>, all: usize) {
        for (label, count) in counts {
            self.announce(camera, label);
            self.inner.retain_for(camera, self.inner.topics.count(camera, Some(label)), count.to_string().into_bytes());
        }
        self.inner.retain_for(camera, self.inner.topics.count(camera, None), all.to_string().into_bytes());
    }

    /// Publishes the latest event's snapshot for `camera` and `label` (retained).
    pub fn snapshot(&self, camera: &str, label: &str, jpeg: Vec<u8>) {
        self.inner.retain_for(camera, self.inner.topics.snapshot(camera, label), jpeg);
    }

    /// Publishes the stats line (not retained; only the latest waits while disconnected).
    pub fn stats_line(&self, json: Vec<u8>) {
        lock(&self.inner.outbox).once(self.inner.topics.stats(), json, false);
        self.inner.wake.notify_one();
    }

    /// A camera has gone: its retained state is no longer kept for republishing (its last
    /// values stay retained at the broker).
    pub fn camera_left(&self, camera: &str) {
        let prefix = format!("{}/{camera}/", self.inner.settings.prefix);
        let discovery: Vec<String> =
            lock(&self.inner.outbox).announced.iter().filter(|(c, _)| c == camera).map(|(_, l)| l.clone()).collect();
        let discovery_topics: std::collections::HashSet<String> = discovery
            .iter()
            .flat_map(|label| self.inner.topics.discovery(camera, label).into_iter().map(|(topic, _)| topic))
            .collect();
        let mut outbox = lock(&self.inner.outbox);
        let gone: Vec<String> = outbox
            .retained
            .keys()
            .filter(|t| t.starts_with(&prefix) || discovery_topics.contains(*t))
            .cloned()
            .collect();
        for topic in gone {
            // Published first if it changed and was not yet sent.
            if let Some(payload) = outbox.retained.remove(&topic) {
                if outbox.dirty.remove(&topic) {
                    outbox.once(topic, payload, true);
                }
            }
        }
        outbox.announced.retain(|(c, _)| c != camera);
        outbox.cameras.remove(camera);
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

    fn announce(&self, camera: &str, label: &str) {
        let key = (camera.to_owned(), label.to_owned());
        if lock(&self.inner.outbox).announced.contains(&key) {
            return;
        }
        for (topic, payload) in self.inner.topics.discovery(camera, label) {
            self.inner.retain_for(camera, topic, payload);
        }
        lock(&self.inner.outbox).announced.insert(key);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

impl Outbox {
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
    /// Keeps `payload` as the retained value of `topic` and marks it to publish (a one-off
    /// payload still waiting for the topic, older, is dropped).
    fn retain(&self, topic: &str, payload: Vec<u8>) {
        let mut outbox = lock(&self.outbox);
        outbox.once.retain(|(t, _, _)| t != topic);
        if outbox.retained.get(topic) != Some(&payload) {
            outbox.retained.insert(topic.to_owned(), payload);
            outbox.dirty.insert(topic.to_owned());
        }
        drop(outbox);
        self.wake.notify_one();
    }

    /// [`Inner::retain`] for a camera's topic, within the bound on cameras kept.
    fn retain_for(&self, camera: &str, topic: String, payload: Vec<u8>) {
        let mut outbox = lock(&self.outbox);
        let kept = outbox.cameras.contains(camera) || outbox.cameras.len() < MAX_CAMERAS;
        if kept {
            outbox.cameras.insert(camera.to_owned());
            drop(outbox);
            self.retain(&topic, payload);
        } else {
            outbox.once(topic, payload, true);
            drop(outbox);
            self.wake.notify_one();
        }
    }
}

fn options(settings: &MqttSettings) -> Result<MqttOptions, MqttError> {
    let mut options = MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(true);
    options.set_max_packet_size(16 << 20, 16 << 20);
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
        let mut failures = 0u64;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    failures = 0;
                    tracing::info!(host = %inner.settings.host, port = inner.settings.port, "MQTT connected");
                    {
                        let mut outbox = lock(&inner.outbox);
                        outbox.dirty = outbox.retained.keys().cloned().collect();
                    }
                    inner.stats.connects.fetch_add(1, Relaxed);
                    inner.generation.fetch_add(1, Relaxed);
                    inner.stats.connected.store(true, Relaxed);
                    inner.wake.notify_one();
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) if pkid != 0 => {
                    inner.in_flight.store(u64::from(pkid), Relaxed);
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
    // A clean stop: `offline` (retained), then a clean disconnect, so the will is not sent.
    if inner.stats.connected.load(Relaxed) {
        let offline = client.publish(inner.topics.available(), QoS::AtLeastOnce, true, b"offline".to_vec());
        let disconnect = async {
            let _ = offline.await;
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

/// Publishes what waits, while connected: retained state first, then one-off payloads, then the
/// events one at a time, each kept until acknowledged.
async fn send(inner: &Inner, client: &AsyncClient) {
    loop {
        if !inner.stats.connected.load(Relaxed) {
            inner.wake.notified().await;
            continue;
        }
        let generation = inner.generation.load(Relaxed);
        let (state, once, event) = {
            let mut outbox = lock(&inner.outbox);
            let dirty = std::mem::take(&mut outbox.dirty);
            let state: Vec<(String, Vec<u8>)> =
                dirty.into_iter().filter_map(|t| outbox.retained.get(&t).cloned().map(|p| (t, p))).collect();
            let once: Vec<_> = outbox.once.drain(..).collect();
            (state, once, outbox.events.front().cloned())
        };
        for (topic, payload) in state {
            let _ = client.publish(topic, QoS::AtMostOnce, true, payload).await;
        }
        for (topic, payload, retain) in once {
            let _ = client.publish(topic, QoS::AtMostOnce, retain, payload).await;
        }
        let Some((number, payload)) = event else {
            inner.wake.notified().await;
            continue;
        };
        let acked_before = inner.acked.load(Relaxed);
        inner.in_flight.store(0, Relaxed);
        if client.publish(inner.topics.events(), QoS::AtLeastOnce, false, payload).await.is_err() {
            continue;
        }
        let acknowledged = tokio::time::timeout(ACK_PATIENCE, async {
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
        .await
        .unwrap_or(false);
        if acknowledged {
            let mut outbox = lock(&inner.outbox);
            if outbox.events.front().is_some_and(|(n, _)| *n == number) {
                outbox.events.pop_front();
            }
            inner.settled.send_replace(outbox.settled());
            inner.stats.events_published.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
