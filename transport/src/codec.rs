//! Both roles of the classic protocol as pure state machines: no sockets, no clocks. Bytes go in
//! through `decode` (which takes whole messages off the front of the buffer and returns
//! `Ok(None)` while more bytes are needed) and the bytes to send come out of plain functions.
//! Time is passed in, so every rule can be tested byte by byte.

use crate::error::CodecError;
use crate::field::{self, Field, FIELD_LEN, FLAG_LEN, REPLY_LEN};
use bytes::{Bytes, BytesMut};

/// The server's judgement of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On time (see [`crate::freshness`]): flag `'1'`, the reply follows.
    Fresh,
    /// Late, or refused: flag `'0'`, the frame is discarded undecoded.
    Stale,
}

/// A frame as a client sent it: the payload and the echoed timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    /// The image bytes (a JPEG from well-behaved clients).
    pub payload: Bytes,
    /// The 32 bytes the client sent back as the echo.
    pub echo: Field,
}

/// The server side: sends timestamps, reads frames, judges freshness, answers.
#[derive(Debug)]
pub struct ServerCodec {
    max_frame: usize,
    state: ServerState,
    sent: Option<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Length,
    PayloadAndEcho(usize),
}

impl ServerCodec {
    /// A codec that refuses frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame, state: ServerState::Length, sent: None }
    }

    /// Starts an exchange at `wall_secs` (Unix seconds): the timestamp message to send.
    pub fn begin(&mut self, wall_secs: f64) -> Field {
        let ts = field::timestamp_field(wall_secs);
        self.sent = Some(ts);
        ts
    }

    /// How many more bytes complete the message in progress, given `buffered` bytes on hand.
    /// Reading no more than this keeps the reads exact and the buffer bounded.
    pub fn needed(&self, buffered: usize) -> usize {
        let want = match self.state {
            ServerState::Length => FIELD_LEN,
            ServerState::PayloadAndEcho(len) => len + FIELD_LEN,
        };
        want.saturating_sub(buffered)
    }

    /// Whether the codec sits between frames (nothing of the next frame has been consumed).
    pub fn at_boundary(&self, buffered: usize) -> bool {
        self.state == ServerState::Length && buffered == 0
    }

    /// Takes a complete frame off the front of `buf`, or `Ok(None)` if more bytes are needed.
    /// An oversized or malformed length is refused as soon as its 32 bytes are in.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ClientFrame>, CodecError> {
        loop {
            match self.state {
                ServerState::Length => {
                    if buf.len() < FIELD_LEN {
                        return Ok(None);
                    }
                    let len = field::parse_length(&buf[..FIELD_LEN], self.max_frame)?;
                    let _ = buf.split_to(FIELD_LEN);
                    self.state = ServerState::PayloadAndEcho(len);
                }
                ServerState::PayloadAndEcho(len) => {
                    if buf.len() < len + FIELD_LEN {
                        return Ok(None);
                    }
                    let payload = buf.split_to(len).freeze();
                    let mut echo = [0; FIELD_LEN];
                    echo.copy_from_slice(&buf.split_to(FIELD_LEN));
                    self.state = ServerState::Length;
                    return Ok(Some(ClientFrame { payload, echo }));
                }
            }
        }
    }

    /// Checks that the echo is the timestamp sent, byte for byte: original clients echo
    /// verbatim, and anything else (garbage, `nan`, `inf`, a future time) would otherwise pass or
    /// fail the freshness check at random. Whether the frame is fresh is
    /// [`crate::freshness`]'s to say.
    pub fn check_echo(&self, echo: &Field) -> Result<(), CodecError> {
        let sent = self.sent.unwrap_or([b' '; FIELD_LEN]);
        if *echo != sent {
            field::parse_timestamp(echo)?;
            let show = |f: &Field| String::from_utf8_lossy(f).trim_end().to_owned();
            return Err(CodecError::EchoMismatch { sent: show(&sent), echo: show(echo) });
        }
        Ok(())
    }

    /// The answer to a judged frame, as one buffer so that it leaves in one write: the flag, the
    /// reply (only when fresh) and, when `next_secs` is given, the next exchange's timestamp.
    pub fn answer(&mut self, verdict: Verdict, reply: &[u8; REPLY_LEN], next_secs: Option<f64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(FLAG_LEN + REPLY_LEN + FIELD_LEN);
        match verdict {
            Verdict::Fresh => {
                out.push(b'1');
                out.extend_from_slice(reply);
            }
            Verdict::Stale => out.push(b'0'),
        }
        if let Some(secs) = next_secs {
            out.extend_from_slice(&self.begin(secs));
        }
        out
    }
}

