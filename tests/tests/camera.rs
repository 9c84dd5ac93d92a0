//! The camera page (`/camera`) in a real browser: headless Chromium with a fake camera playing
//! the synthetic scene streams to the server over the web view's WebSocket.

use nvt_detect::{Detector, DetectorOptions};
use nvt_tests::browser::{fake_camera, Browser};
use nvt_tests::harness::{temp_dir, TestServer};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shapes_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/shapes.onnx")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let dir = temp_dir("camera-probe");
    let scene = dir.join("scene.mjpeg");
    nvt_tests::fake_camera::write_scene(&scene, (640, 480), 300).expect("scene");
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let web = http.local_addr().expect("addr");
    let config = nvt_server::Config {
        detectors: vec![Detector::load(&shapes_model(), DetectorOptions::default()).expect("model")],
        http: Some(http),
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    let mut page = browser.open(&format!("http://{web}/camera?name=door")).await;
    let got = page
        .wait_for(
            "Number(document.body.dataset.accepted) >= 30 && document.body.dataset.accepted",
            Duration::from_secs(20),
        )
        .await;
    let state = page.eval("JSON.stringify({...document.body.dataset, drawn: document.getElementById('overlay').dataset.drawn, msg: document.getElementById('message').textContent})").await;
    eprintln!("got {got:?}\nstate {state}");
    page.screenshot(&dir.join("shot.png")).await;
    eprintln!("{}", dir.display());
    server.stop().await;
}
