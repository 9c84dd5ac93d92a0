//! The camera page's WebSocket as a byte stream, so that the classic exchange
//! (`nvt_transport::ServerConnection`) runs over it exactly as over TCP: the bytes of the binary
//! messages, in order, are the stream the page sends, however it cuts them into messages; each
//! message group the server writes goes out as one binary message when it is flushed.
//!
//! A text message is not part of the exchange and ends the connection; a close, or the socket's
//! end, is the stream's end. The WebSocket's own limits (message and frame sizes, set where it
//! is accepted) bound what one message may hold.

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{Sink, Stream as _};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A WebSocket carrying the classic exchange.
pub struct CameraSocket {
    socket: WebSocket,
    /// What the last binary message held that has not been read yet.
    unread: Bytes,
}

impl CameraSocket {
    /// Wraps an accepted WebSocket.
    pub fn new(socket: WebSocket) -> Self {
        Self { socket, unread: Bytes::new() }
    }
}

fn io_error(error: axum::Error) -> io::Error {
    io::Error::other(error)
}

impl AsyncRead for CameraSocket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.unread.is_empty() {
                let n = this.unread.len().min(buf.remaining());
                buf.put_slice(&this.unread.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.socket).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => this.unread = bytes,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text message: the camera's exchange is binary",
                    )))
                }
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
            }
        }
    }
}

impl AsyncWrite for CameraSocket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let socket = Pin::new(&mut self.socket);
        ready!(socket.poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut self.socket).start_send(Message::Binary(Bytes::copy_from_slice(data))).map_err(io_error)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_close(cx).map_err(io_error)
    }
}

impl nvt_transport::Stream for CameraSocket {
    fn tcp(&self) -> Option<&tokio::net::TcpStream> {
        None
    }
}
