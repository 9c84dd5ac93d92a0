//! Fuzzing the codecs with structured inputs: valid exchanges mutated at random (bytes flipped,
//! inserted, deleted, truncated), fed in random chunk sizes. Whatever arrives, a codec never
//! panics, never buffers more than one maximum frame, and either yields frames or an error.
//! Without mutations every frame comes out intact.
//!
//! `make test` runs proptest's default number of cases; `make fuzz` runs many more
//! (`PROPTEST_CASES`), and docs/reliability.md records the longest run.

use bytes::BytesMut;
use nvt_transport::field::{pad, timestamp_field, REPLY_LEN};
use nvt_transport::{ClientCodec, ServerCodec, ServerEvent};
use proptest::prelude::*;

const MAX_FRAME: usize = 4096;

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut wire: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if wire.is_empty() {
            break;
        }
        let len = wire.len();
        match m {
            Mutation::Flip { at, bits } => wire[at % len] ^= bits,
            Mutation::Insert { at, bytes } => {
                let at = at % len;
                wire.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete { at, len: n } => {
                let at = at % len;
                wire.drain(at..(at + n).min(len));
            }
            Mutation::Truncate { at } => wire.truncate(at % len),
        }
    }
    wire
}

fn chunks(wire: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(wire.len()).clamp(1, wire.len() - at);
        out.push(wire[at..at + n].to_vec());
        at += n;
        i += 1;
    }
    out
}

proptest! {
    #[test]
    fn server_codec_survives_mutated_client_streams(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..600), 1..5),
        mutations in prop::collection::vec(mutation(), 0..4),
        sizes in prop::collection::vec(1usize..700, 1..8),
    ) {
        let mut server = ServerCodec::new(MAX_FRAME);
        let ts = server.begin(1_795_698_744.604_022_7);
        let mut wire = Vec::new();
        for p in &payloads {
            wire.extend(ClientCodec::frame_message(p, &ts));
        }
        let mutated = !mutations.is_empty();
        let wire = apply(wire, &mutations);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        'feed: for chunk in chunks(&wire, &sizes) {
            buf.extend_from_slice(&chunk);
            loop {
                match server.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let echo = server.check_echo(&frame.echo);
                        if !mutated {
                            prop_assert_eq!(echo, Ok(()));
                        }
                        frames.push(frame.payload);
                    }
                    Ok(None) => {
                        prop_assert!(buf.len() <= MAX_FRAME + 64, "buffer bounded: {}", buf.len());
                        prop_assert!(server.needed(buf.len()) > 0);
                        break;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
        if !mutated {
            prop_assert_eq!(frames.len(), payloads.len());
            for (got, sent) in frames.iter().zip(&payloads) {
                prop_assert_eq!(got.as_ref(), sent.as_slice());
            }
        }
    }

    #[test]
    fn client_codec_survives_mutated_server_streams(
        exchanges in prop::collection::vec((0.0f64..4e9, any::<bool>(), prop::collection::vec(any::<u8>(), 0..60)), 1..5),
        mutations in prop::collection::vec(mutation(), 0..4),
        sizes in prop::collection::vec(1usize..1200, 1..8),
    ) {
        let mut wire = Vec::new();
        for (secs, fresh, text) in &exchanges {
            wire.extend_from_slice(&timestamp_field(*secs));
            if *fresh {
                wire.push(b'1');
                let mut reply = text.clone();
                reply.truncate(REPLY_LEN);
                wire.extend_from_slice(&pad::<REPLY_LEN>(&reply).expect("fits"));
            } else {
                wire.push(b'0');
            }
        }
        let mutated = !mutations.is_empty();
        let wire = apply(wire, &mutations);
        let mut client = ClientCodec::new();
        let mut buf = BytesMut::new();
        let mut events = 0;
        'feed: for chunk in chunks(&wire, &sizes) {
            buf.extend_from_slice(&chunk);
            loop {
                match client.decode(&mut buf) {
                    Ok(Some(ServerEvent::Timestamp(_) | ServerEvent::Stale | ServerEvent::Accepted(_))) => events += 1,
                    Ok(None) => {
                        // Chunks may carry the start of later messages: one chunk plus a reply at most.
                        prop_assert!(buf.len() <= 1200 + REPLY_LEN, "buffer bounded: {}", buf.len());
                        break;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
        if !mutated {
            prop_assert_eq!(events, exchanges.len() * 2);
        }
    }
}
