//! Telling what the other end speaks when it is not what we expected: a client pointed at a web
//! server, a classic client at a TLS port, a TLS client at a classic one. Each side keeps the
//! first bytes the peer sent and, when the conversation fails before it began, reads them:
//! `HTTP/1.1 400` from a server, `GET /` from a client, a TLS record (`16 03` a handshake,
//! `15 03` an alert), or plain text where TLS was expected.

use crate::stream::Stream;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How many of the peer's first bytes are kept.
pub const KEPT: usize = 16;

/// What a peer turned out to speak, when it is not the protocol expected of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// HTTP: a web server (a client's side), or a browser or HTTP client (a server's side).
    Http,
    /// TLS, where the protocol runs without it.
    Tls,
    /// Plain bytes, where TLS was expected.
    Plain,
    /// Another protocol altogether (a NATS, SSH, SMTP or Redis server, ...): its first bytes are
    /// no timestamp (a client's side).
    Other,
}

/// The HTTP request methods a client's first bytes may start with.
const METHODS: [&[u8]; 9] =
    [b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];

/// Whether `bytes` start a TLS record (a handshake, an alert, ...): a content type from 20 to
/// 24 and major version 3.
pub fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [20..=24, 3, ..])
}

/// What a server's first bytes say it speaks, when that is not the classic protocol (a
/// timestamp) or, with `tls`, TLS.
pub fn server_speaks(first: &[u8], tls: bool) -> Option<Foreign> {
    if first.starts_with(b"HTTP/") {
        return Some(Foreign::Http);
    }
    match (tls, is_tls_record(first)) {
        (false, true) => Some(Foreign::Tls),
        (true, false) if !first.is_empty() => Some(Foreign::Plain),
        // A classic timestamp starts with a digit (`str(time.time())`).
        (false, false) if first.first().is_some_and(|b| !b.is_ascii_digit()) => Some(Foreign::Other),
        _ => None,
    }
}

/// What a client's first bytes say it speaks, when that is not what the port expects: an HTTP
/// request anywhere, TLS where `tls` is off, plain bytes where it is on.
pub fn client_speaks(first: &[u8], tls: bool) -> Option<Foreign> {
    if METHODS.iter().any(|m| first.starts_with(m)) {
        return Some(Foreign::Http);
    }
    match (tls, is_tls_record(first)) {
        (false, true) => Some(Foreign::Tls),
        (true, false) if !first.is_empty() => Some(Foreign::Plain),
        _ => None,
    }
}

/// The first bytes a [`Sniffed`] stream read, shared with whoever asks after the stream is
/// gone (a failed TLS handshake consumes it).
#[derive(Debug, Clone, Default)]
pub struct Opening(Arc<Mutex<Vec<u8>>>);

impl Opening {
    /// The bytes kept so far (at most [`KEPT`]).
    pub fn bytes(&self) -> Vec<u8> {
        nvt_support::sync::lock(&self.0).clone()
    }

    fn keep(&self, read: &[u8]) {
        let mut kept = nvt_support::sync::lock(&self.0);
        let room = KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&read[..room.min(read.len())]);
    }
}

/// A TCP stream that keeps the first [`KEPT`] bytes it reads in an [`Opening`].
pub struct Sniffed {
    tcp: TcpStream,
    opening: Opening,
}

impl Sniffed {
    /// Wraps `tcp`; the returned [`Opening`] fills as the stream is read.
    pub fn new(tcp: TcpStream) -> (Self, Opening) {
        let opening = Opening::default();
        (Self { tcp, opening: opening.clone() }, opening)
    }
}

impl AsyncRead for Sniffed {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.opening.keep(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl Stream for Sniffed {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(&self.tcp)
    }
}

impl Stream for tokio_rustls::client::TlsStream<Sniffed> {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(&self.get_ref().0.tcp)
    }

    fn sealed(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_tells_http_tls_and_plain_bytes_apart() {
        assert_eq!(server_speaks(b"HTTP/1.1 400 Bad Request", false), Some(Foreign::Http));
        assert_eq!(server_speaks(b"HTTP/1.1 400 Bad Request", true), Some(Foreign::Http));
        assert_eq!(server_speaks(&[0x15, 0x03, 0x03, 0x00, 0x02], false), Some(Foreign::Tls), "an alert");
        assert_eq!(server_speaks(b"1795698744.6040227  ", true), Some(Foreign::Plain), "a classic server");
        assert_eq!(server_speaks(b"1795698744.6040227  ", false), None, "a timestamp is what we expect");
        assert_eq!(server_speaks(&[0x16, 0x03, 0x03], true), None, "TLS is what we expect");
        assert_eq!(server_speaks(b"", true), None, "nothing came");
        assert_eq!(server_speaks(b"INFO {\"server_id\":\"N\"}\r\n", false), Some(Foreign::Other), "a NATS server");
        assert_eq!(server_speaks(b"SSH-2.0-OpenSSH_9.2\r\n", false), Some(Foreign::Other));
        assert_eq!(server_speaks(b"", false), None, "nothing came");
        assert_eq!(client_speaks(b"GET / HTTP/1.1\r\n", false), Some(Foreign::Http));
        assert_eq!(client_speaks(b"POST /api/model ", true), Some(Foreign::Http));
        assert_eq!(client_speaks(&[0x16, 0x03, 0x01, 0x02, 0x00], false), Some(Foreign::Tls), "a client hello");
        assert_eq!(client_speaks(b"s3cret  ", true), Some(Foreign::Plain), "a token in clear text");
        assert_eq!(client_speaks(b"196400     ", false), None, "a length field");
        assert_eq!(client_speaks(b"GETTER", false), None);
    }
}