/// What a client reads from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Message 1: the timestamp to echo, verbatim.
    Timestamp(Field),
    /// Flag `'0'`: the frame came back too late and was dropped.
    Stale,
    /// A non-zero flag and the 1024-byte reply.
    Accepted(Bytes),
}

/// The client side: reads timestamps, flags and replies.
#[derive(Debug, Default)]
pub struct ClientCodec {
    state: ClientState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ClientState {
    #[default]
    Timestamp,
    Flag,
    Reply,
}

impl ClientCodec {
    /// A codec waiting for the server's first timestamp.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many more bytes complete the message in progress, given `buffered` bytes on hand.
    pub fn needed(&self, buffered: usize) -> usize {
        let want = match self.state {
            ClientState::Timestamp => FIELD_LEN,
            ClientState::Flag => FLAG_LEN,
            ClientState::Reply => REPLY_LEN,
        };
        want.saturating_sub(buffered)
    }

    /// Takes the next server message off the front of `buf`, or `Ok(None)` if more are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ServerEvent>, CodecError> {
        loop {
            match self.state {
                ClientState::Timestamp => {
                    if buf.len() < FIELD_LEN {
                        return Ok(None);
                    }
                    field::parse_timestamp(&buf[..FIELD_LEN])?;
                    let mut ts = [0; FIELD_LEN];
                    ts.copy_from_slice(&buf.split_to(FIELD_LEN));
                    self.state = ClientState::Flag;
                    return Ok(Some(ServerEvent::Timestamp(ts)));
                }
                ClientState::Flag => {
                    let Some(&flag) = buf.first() else { return Ok(None) };
                    match flag {
                        b'0' => {
                            let _ = buf.split_to(FLAG_LEN);
                            self.state = ClientState::Timestamp;
                            return Ok(Some(ServerEvent::Stale));
                        }
                        b'1'..=b'9' => {
                            let _ = buf.split_to(FLAG_LEN);
                            self.state = ClientState::Reply;
                        }
                        other => return Err(CodecError::BadFlag(other)),
                    }
                }
                ClientState::Reply => {
                    if buf.len() < REPLY_LEN {
                        return Ok(None);
                    }
                    self.state = ClientState::Timestamp;
                    return Ok(Some(ServerEvent::Accepted(buf.split_to(REPLY_LEN).freeze())));
                }
            }
        }
    }

