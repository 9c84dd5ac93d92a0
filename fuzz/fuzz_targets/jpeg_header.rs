//! The JPEG/PNG header walk that runs on every fresh frame before it is decoded: arbitrary bytes
//! must give dimensions or an error, never a panic or a read past the buffer, and a size past
//! the pixel limit must be refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvt_capture::jpeg;

fuzz_target!(|data: &[u8]| {
    if let Ok((w, h)) = jpeg::dimensions(data) {
        let limit = 1u64 << 20;
        let checked = jpeg::check_header(data, limit);
        if u64::from(w) * u64::from(h) > limit {
            assert!(checked.is_err(), "{w}x{h} passed a {limit}-pixel limit");
        }
    }
});
