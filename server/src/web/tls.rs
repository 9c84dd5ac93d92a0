//! `--http-tls-cert`: a web connection, plain or TLS. The TLS handshake is made as the connection
//! is first read or written, inside its own task, so that a peer that handshakes slowly (or
//! never) holds up only its own connection, never the accept loop, and falls under the
//! listener's deadline for the first request head like any other.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{Accept, TlsAcceptor};

/// One web connection's bytes.
pub enum WebStream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// TLS, its handshake under way.
    Handshake(Box<Accept<TcpStream>>),
    /// TLS, the handshake done.
    Tls(Box<TlsStream<TcpStream>>),
    /// The handshake failed: the connection is of no more use.
    Failed,
}

impl WebStream {
    /// A new connection: TLS when `tls` is given.
    pub fn new(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> Self {
        match tls {
            Some(acceptor) => Self::Handshake(Box::new(acceptor.accept(tcp))),
            None => Self::Plain(tcp),
        }
    }

    /// Completes the handshake, if one is under way.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Self::Handshake(accept) = self {
            match ready!(Pin::new(accept.as_mut()).poll(cx)) {
                Ok(stream) => *self = Self::Tls(Box::new(stream)),
                Err(error) => {
                    *self = Self::Failed;
                    return Poll::Ready(Err(error));
                }
            }
        }
        match self {
            Self::Failed => Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "the TLS handshake failed"))),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for WebStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_handshake(cx))?;
        match &mut *self {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Self::Handshake(_) | Self::Failed => Poll::Pending,
        }
    }
}

impl AsyncWrite for WebStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_handshake(cx))?;
        match &mut *self {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, data),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, data),
            Self::Handshake(_) | Self::Failed => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_handshake(cx))?;
        match &mut *self {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Self::Handshake(_) | Self::Failed => Poll::Pending,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut *self {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            // Nothing was said: dropping the connection is its end.
            Self::Handshake(_) | Self::Failed => Poll::Ready(Ok(())),
        }
    }
}
