//! A real MQTT broker for the tests: Debian's `mosquitto`, started on a free loopback port with a
//! folder and config of its own, and a real MQTT client subscribed to it that writes down every
//! message it gets.

use crate::harness::{free_port, require, wait_for_port, ChildGuard};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A mosquitto process of the test's own; killed when dropped.
pub struct Mosquitto {
    /// Where it listens.
    pub addr: SocketAddr,
    config: PathBuf,
    process: Option<ChildGuard>,
}

impl Mosquitto {
    /// Starts mosquitto on a free loopback port, persisting its sessions into `dir` every second
    /// (so that a subscriber's session outlives a restart). `extra` is appended to its config
    /// (settings are per listener: a `listener` line in it starts one of its own).
    pub fn start(dir: &Path, extra: &str) -> Self {
        require("mosquitto", "-h", "mosquitto");
        std::fs::create_dir_all(dir).expect("broker dir");
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        let text = format!(
            "per_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nuser {}\n\
             autosave_interval 1\nlog_dest file {}/mosquitto.log\n{extra}",
            dir.display(),
            current_user(),
            dir.display()
        );
        std::fs::write(&config, text).expect("broker config");
        let mut broker = Self { addr: SocketAddr::from(([127, 0, 0, 1], port)), config, process: None };
        broker.restart();
        broker
    }

    /// Starts it again (after [`Mosquitto::kill`]) on the same port, with the same store.
    pub fn restart(&mut self) {
        let child = Command::new("mosquitto").arg("-c").arg(&self.config).spawn().expect("start mosquitto");
        self.process = Some(ChildGuard(child));
        wait_for_port(self.addr, Duration::from_secs(10));
    }

    /// Kills it with SIGKILL: no goodbye to anyone.
    pub fn kill(&mut self) {
        drop(self.process.take());
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing is answered; [`Mosquitto::thaw`]
    /// lets it run again.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets it run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.process.as_ref().expect("running").0.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().expect("kill").success());
    }

    /// The URL nvt-server's `--mqtt` takes.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

/// A message as the subscriber got it.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message.
    pub retain: bool,
    /// When it arrived.
    pub at: std::time::SystemTime,
}

impl Message {
    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("{}: not JSON: {e}", self.topic))
    }
}

/// A real MQTT client subscribed to `topics` at QoS 1, with a persistent session: it reconnects
/// by itself and, across a broker restart, gets what was published while it was away.
pub struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    /// Connects to `broker` and subscribes; returns once the subscription is acknowledged.
    pub fn start(broker: SocketAddr, topics: &[&str]) -> Self {
        let id = format!("nvt-test-{}-{:06x}", std::process::id(), fastrand_id());
        let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut connection) = Client::new(options, 64);
        for topic in topics {
            client.subscribe(*topic, QoS::AtLeastOnce).expect("subscribe");
        }
        let messages: Arc<Mutex<Vec<Message>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let (sink, stopping) = (Arc::clone(&messages), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for event in connection.iter() {
                if stopping.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => sink.lock().expect("messages").push(Message {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                        at: std::time::SystemTime::now(),
                    }),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
            let _ = client.disconnect();
        });
        for _ in topics {
            subscribed_rx.recv_timeout(Duration::from_secs(10)).expect("subscription acknowledged");
        }
        Self { messages, stop, thread: Some(thread) }
    }

    /// Everything received so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().expect("messages").clone()
    }

    /// The messages of one topic so far.
    pub fn on(&self, topic: &str) -> Vec<Message> {
        self.messages().into_iter().filter(|m| m.topic == topic).collect()
    }

    /// Waits up to `timeout` until `done` holds for the messages so far; returns whether it did.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Message]) -> bool) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if done(&self.messages()) {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // The thread ends at its next packet or ping (keep-alive 5 s), or when the broker goes;
        // nothing waits for it.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(self.thread.take());
    }
}

/// Who runs the test: mosquitto started as root would otherwise switch to the `mosquitto` user,
/// which cannot write into the test's folder.
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    out.ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into())
}

fn fastrand_id() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos & 0xff_ffff
}

/// Publishes each `(topic, payload)` to `broker` as retained, at QoS 1, as another program
/// would; returns once the broker has acknowledged them all.
pub fn publish_retained(broker: SocketAddr, messages: &[(&str, &[u8])]) {
    let id = format!("nvt-test-pub-{}-{:06x}", std::process::id(), fastrand_id());
    let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
    options.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut connection) = Client::new(options, 64);
    for (topic, payload) in messages {
        client.publish(*topic, QoS::AtLeastOnce, true, payload.to_vec()).expect("publish");
    }
    let (mut acked, until) = (0, Instant::now() + Duration::from_secs(10));
    for event in connection.iter() {
        if let Ok(Event::Incoming(Packet::PubAck(_))) = event {
            acked += 1;
        }
        assert!(event.is_ok() && Instant::now() < until, "publishing to the broker: {event:?}");
        if acked == messages.len() {
            break;
        }
    }
    let _ = client.disconnect();
}

/// The events of `<prefix>/events` as JSON, in the order they arrived.
pub fn events(messages: &[Message], prefix: &str) -> Vec<serde_json::Value> {
    let topic = format!("{prefix}/events");
    messages.iter().filter(|m| m.topic == topic).map(Message::json).collect()
}
