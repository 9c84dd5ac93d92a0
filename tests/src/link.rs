//! A network link between two loopback sockets, emulated in user space: a TCP proxy whose two
//! directions each pass bytes at a set rate through a bounded queue, after a one-way delay with
//! jitter, and stop passing anything during stalls. It needs neither root nor a network
//! namespace, so every test can put its client and server on two ends of a Wi-Fi link, a home
//! uplink, a 4G uplink or another continent.
//!
//! Each direction is modelled as a real bottleneck is: a byte waits in the queue until the link
//! has sent everything before it (serialisation at `rate`), then travels for `delay` plus up to
//! `jitter`, in order. When the queue holds more than `queue` worth of sending time, the proxy
//! stops reading from the sender, whose own socket buffers then fill as they would behind a
//! congested router. The endpoints see the link's round trip in everything they time, but their
//! kernels see only the loopback hop to the proxy, as behind any tunnel or proxy.
//!
//! What it does not model is TCP's own timing across the link: each end's ACKs come from the
//! proxy at once. A sender that waits on Nagle's algorithm for an ACK (an original server, which
//! sets no TCP_NODELAY) waits one loopback hop here, where a real link would make it wait a round
//! trip.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Direction {
    /// Bits per second; `None` passes bytes as fast as loopback does.
    pub rate_bps: Option<f64>,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Up to this much more delay, drawn anew for every chunk (order is kept).
    pub jitter: Duration,
    /// The most sending time the queue holds before the sender is held back.
    pub queue: Duration,
}

/// Periodic outages: nothing passes for `length`, every `every`, starting `every` after a
/// connection opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stalls {
    /// Time from one stall's start to the next.
    pub every: Duration,
    /// How long each lasts.
    pub length: Duration,
}

/// A whole link: both directions and its stalls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// A short name for reports.
    pub name: &'static str,
    /// Client to server.
    pub up: Direction,
    /// Server to client.
    pub down: Direction,
    /// Outages of both directions at once.
    pub stalls: Option<Stalls>,
}

impl LinkSpec {
    /// A symmetric link of `mbps` megabits per second (`None`: unlimited) and `rtt` round trip.
    pub const fn symmetric(name: &'static str, mbps: Option<f64>, rtt: Duration) -> Self {
        let rate_bps = match mbps {
            Some(m) => Some(m * 1e6),
            None => None,
        };
        // Half the round trip each way; the queue of a typical home router or access point.
        let one_way = Duration::from_nanos(rtt.as_nanos() as u64 / 2);
        let direction =
            Direction { rate_bps, delay: one_way, jitter: Duration::ZERO, queue: Duration::from_millis(100) };
        Self { name, up: direction, down: direction, stalls: None }
    }

    /// The same link with up to `jitter` more delay each way.
    pub const fn with_jitter(mut self, name: &'static str, jitter: Duration) -> Self {
        self.name = name;
        self.up.jitter = jitter;
        self.down.jitter = jitter;
        self
    }

    /// The same link with outages.
    pub const fn with_stalls(mut self, name: &'static str, stalls: Stalls) -> Self {
        self.name = name;
        self.stalls = Some(stalls);
        self
    }

    /// The round trip without queueing or jitter.
    pub fn rtt(&self) -> Duration {
        self.up.delay + self.down.delay
    }
}

/// The links people stream over, as the tests and `links-bench` run them.
pub const LINKS: [LinkSpec; 6] = [
    LinkSpec::symmetric("loopback", None, Duration::ZERO),
    LinkSpec::symmetric("50 Mbit/s, 6 ms (good Wi-Fi)", Some(50.0), Duration::from_millis(6)),
    LinkSpec::symmetric("20 Mbit/s, 6 ms (ordinary Wi-Fi)", Some(20.0), Duration::from_millis(6)),
    LinkSpec::symmetric("10 Mbit/s, 30 ms (home uplink)", Some(10.0), Duration::from_millis(30)),
    LinkSpec::symmetric("5 Mbit/s, 60 ms (4G uplink)", Some(5.0), Duration::from_millis(60)),
    LinkSpec::symmetric("unlimited, 120 ms (another continent)", None, Duration::from_millis(120)),
];

