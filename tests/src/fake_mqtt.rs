//! A hostile MQTT broker for the tests: a TCP server on a free loopback port speaking just
//! enough MQTT 3.1.1 and 5 to take a client in (CONNECT answered with CONNACK, PINGREQ with
//! PINGRESP), then misbehaving as [`Behaviour`] says. No real broker can be made to do this.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How the fake broker misbehaves once a client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Takes every packet and answers pings, but never acknowledges a PUBLISH or a SUBSCRIBE.
    NeverAcks,
    /// Sends junk after the CONNACK, a different kind on each connection in turn: random bytes;
    /// a PUBLISH header claiming 256 MB followed by zeros for as long as the client reads; valid
    /// 1 MiB retained PUBLISH packets, without end.
    Floods,
}

/// What the fake broker saw and did.
#[derive(Debug, Default)]
pub struct FakeStats {
    /// Connections that sent a CONNECT.
    pub connects: AtomicU64,
    /// PUBLISH packets received.
    pub publishes: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_sent: AtomicU64,
}

/// A fake broker of the test's own; stops accepting and closes its connections when dropped.
pub struct FakeBroker {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub stats: Arc<FakeStats>,
    stop: Arc<AtomicBool>,
}

impl FakeBroker {
    /// Starts listening on a free loopback port.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake broker");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stats: Arc<FakeStats> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_stats, thread_stop) = (Arc::clone(&stats), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut kind = 0u64;
            while !thread_stop.load(Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (stats, stop) = (Arc::clone(&thread_stats), Arc::clone(&thread_stop));
                        std::thread::spawn(move || serve(stream, behaviour, kind, &stats, &stop));
                        kind += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, stats, stop }
    }

    /// The URL nvt-server's `--mqtt` takes.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// One connection: reads packets, answers CONNECT and PINGREQ, and misbehaves.
fn serve(mut stream: TcpStream, behaviour: Behaviour, kind: u64, stats: &Arc<FakeStats>, stop: &Arc<AtomicBool>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let mut flooding = false;
    while !stop.load(Relaxed) {
        let Some((kind_byte, body)) = read_packet(&mut stream, stop) else { return };
        let answer: &[u8] = match kind_byte >> 4 {
            1 => {
                stats.connects.fetch_add(1, Relaxed);
                // The protocol level follows the protocol name ("MQTT", 2 + 4 bytes).
                if body.get(6) == Some(&5) {
                    &[0x20, 0x03, 0x00, 0x00, 0x00]
                } else {
                    &[0x20, 0x02, 0x00, 0x00]
                }
            }
            3 => {
                stats.publishes.fetch_add(1, Relaxed);
                &[]
            }
            12 => &[0xd0, 0x00],
            14 => return,
            _ => &[],
        };
        if stream.write_all(answer).is_err() {
            return;
        }
        if behaviour == Behaviour::Floods && !flooding && kind_byte >> 4 == 1 {
            flooding = true;
            if let Ok(writer) = stream.try_clone() {
                let (stats, stop) = (Arc::clone(stats), Arc::clone(stop));
                std::thread::spawn(move || flood(writer, kind % 3, &stats, &stop));
            }
        }
    }
}

/// Reads one packet: its first byte and its body (at most 64 KiB kept; the rest is read and
/// dropped). None when the connection ends or the broker stops.
fn read_packet(stream: &mut TcpStream, stop: &AtomicBool) -> Option<(u8, Vec<u8>)> {
    let first = read_exact(stream, 1, stop)?[0];
    let mut length = 0usize;
    for shift in 0..4 {
        let byte = read_exact(stream, 1, stop)?[0];
        length |= usize::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            break;
        }
    }
    let kept = read_exact(stream, length.min(64 << 10), stop)?;
    let mut rest = length.saturating_sub(kept.len());
    while rest > 0 {
        rest -= read_exact(stream, rest.min(64 << 10), stop)?.len();
    }
    Some((first, kept))
}

fn read_exact(stream: &mut TcpStream, n: usize, stop: &AtomicBool) -> Option<Vec<u8>> {
    let mut buffer = vec![0; n];
    let mut filled = 0;
    while filled < n {
        match stream.read(&mut buffer[filled..]) {
            Ok(0) => return None,
            Ok(read) => filled += read,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if stop.load(Relaxed) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    Some(buffer)
}

/// Writes junk of one kind until the connection or the broker ends.
fn flood(mut stream: TcpStream, kind: u64, stats: &FakeStats, stop: &AtomicBool) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ kind;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let chunk: Vec<u8> = match kind {
        0 => (0..64 << 10).map(|_| random() as u8).collect(),
        1 => {
            // PUBLISH, remaining length 268,435,455 (the most MQTT can say).
            if stream.write_all(&[0x30, 0xff, 0xff, 0xff, 0x7f]).is_err() {
                return;
            }
            vec![0; 64 << 10]
        }
        _ => {
            let topic = b"nvt/flood";
            let payload = vec![b'x'; 1 << 20];
            let remaining = 2 + topic.len() + payload.len();
            let mut packet = vec![0x31];
            let mut length = remaining;
            loop {
                let byte = (length % 128) as u8;
                length /= 128;
                packet.push(if length > 0 { byte | 0x80 } else { byte });
                if length == 0 {
                    break;
                }
            }
            packet.extend_from_slice(&(topic.len() as u16).to_be_bytes());
            packet.extend_from_slice(topic);
            packet.extend_from_slice(&payload);
            packet
        }
    };
    // Written round and round from where the last write stopped, so packets stay whole.
    let mut offset = 0;
    while !stop.load(Relaxed) {
        match stream.write(&chunk[offset..]) {
            Ok(0) => return,
            Ok(n) => {
                offset = (offset + n) % chunk.len();
                stats.bytes_sent.fetch_add(n as u64, Relaxed);
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}
