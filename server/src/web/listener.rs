//! The web view's listener: at most [`MAX_CONNECTIONS`] connections at once, at most
//! [`MAX_PER_ADDRESS`] of them from one address, and each must send its first request head within
//! [`HEAD_DEADLINE`]. Past the cap it stops accepting, so further connections wait in the kernel's
//! queue instead of taking the process's file descriptors from the camera port; past an
//! address's share (a host's: loopback is one, an IPv6 /64 is one, as for `--max-clients-per-ip`),
//! that address's new connections are closed at once, so that one peer holding
//! idle connections cannot lock the others out; a peer that trickles its head, or sends none, is
//! dropped at the deadline.

use nvt_support::sync::lock;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use super::tls::WebStream;

/// Most web connections at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Most web connections at once from one address: a browser opens at most six to a host (plus
/// a camera page's socket), so a few browsers on one machine fit, and one peer cannot take all
/// of [`MAX_CONNECTIONS`].
pub const MAX_PER_ADDRESS: usize = 16;

/// How long a new connection has to send its first request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// A [`TcpListener`] with the cap and the deadline, and TLS when it is on.
pub struct Capped {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    per_address: Arc<Shares>,
    tls: Option<TlsAcceptor>,
}

impl Capped {
    /// Caps `inner` at `max` connections at once and `per_address` from one address, each one
    /// TLS when `tls` is given.
    pub fn new(inner: TcpListener, max: usize, per_address: usize, tls: Option<TlsAcceptor>) -> Self {
        let shares = Shares { most: per_address, open: Mutex::new(HashMap::new()) };
        Self { inner, slots: Arc::new(Semaphore::new(max)), per_address: Arc::new(shares), tls }
    }
}

/// The connections open per address.
struct Shares {
    most: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's share; given back when the connection ends.
struct Share {
    shares: Arc<Shares>,
    ip: IpAddr,
}

impl Shares {
    /// A place for a connection from `ip`, if its share has room.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Share> {
        let mut open = lock(&self.open);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.most {
            return None;
        }
        *count += 1;
        Some(Share { shares: Arc::clone(self), ip })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut open = lock(&self.shares.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl axum::serve::Listener for Capped {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
                // The semaphore is never closed; wait for a slot again.
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Past its share the address's connection is closed (dropped) at once.
                    let Some(share) = self.per_address.take(crate::admission::host_of(addr.ip())) else { continue };
                    let _ = stream.set_nodelay(true);
                    return (Guarded::new(WebStream::new(stream, self.tls.as_ref()), slot, share), addr);
                }
                // Out of descriptors and the like: give the slot back and breathe.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A web connection's peer address, as handlers take it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Capped>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Capped>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A web connection: its slot, its place in its address's share, and the deadline for its first
/// request head.
pub struct Guarded {
    stream: WebStream,
    _slot: OwnedSemaphorePermit,
    _share: Share,
    /// Until the first head is in: the deadline, and how far "\r\n\r\n" has been matched.
    head: Option<(Pin<Box<Sleep>>, usize)>,
}

impl Guarded {
    fn new(stream: WebStream, slot: OwnedSemaphorePermit, share: Share) -> Self {
        Self { stream, _slot: slot, _share: share, head: Some((Box::pin(tokio::time::sleep(HEAD_DEADLINE)), 0)) }
    }
}

/// How far `matched` bytes of "\r\n\r\n" get with `bytes` more; 4 once a head has ended.
fn head_end(mut matched: usize, bytes: &[u8]) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    for &b in bytes {
        if matched == 4 {
            break;
        }
        matched = if b == END[matched] {
            matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
    }
    matched
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some((deadline, _)) = &mut this.head {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request head in time")));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((_, matched))) = (&polled, &mut this.head) {
            *matched = head_end(*matched, &buf.filled()[before..]);
            if *matched == 4 {
                this.head = None;
            }
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        assert_eq!(head_end(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 4);
        let partial = head_end(0, b"GET / HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(partial, 2);
        assert_eq!(head_end(partial, b"\r\n"), 4);
        assert_eq!(head_end(0, b"\r\r\n\r\n"), 4);
        assert_eq!(head_end(0, b"GET / HTTP/1.1\r\nX: \r\r\n"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_head_is_dropped_at_the_deadline_and_past_the_cap_nobody_is_accepted() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let mut listener = Capped::new(inner, 1, 1, None);
        let _first = TcpStream::connect(addr).await.expect("connect");
        let (mut guarded, _) = axum::serve::Listener::accept(&mut listener).await;
        // The one slot is taken: the next accept waits.
        let _second = TcpStream::connect(addr).await.expect("queued in the kernel");
        let waiting = tokio::time::timeout(Duration::from_secs(1), axum::serve::Listener::accept(&mut listener)).await;
        assert!(waiting.is_err(), "no slot, no accept");
        // The first connection sends nothing: its read fails at the deadline.
        let mut buf = [0u8; 16];
        let error = guarded.read(&mut buf).await.expect_err("deadline");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn past_its_share_a_host_is_closed_at_once_until_a_connection_ends() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let mut listener = Capped::new(inner, 8, 2, None);
        let mut held = Vec::new();
        for _ in 0..2 {
            let client = TcpStream::connect(addr).await.expect("connect");
            held.push((axum::serve::Listener::accept(&mut listener).await, client));
        }
        // A third from this host (127.0.0.2 is loopback too: the same host) is closed.
        let third = tokio::net::TcpSocket::new_v4().expect("socket");
        third.bind("127.0.0.2:0".parse().expect("addr")).expect("bind another loopback address");
        let mut third = third.connect(addr).await.expect("connect");
        let accepting = tokio::time::timeout(Duration::from_millis(500), axum::serve::Listener::accept(&mut listener));
        assert!(accepting.await.is_err(), "nothing accepted past the share");
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await.expect("closed");
        assert!(matches!(closed, Ok(0) | Err(_)), "the third connection was closed: {closed:?}");
        // A connection that ends gives its place back.
        held.pop();
        let _again = TcpStream::connect(addr).await.expect("connect");
        let (_, from) = axum::serve::Listener::accept(&mut listener).await;
        assert!(from.ip().is_loopback());
    }

    #[tokio::test]
    async fn once_the_head_is_in_there_is_no_deadline() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let mut listener = Capped::new(inner, 4, 4, None);
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /stream/1 HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send");
        let (mut guarded, _) = axum::serve::Listener::accept(&mut listener).await;
        let mut buf = [0u8; 64];
        let n = guarded.read(&mut buf).await.expect("head");
        assert!(n > 0);
        assert!(guarded.head.is_none(), "the deadline is gone with the first head");
    }
}
