//! The thin tokio layer over the codecs: exact, bounded reads with timeouts; each group of
//! messages in one write; TCP_NODELAY, and TCP_QUICKACK after every read so that the original
//! peers' separate small writes never wait ~40 ms on a delayed ACK.

use crate::arrival::Arrival;
use crate::codec::{ClientCodec, ServerCodec, ServerEvent, Verdict};
use crate::error::TransportError;
use crate::field::{Field, FIELD_LEN, REPLY_LEN};
use crate::freshness::{Freshness, Judgement, MaxLag};
use crate::stream::Stream;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// The largest single read; a large frame arrives in several.
const READ_CHUNK: usize = 256 * 1024;

/// Limits that keep one peer from holding resources forever.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest payload accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Longest wait for any byte from the peer (and for a write to drain).
    pub read_timeout: Duration,
    /// Longest time from sending a timestamp to having the whole frame and echo back.
    pub exchange_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 8 << 20,
            read_timeout: Duration::from_secs(10),
            exchange_timeout: Duration::from_secs(30),
        }
    }
}

/// Unix seconds now, the value the timestamp field carries.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A frame the server has received and judged.
#[derive(Debug)]
pub struct ReceivedFrame {
    /// The image bytes.
    pub payload: Bytes,
    /// Fresh or stale, by `--max-lag`.
    pub verdict: Verdict,
    /// What the freshness rule measured: the link's round trip, the client's wait, the upload.
    pub judgement: Judgement,
    /// When the frame's last byte arrived.
    pub arrived: Instant,
    /// When the timestamp it answers went out, when its first byte came and its last: what
    /// [`crate::Pacer`] learns the client's frame interval from.
    pub times: Arrival,
}

/// The server's end of one client connection.
pub struct ServerConnection {
    stream: Box<dyn Stream>,
    buf: BytesMut,
    codec: ServerCodec,
    limits: Limits,
    sent_at: Instant,
    freshness: Freshness,
}

impl ServerConnection {
    /// Takes an accepted stream (plain, or admitted by [`crate::protect::Guard`]) and sends the
    /// first timestamp, as the original does at once. Frames are judged by `rule`.
    pub async fn start(stream: Box<dyn Stream>, limits: Limits, rule: MaxLag) -> Result<Self, TransportError> {
        stream.tcp().set_nodelay(true)?;
        let mut conn = Self {
            stream,
            buf: BytesMut::new(),
            codec: ServerCodec::new(limits.max_frame_bytes),
            limits,
            sent_at: Instant::now(),
            freshness: Freshness::new(rule),
        };
        let ts = conn.codec.begin(unix_now());
        conn.sent_at = Instant::now();
        write_timed(&mut conn.stream, &ts, conn.limits.read_timeout).await?;
        Ok(conn)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.tcp().peer_addr()
    }

    /// The link's round trip as learned from this connection's responses so far.
    pub fn rtt(&self) -> Option<Duration> {
        self.freshness.rtt()
    }

    /// The freshness rule this connection applies.
    pub fn rule(&self) -> MaxLag {
        self.freshness.rule()
    }

    /// Reads the next frame and judges it. A peer that closes between frames gives
    /// [`TransportError::Closed`] with [`TransportError::is_clean_close`] true.
    pub async fn next_frame(&mut self) -> Result<ReceivedFrame, TransportError> {
        let deadline = self.sent_at + self.limits.exchange_timeout;
        let mut started = None;
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                let arrived = Instant::now();
                self.codec.check_echo(&frame.echo)?;
                let times = Arrival { asked: self.sent_at, started: started.unwrap_or(arrived), arrived };
                let judgement = self.freshness.judge(times);
                let verdict = if judgement.stale.is_some() { Verdict::Stale } else { Verdict::Fresh };
                return Ok(ReceivedFrame { payload: frame.payload, verdict, judgement, arrived, times });
            }
            let at_boundary = self.codec.at_boundary(self.buf.len());
            let waiting_for = if at_boundary { "the next message" } else { "the rest of a frame" };
            let needed = self.codec.needed(self.buf.len());
            match read_some(&mut self.stream, &mut self.buf, needed, &self.limits, deadline, waiting_for).await {
                // A peer that resets between frames has simply gone, like one that closes.
                Err(TransportError::Io(e)) if at_boundary && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(TransportError::Closed(waiting_for));
                }
                other => other?,
            }
            started.get_or_insert_with(Instant::now);
        }
    }

    /// Sends the flag, the reply when fresh, and the next timestamp, in one write.
    pub async fn answer(&mut self, verdict: Verdict, reply: &[u8; REPLY_LEN]) -> Result<(), TransportError> {
        self.answer_at(verdict, reply, Instant::now()).await
    }

    /// Sends the flag and the reply when fresh, and the next timestamp at `next` (see
    /// [`crate::pacing`]): in one write when `next` has come, otherwise the timestamp follows
    /// when it is due.
    pub async fn answer_at(
        &mut self,
        verdict: Verdict,
        reply: &[u8; REPLY_LEN],
        next: Instant,
    ) -> Result<(), TransportError> {
        if next <= Instant::now() {
            let out = self.codec.answer(verdict, reply, Some(unix_now()));
            self.sent_at = Instant::now();
            return write_timed(&mut self.stream, &out, self.limits.read_timeout).await;
        }
        let out = self.codec.answer(verdict, reply, None);
        write_timed(&mut self.stream, &out, self.limits.read_timeout).await?;
        // A client may leave while the timestamp is held back: that is a clean close between
        // frames, not a failed write. Bytes it sends early stay in the buffer for the codec,
        // which will find them out of place.
        let hold = tokio::time::sleep_until(next.into());
        tokio::pin!(hold);
        loop {
            let start = self.buf.len();
            self.buf.resize(start + FIELD_LEN, 0);
            let read = tokio::select! {
                () = &mut hold => None,
                read = self.stream.read(&mut self.buf[start..]) => Some(read),
            };
            let n = match read {
                None => 0,
                Some(Ok(0)) | Some(Err(_)) => {
                    self.buf.truncate(start);
                    return Err(TransportError::Closed("the next message"));
                }
                Some(Ok(n)) => n,
            };
            self.buf.truncate(start + n);
            // Nothing more to wait for once the hold is over or the client is already talking.
            if n == 0 || self.buf.len() >= FIELD_LEN {
                break;
            }
        }
        let ts = self.codec.begin(unix_now());
        self.sent_at = Instant::now();
        write_timed(&mut self.stream, &ts, self.limits.read_timeout).await
    }
}

