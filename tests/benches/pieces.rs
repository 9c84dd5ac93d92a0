//! `cargo bench -p nvt-tests --bench pieces`: the pieces of the pipeline on their own, at
//! 640x480 — the classic codec, JPEG encode and decode, letterbox into the input tensor, and
//! YOLOv8 output decoding with NMS on an output of YOLOv8n's size.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use nvt_capture::jpeg;
use nvt_capture::synthetic::Synthetic;
use nvt_detect::{nms, Letterbox, OutputLayout, TensorFormat};
use nvt_transport::{ClientCodec, ServerCodec};
use std::hint::black_box;
use std::time::SystemTime;

fn pieces(c: &mut Criterion) {
    let scene = Synthetic::new(640, 480).expect("scene");
    let frame = scene.render(7, SystemTime::now()).expect("frame").image;
    let jpeg100 = jpeg::encode(&frame, 100).expect("encode");
    let jpeg80 = jpeg::encode(&frame, 80).expect("encode");

    c.bench_function("classic codec: one 640x480 q100 frame through the server codec", |b| {
        let mut server = ServerCodec::new(8 << 20);
        let ts = server.begin(1_795_698_744.604_022_7);
        let wire = ClientCodec::frame_message(&jpeg100, &ts);
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            black_box(server.decode(&mut buf).expect("valid").expect("frame"))
        })
    });
    c.bench_function("jpeg encode 640x480 q100", |b| b.iter(|| jpeg::encode(black_box(&frame), 100).expect("encode")));
    c.bench_function("jpeg encode 640x480 q80", |b| b.iter(|| jpeg::encode(black_box(&frame), 80).expect("encode")));
    c.bench_function("jpeg decode 640x480 q100", |b| {
        b.iter(|| jpeg::decode(black_box(&jpeg100), jpeg::DEFAULT_MAX_PIXELS).expect("decode"))
    });
    c.bench_function("jpeg decode 640x480 q80", |b| {
        b.iter(|| jpeg::decode(black_box(&jpeg80), jpeg::DEFAULT_MAX_PIXELS).expect("decode"))
    });
    c.bench_function("letterbox 640x480 into a 640x640 NCHW tensor", |b| {
        let letterbox = Letterbox::new((640, 480), (640, 640));
        let mut scratch = nvt_capture::Mat::default();
        let mut tensor = vec![0.0f32; 3 * 640 * 640];
        b.iter(|| letterbox.fill(black_box(&frame), &mut scratch, &mut tensor, TensorFormat::default()).expect("fill"))
    });
    c.bench_function("letterbox 1280x720 into a 640x640 NCHW tensor (with resize)", |b| {
        let big = Synthetic::new(1280, 720).expect("scene").render(1, SystemTime::now()).expect("frame").image;
        let letterbox = Letterbox::new((1280, 720), (640, 640));
        let mut scratch = nvt_capture::Mat::default();
        let mut tensor = vec![0.0f32; 3 * 640 * 640];
        b.iter(|| letterbox.fill(black_box(&big), &mut scratch, &mut tensor, TensorFormat::default()).expect("fill"))
    });

    // A YOLOv8n-sized output: 84 x 8400, scores mostly low with a few hundred candidates.
    let mut seed = 0x1234_5678_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f32::from(u16::try_from(seed >> 16).unwrap_or(0)) / 65535.0
    };
    let n = 8400;
    let mut output = vec![0.0f32; 84 * n];
    for i in 0..n {
        output[i] = next() * 640.0;
        output[n + i] = next() * 640.0;
        output[2 * n + i] = 10.0 + next() * 100.0;
        output[3 * n + i] = 10.0 + next() * 100.0;
    }
    for v in &mut output[4 * n..] {
        let r = next();
        *v = if r > 0.9995 { 0.3 + r * 0.5 } else { r * 0.2 };
    }
    let layout = OutputLayout::V8 { classes: 80 };
    c.bench_function("decode + NMS of a [1, 84, 8400] output", |b| {
        b.iter(|| {
            let candidates = layout.decode(black_box(&output), &[1, 84, n], 0.25).expect("decode");
            black_box(nms::nms(candidates, 0.45, 300))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = pieces
}
criterion_main!(benches);