/// Ordinary Wi-Fi with jitter, and with a 300 ms hiccup every 3 s.
pub const ROUGH_LINKS: [LinkSpec; 2] = [
    LINKS[2].with_jitter("20 Mbit/s, 6 ms + 0-10 ms jitter", Duration::from_millis(10)),
    LINKS[2].with_stalls(
        "20 Mbit/s, 6 ms + 300 ms stall every 3 s",
        Stalls { every: Duration::from_secs(3), length: Duration::from_millis(300) },
    ),
];

/// A running link: connect to [`Link::addr`] to reach the target through it.
pub struct Link {
    /// Where the link's near end listens.
    pub addr: SocketAddr,
    /// Bytes that have crossed, client to server and server to client.
    pub carried: Arc<Carried>,
    task: JoinHandle<()>,
}

/// Bytes a link has carried each way, over all its connections.
#[derive(Debug, Default)]
pub struct Carried {
    /// Client to server.
    pub up: AtomicU64,
    /// Server to client.
    pub down: AtomicU64,
}

impl Link {
    /// Starts a link on a free loopback port that leads to `target`.
    pub async fn start(target: SocketAddr, spec: LinkSpec) -> std::io::Result<Self> {
        Self::start_at("127.0.0.1:0".parse().expect("address"), target, spec).await
    }

