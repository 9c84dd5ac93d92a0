//! What the protocol runs over: plain TCP, TLS over TCP, or anything else that carries bytes in
//! order (the web view's camera page runs it over a WebSocket), behind one trait, so that the
//! exchange code ([`crate::conn`]) and protected mode ([`crate::protect`]) need not know which.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream the protocol runs over. Writes are flushed after each message group, so a
/// stream may buffer what it is given until then.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket directly underneath, for socket options; `None` when the bytes travel
    /// inside another protocol that owns the socket (a WebSocket).
    fn tcp(&self) -> Option<&TcpStream>;

    /// Whether what is written is sealed in records the reader sees only once each has arrived
    /// whole (TLS: up to 16 KiB each).
    fn sealed(&self) -> bool {
        false
    }
}

impl Stream for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }

    fn sealed(&self) -> bool {
        true
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }

    fn sealed(&self) -> bool {
        true
    }
}
