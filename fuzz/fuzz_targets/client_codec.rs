//! The client's codec fed arbitrary bytes, as a hostile server would send them: no panic, no
//! unbounded buffer.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nvt_transport::ClientCodec;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut codec = ClientCodec::new();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        let needed = codec.needed(buf.len());
        buf.extend_from_slice(&piece[..piece.len().min(needed.max(1))]);
        assert!(buf.len() <= 1024 + 32, "the buffer stays within one message");
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
