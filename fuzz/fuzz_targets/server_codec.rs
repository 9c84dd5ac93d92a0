//! The server's codec fed arbitrary bytes in arbitrary chunks, as a hostile client would send
//! them: it must never panic, never buffer more than one maximum frame, and stop at the first
//! error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nvt_transport::ServerCodec;

const MAX_FRAME: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut codec = ServerCodec::new(MAX_FRAME);
    let ts = codec.begin(1_795_698_744.604_022_7);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        let needed = codec.needed(buf.len());
        buf.extend_from_slice(&piece[..piece.len().min(needed.max(1))]);
        assert!(buf.len() <= MAX_FRAME + 64, "the buffer stays within one frame");
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => {
                let _ = codec.judge(&frame.echo, std::time::Duration::ZERO, std::time::Duration::from_millis(80));
                let _ = ts;
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
});
