//! What the protocol runs over: plain TCP, or TLS over TCP, behind one trait, so that the
//! exchange code ([`crate::conn`]) and protected mode ([`crate::protect`]) need not know which.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream the protocol runs over: plain TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket underneath, for socket options.
    fn tcp(&self) -> &TcpStream;

    /// Whether what is written is sealed in records the reader sees only once each has arrived
    /// whole (TLS: up to 16 KiB each).
    fn sealed(&self) -> bool {
        false
    }
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn sealed(&self) -> bool {
        true
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn sealed(&self) -> bool {
        true
    }
}