    /// The bytes of one frame as one buffer: length field, payload, echo.
    pub fn frame_message(payload: &[u8], echo: &Field) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIELD_LEN * 2 + payload.len());
        out.extend_from_slice(&field::length_field(payload.len()));
        out.extend_from_slice(payload);
        out.extend_from_slice(echo);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_codec_knows_when_it_sits_between_frames_and_how_much_it_still_needs() {
        let mut codec = ServerCodec::new(1000);
        assert!(codec.at_boundary(0), "nothing of a frame yet");
        assert!(!codec.at_boundary(1), "a byte of the length field is in");
        assert_eq!(codec.needed(0), FIELD_LEN);
        assert_eq!(codec.needed(10), FIELD_LEN - 10);
        let mut buf = BytesMut::from(&field::length_field(100)[..]);
        assert_eq!(codec.decode(&mut buf).expect("length"), None);
        assert!(!codec.at_boundary(0), "the length is in, the payload is not");
        assert_eq!(codec.needed(0), 100 + FIELD_LEN, "payload and echo");
        assert_eq!(codec.needed(40), 100 + FIELD_LEN - 40);
    }

    #[test]
    fn the_client_codec_asks_for_exactly_the_message_in_progress() {
        let mut codec = ClientCodec::new();
        assert_eq!(codec.needed(0), FIELD_LEN, "a timestamp first");
        assert_eq!(codec.needed(5), FIELD_LEN - 5);
        let mut buf = BytesMut::from(&field::timestamp_field(1_795_698_744.5)[..]);
        assert!(matches!(codec.decode(&mut buf).expect("ts"), Some(ServerEvent::Timestamp(_))));
        assert_eq!(codec.needed(0), FLAG_LEN, "then the flag");
        let mut flag = BytesMut::from(&b"1"[..]);
        assert_eq!(codec.decode(&mut flag).expect("flag"), None, "a '1' is followed by the reply");
        assert_eq!(codec.needed(0), REPLY_LEN);
        assert_eq!(codec.needed(1000), REPLY_LEN - 1000);
    }
    use proptest::prelude::*;

    const MAX: usize = 1 << 20;

    /// The example exchange of docs/protocol.md, from a real run of the original pair.
    const GOLDEN_TS: &[u8; 32] = b"1795698744.6040227              ";
    const GOLDEN_TS2: &[u8; 32] = b"1795698744.6739738              ";
    const GOLDEN_LEN: &[u8; 32] = b"196400                          ";

    fn golden_jpeg() -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
        jpeg.resize(196_400, 0x55);
        jpeg
    }

    fn golden_reply() -> [u8; REPLY_LEN] {
        field::pad(b"received and not delay").expect("fits")
    }

    #[test]
    fn server_emits_the_golden_bytes() {
        let mut server = ServerCodec::new(MAX);
        assert_eq!(&server.begin(1_795_698_744.604_022_7), GOLDEN_TS);
        let answer = server.answer(Verdict::Fresh, &golden_reply(), Some(1_795_698_744.673_973_8));
        assert_eq!(answer.len(), 1 + 1024 + 32);
        assert_eq!(answer[0], b'1');
        assert_eq!(&answer[1..23], b"received and not delay");
        assert!(answer[23..1025].iter().all(|&c| c == b' '));
        assert_eq!(&answer[1025..], GOLDEN_TS2);
        assert_eq!(server.answer(Verdict::Stale, &golden_reply(), None), b"0");
    }

    #[test]
    fn server_reads_the_golden_client_bytes() {
        let mut server = ServerCodec::new(MAX);
        server.begin(1_795_698_744.604_022_7);
        let jpeg = golden_jpeg();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(GOLDEN_LEN);
        buf.extend_from_slice(&jpeg);
        buf.extend_from_slice(GOLDEN_TS);
        let frame = server.decode(&mut buf).expect("valid").expect("complete");
        assert_eq!(frame.payload.as_ref(), jpeg.as_slice());
        assert_eq!(&frame.echo, GOLDEN_TS);
        assert!(buf.is_empty());
        assert_eq!(server.check_echo(&frame.echo), Ok(()));
    }

    #[test]
    fn client_emits_the_golden_bytes() {
        let jpeg = golden_jpeg();
        let message = ClientCodec::frame_message(&jpeg, GOLDEN_TS);
        assert_eq!(&message[..32], GOLDEN_LEN);
        assert_eq!(&message[32..32 + jpeg.len()], jpeg.as_slice());
        assert_eq!(&message[32 + jpeg.len()..], GOLDEN_TS);
    }

    #[test]
    fn client_reads_the_golden_server_bytes_one_byte_at_a_time() {
        let mut wire = GOLDEN_TS.to_vec();
        wire.push(b'1');
        wire.extend_from_slice(&golden_reply());
        wire.extend_from_slice(GOLDEN_TS2);
        wire.push(b'0');
        let mut client = ClientCodec::new();
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for byte in wire {
            assert!(client.needed(buf.len()) >= 1);
            buf.extend_from_slice(&[byte]);
            while let Some(event) = client.decode(&mut buf).expect("valid") {
                events.push(event);
            }
        }
        assert_eq!(
            events,
            vec![
                ServerEvent::Timestamp(*GOLDEN_TS),
                ServerEvent::Accepted(Bytes::copy_from_slice(&golden_reply())),
                ServerEvent::Timestamp(*GOLDEN_TS2),
                ServerEvent::Stale,
            ]
        );
    }

    #[test]
    fn server_reads_fields_fed_one_byte_at_a_time_and_two_frames_in_one_buffer() {
        let mut server = ServerCodec::new(MAX);
        let ts = server.begin(1000.5);
        let mut wire = ClientCodec::frame_message(b"first", &ts);
        wire.extend(ClientCodec::frame_message(b"second!", &ts));
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for byte in &wire {
            buf.extend_from_slice(&[*byte]);
            if let Some(frame) = server.decode(&mut buf).expect("valid") {
                frames.push(frame.payload);
            }
        }
        assert_eq!(frames, vec![Bytes::from_static(b"first"), Bytes::from_static(b"second!")]);

        let mut together = BytesMut::from(&wire[..]);
        assert_eq!(server.decode(&mut together).expect("valid").map(|f| f.payload), Some(Bytes::from_static(b"first")));
        assert_eq!(
            server.decode(&mut together).expect("valid").map(|f| f.payload),
            Some(Bytes::from_static(b"second!"))
        );
        assert!(server.at_boundary(together.len()));
    }

    #[test]
    fn oversized_length_is_refused_before_the_payload_is_buffered() {
        let mut server = ServerCodec::new(1000);
        let mut buf = BytesMut::from(&field::length_field(1001)[..]);
        assert_eq!(server.decode(&mut buf), Err(CodecError::FrameTooLarge { len: 1001, max: 1000 }));
        let mut server = ServerCodec::new(1000);
        let mut buf = BytesMut::from(&field::length_field(1000)[..]);
        assert_eq!(server.decode(&mut buf), Ok(None));
        assert_eq!(server.needed(buf.len()), 1000 + 32, "asks for exactly the payload and the echo");
    }

    #[test]
    fn malformed_lengths_are_refused() {
        for (field, expected) in [
            (&b"-1"[..], CodecError::NegativeLength("-1".into())),
            (b"abc", CodecError::BadLength("abc".into())),
            (b"1.5e3", CodecError::BadLength("1.5e3".into())),
            (b"0", CodecError::ZeroLength),
            (b"12\0\0", CodecError::NulInField("length")),
        ] {
            let mut server = ServerCodec::new(MAX);
            let mut buf = BytesMut::from(&field::pad::<32>(field).expect("fits")[..]);
            assert_eq!(server.decode(&mut buf), Err(expected), "{field:?}");
        }
    }

    #[test]
    fn echoes_other_than_the_timestamp_sent_are_refused() {
        let mut server = ServerCodec::new(MAX);
        let sent = server.begin(1_795_698_744.604_022_7);
        let future = field::timestamp_field(1_795_698_999.0);
        assert!(matches!(server.check_echo(&future), Err(CodecError::EchoMismatch { .. })));
        for bad in [&b"nan"[..], b"inf", b"garbage", b"-1"] {
            let echo = field::pad::<32>(bad).expect("fits");
            assert!(matches!(server.check_echo(&echo), Err(CodecError::BadTimestamp(_))), "{bad:?}");
        }
        assert_eq!(server.check_echo(&sent), Ok(()));
    }

    #[test]
    fn client_refuses_bad_flags_and_timestamps() {
        let mut client = ClientCodec::new();
        let mut buf = BytesMut::from(&b"nan                             "[..]);
        assert!(matches!(client.decode(&mut buf), Err(CodecError::BadTimestamp(_))));

        let mut client = ClientCodec::new();
        let mut buf = BytesMut::from(&GOLDEN_TS[..]);
        buf.extend_from_slice(b"x");
        assert!(client.decode(&mut buf).expect("ts").is_some());
        assert_eq!(client.decode(&mut buf), Err(CodecError::BadFlag(b'x')));
    }

    #[test]
    fn any_digit_flag_is_accepted_as_the_original_client_does() {
        let mut client = ClientCodec::new();
        let mut buf = BytesMut::from(&GOLDEN_TS[..]);
        buf.extend_from_slice(b"7");
        buf.extend_from_slice(&[b' '; REPLY_LEN]);
        assert!(matches!(client.decode(&mut buf), Ok(Some(ServerEvent::Timestamp(_)))));
        assert!(matches!(client.decode(&mut buf), Ok(Some(ServerEvent::Accepted(_)))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_server(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..20)) {
            let mut server = ServerCodec::new(4096);
            let ts = server.begin(12.5);
            let mut buf = BytesMut::new();
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
                match server.decode(&mut buf) {
                    Ok(Some(frame)) => { let _ = server.check_echo(&frame.echo); }
                    Ok(None) => prop_assert!(server.needed(buf.len()) > 0 && buf.len() <= 4096 + 64),
                    Err(_) => break,
                }
            }
            let _ = ts;
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_client(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20)) {
            let mut client = ClientCodec::new();
            let mut buf = BytesMut::new();
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
                loop {
                    match client.decode(&mut buf) {
                        Ok(Some(_)) => continue,
                        Ok(None) => { prop_assert!(client.needed(buf.len()) > 0); break }
                        Err(_) => return Ok(()),
                    }
                }
            }
        }

        #[test]
        fn any_valid_frame_round_trips(payload in prop::collection::vec(any::<u8>(), 1..3000), secs in 0.0f64..4e9, split in 0usize..4000) {
            let mut server = ServerCodec::new(4096);
            let ts = server.begin(secs);
            let wire = ClientCodec::frame_message(&payload, &ts);
            let split = split.min(wire.len());
            let mut buf = BytesMut::from(&wire[..split]);
            let first = server.decode(&mut buf).expect("valid");
            buf.extend_from_slice(&wire[split..]);
            let frame = match first { Some(f) => f, None => server.decode(&mut buf).expect("valid").expect("complete") };
            prop_assert_eq!(frame.payload.as_ref(), payload.as_slice());
            prop_assert_eq!(server.check_echo(&frame.echo), Ok(()));
        }
    }
}