    /// Starts a link listening on `near` that leads to `target` (a web view's port on another
    /// loopback address, `127.0.0.2`, keeps the port its `Host` must name).
    pub async fn start_at(near: SocketAddr, target: SocketAddr, spec: LinkSpec) -> std::io::Result<Self> {
        let listener = TcpListener::bind(near).await?;
        let addr = listener.local_addr()?;
        let carried = Arc::new(Carried::default());
        let counts = Arc::clone(&carried);
        let task = tokio::spawn(async move {
            while let Ok((near, _)) = listener.accept().await {
                let Ok(far) = TcpStream::connect(target).await else { continue };
                tokio::spawn(connection(near, far, spec, Arc::clone(&counts)));
            }
        });
        Ok(Self { addr, carried, task })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries one connection both ways until either side closes.
async fn connection(near: TcpStream, far: TcpStream, spec: LinkSpec, carried: Arc<Carried>) {
    let _ = near.set_nodelay(true);
    let _ = far.set_nodelay(true);
    let opened = Instant::now();
    let outages = Arc::new(Outages { opened, stalls: spec.stalls });
    let (near_read, near_write) = near.into_split();
    let (far_read, far_write) = far.into_split();
    let up = Way { spec: spec.up, outages: Arc::clone(&outages), carried: Arc::clone(&carried), up: true };
    let down = Way { spec: spec.down, outages, carried, up: false };
    let up = tokio::spawn(pipe(near_read, far_write, up, 0x9e37_79b9_7f4a_7c15));
    let down = tokio::spawn(pipe(far_read, near_write, down, 0x2545_f491_4f6c_dd1d));
    let _ = tokio::join!(up, down);
}

/// When the link passes nothing.
struct Outages {
    opened: Instant,
    stalls: Option<Stalls>,
}

impl Outages {
    /// The earliest moment at or after `at` when the link is not stalled.
    fn clear_at(&self, at: Instant) -> Instant {
        let Some(stalls) = self.stalls else { return at };
        let since = at.saturating_duration_since(self.opened);
        let period = stalls.every.as_nanos().max(1);
        let cycles = since.as_nanos() / period;
        let into = since.as_nanos() % period;
        // Stalls start at every whole period after the first.
        if cycles >= 1 && into < stalls.length.as_nanos() {
            let start = self.opened + Duration::from_nanos((cycles * period) as u64);
            return start + stalls.length;
        }
        at
    }
}

/// The most bytes read at once: a chunk leaves as one, so it stays near a few packets' worth
/// of sending time at the link's rate.
fn chunk_size(rate_bps: Option<f64>) -> usize {
    match rate_bps {
        Some(bps) => ((bps / 8.0 * 0.002) as usize).clamp(1500, 64 * 1024),
        None => 64 * 1024,
    }
}

/// One direction of one connection.
struct Way {
    spec: Direction,
    outages: Arc<Outages>,
    carried: Arc<Carried>,
    up: bool,
}

/// One direction: reads as the queue allows, writes each chunk when it has crossed.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, way: Way, seed: u64) {
    let Way { spec: way, outages, carried, up } = way;
    let count = move |n: usize| {
        let counter = if up { &carried.up } else { &carried.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    };
    // Enough chunks for the longest queue and delay; the queue bound is in time, not count.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
            count(bytes.len());
        }
        let _ = to.shutdown().await;
    });
    let mut random = seed;
    let mut link_free = Instant::now();
    let mut last_arrival = Instant::now();
    let mut buf = vec![0u8; chunk_size(way.rate_bps)];
    loop {
        // Behind a full queue the sender waits, as behind a congested router.
        let backlog = link_free.saturating_duration_since(Instant::now());
        if backlog > way.queue {
            tokio::time::sleep(backlog - way.queue).await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Acknowledge at once, as nvt's own peers do: a delayed ACK on the proxy's loopback hop
        // would stall a sender that waits on Nagle (an original server) for up to 40 ms that no
        // real link would add in that place.
        let _ = socket2::SockRef::from(from.as_ref()).set_quickack(true);
        let now = Instant::now();
        let sending = way.rate_bps.map_or(Duration::ZERO, |bps| Duration::from_secs_f64(n as f64 * 8.0 / bps));
        let start = outages.clear_at(link_free.max(now));
        let mut sent = start + sending;
        // A stall that begins while the chunk is being sent holds the rest of it.
        let cleared = outages.clear_at(sent);
        if cleared > sent {
            sent = cleared + sending;
        }
        link_free = sent;
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let jitter = way.jitter.mul_f64((random % 1000) as f64 / 1000.0);
        let arrival = (sent + way.delay + jitter).max(last_arrival);
        last_arrival = arrival;
        if tx.send((arrival, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = sock.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_small_message_crosses_in_one_round_trip() {
        let link = Link::start(echo_server().await, LinkSpec::symmetric("t", None, Duration::from_millis(60)))
            .await
            .expect("link");
        let mut sock = TcpStream::connect(link.addr).await.expect("connect");
        let started = std::time::Instant::now();
        sock.write_all(b"ping").await.expect("write");
        let mut back = [0u8; 4];
        sock.read_exact(&mut back).await.expect("read");
        let rtt = started.elapsed();
        assert_eq!(&back, b"ping");
        assert!(rtt >= Duration::from_millis(60) && rtt < Duration::from_millis(90), "{rtt:?}");
    }

    #[tokio::test]
    async fn bulk_data_crosses_at_the_link_rate() {
        // 250 KB each way over 10 Mbit/s: 200 ms to send, twice (the echo), plus the round trip.
        let link = Link::start(echo_server().await, LinkSpec::symmetric("t", Some(10.0), Duration::from_millis(10)))
            .await
            .expect("link");
        let sock = TcpStream::connect(link.addr).await.expect("connect");
        let (mut r, mut w) = sock.into_split();
        let payload = vec![7u8; 250_000];
        let started = std::time::Instant::now();
        let writer = tokio::spawn(async move { w.write_all(&payload).await });
        let mut got = vec![0u8; 250_000];
        r.read_exact(&mut got).await.expect("read");
        let elapsed = started.elapsed();
        writer.await.expect("join").expect("write");
        // Echoed as it arrives, so the two directions overlap: about one sending time.
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(320), "{elapsed:?}");
    }

    #[test]
    fn a_stall_holds_what_falls_in_it_until_it_ends() {
        let opened = Instant::now();
        let outages = Outages {
            opened,
            stalls: Some(Stalls { every: Duration::from_secs(3), length: Duration::from_millis(300) }),
        };
        assert_eq!(
            outages.clear_at(opened + Duration::from_secs(1)),
            opened + Duration::from_secs(1),
            "no stall before the first period"
        );
        assert_eq!(outages.clear_at(opened + Duration::from_millis(3100)), opened + Duration::from_millis(3300));
        assert_eq!(outages.clear_at(opened + Duration::from_millis(3400)), opened + Duration::from_millis(3400));
        assert_eq!(outages.clear_at(opened + Duration::from_millis(6000)), opened + Duration::from_millis(6300));
    }
}