/// The client's end of a connection.
pub struct ClientConnection {
    stream: Box<dyn Stream>,
    buf: BytesMut,
    codec: ClientCodec,
    limits: Limits,
}

impl ClientConnection {
    /// Connects in classic mode, giving up after the read timeout.
    pub async fn connect(addr: impl ToSocketAddrs, limits: Limits) -> Result<Self, TransportError> {
        Self::connect_protected(addr, limits, None, None, None).await
    }

    /// Connects, with TLS and/or a token when given, naming the camera in protected mode (see
    /// [`crate::protect`]).
    pub async fn connect_protected(
        addr: impl ToSocketAddrs,
        limits: Limits,
        tls: Option<&(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
        token: Option<&[u8]>,
        name: Option<&str>,
    ) -> Result<Self, TransportError> {
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            crate::protect::present(tcp, tls, token, name).await
        };
        let stream = tokio::time::timeout(limits.read_timeout, connect)
            .await
            .map_err(|_| TransportError::ReadTimeout { after: limits.read_timeout, waiting_for: "the connection" })??;
        Ok(Self { stream, buf: BytesMut::new(), codec: ClientCodec::new(), limits })
    }

    /// The next message from the server.
    pub async fn next_event(&mut self) -> Result<ServerEvent, TransportError> {
        let deadline = Instant::now() + self.limits.exchange_timeout;
        loop {
            if let Some(event) = self.codec.decode(&mut self.buf)? {
                return Ok(event);
            }
            let needed = self.codec.needed(self.buf.len());
            let waiting_for = if self.buf.is_empty() { "the next message" } else { "the rest of a message" };
            read_some(&mut self.stream, &mut self.buf, needed, &self.limits, deadline, waiting_for).await?;
        }
    }

    /// Closes the connection politely: reads what the server already sent (its next timestamp)
    /// so that the close is a clean FIN rather than a reset, then shuts the socket down.
    pub async fn close(mut self) {
        let drain = async {
            let mut scratch = [0u8; 64];
            let _ = self.stream.shutdown().await;
            while matches!(self.stream.read(&mut scratch).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }

    /// Sends a frame: length, payload and echo, in one write. Over TLS the length goes first in
    /// a record of its own, so that the server sees the frame begin when its first bytes arrive
    /// rather than once a whole 16 KiB record has: it times the upload from there.
    pub async fn send_frame(&mut self, payload: &[u8], echo: &Field) -> Result<(), TransportError> {
        let message = ClientCodec::frame_message(payload, echo);
        let timeout = self.limits.read_timeout;
        if self.stream.sealed() {
            write_timed(&mut self.stream, &message[..FIELD_LEN], timeout).await?;
            tokio::time::timeout(timeout, self.stream.flush()).await.map_err(|_| TransportError::ReadTimeout {
                after: timeout,
                waiting_for: "the peer to take our data",
            })??;
            return write_timed(&mut self.stream, &message[FIELD_LEN..], timeout).await;
        }
        write_timed(&mut self.stream, &message, timeout).await
    }
}

/// Reads at most `needed` bytes (never more than [`READ_CHUNK`]) into `buf`.
async fn read_some(
    stream: &mut Box<dyn Stream>,
    buf: &mut BytesMut,
    needed: usize,
    limits: &Limits,
    deadline: Instant,
    waiting_for: &'static str,
) -> Result<(), TransportError> {
    let start = buf.len();
    let chunk = needed.clamp(1, READ_CHUNK);
    buf.resize(start + chunk, 0);
    let read_limit = Instant::now() + limits.read_timeout;
    let limit = read_limit.min(deadline);
    let result = tokio::time::timeout_at(limit.into(), stream.read(&mut buf[start..])).await;
    let n = match result {
        Ok(read) => read.inspect_err(|_| buf.truncate(start))?,
        Err(_) => {
            buf.truncate(start);
            if deadline <= read_limit {
                return Err(TransportError::ExchangeDeadline(limits.exchange_timeout));
            }
            return Err(TransportError::ReadTimeout { after: limits.read_timeout, waiting_for });
        }
    };
    buf.truncate(start + n);
    if n == 0 {
        return Err(TransportError::Closed(waiting_for));
    }
    quick_ack(stream.tcp());
    Ok(())
}

async fn write_timed(stream: &mut Box<dyn Stream>, bytes: &[u8], limit: Duration) -> Result<(), TransportError> {
    tokio::time::timeout(limit, stream.write_all(bytes))
        .await
        .map_err(|_| TransportError::ReadTimeout { after: limit, waiting_for: "the peer to take our data" })??;
    Ok(())
}

/// Linux turns quick ACKs off again after a while, so this is set after every read.
#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}
