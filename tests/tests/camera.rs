//! The camera page (`/camera`) in a real browser: headless Chromium with a fake camera playing
//! the synthetic scene streams to the server over the web view's WebSocket, and the server
//! serves it as it serves nvt-client: names, detection, tracking, events, the log, the web view.
//! Then the socket's doors: another site's page, the token, the client limits, frame limits,
//! garbage and silence, each costing only its own connection.

use futures_util::{SinkExt, StreamExt};
use nvt_capture::SourceSpec;
use nvt_detect::{Detector, DetectorOptions};
use nvt_events::hub::Outputs;
use nvt_events::mqtt::{MqttSettings, Publisher};
use nvt_events::{EventSettings, Hub};
use nvt_support::JsonLines;
use nvt_tests::broker::{Mosquitto, Subscriber};
use nvt_tests::browser::{fake_camera, Browser, Page};
use nvt_tests::harness::{http_get, model, read_jsonl, temp_dir, TestServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// One browser at a time: two would share the machine's two cores with the server.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server with the shapes model and its web view on a loopback port, its log and events in
/// `dir`; `adjust` changes the rest.
async fn start_server(dir: &Path, adjust: impl FnOnce(&mut nvt_server::Config)) -> (TestServer, SocketAddr) {
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    start_server_on(dir, http, adjust).await
}

async fn start_server_on(
    dir: &Path,
    http: std::net::TcpListener,
    adjust: impl FnOnce(&mut nvt_server::Config),
) -> (TestServer, SocketAddr) {
    start_server_with(dir, http, None, adjust).await
}

/// As [`start_server_on`], publishing to the MQTT broker `mqtt` under the prefix `page` too.
async fn start_server_with(
    dir: &Path,
    http: std::net::TcpListener,
    mqtt: Option<&Mosquitto>,
    adjust: impl FnOnce(&mut nvt_server::Config),
) -> (TestServer, SocketAddr) {
    let web = http.local_addr().expect("addr");
    let mqtt = mqtt.map(|broker| {
        let mut settings = MqttSettings::from_url(&broker.url()).expect("url");
        settings.prefix = "page".into();
        Publisher::start(settings).expect("publisher")
    });
    let outputs = Outputs {
        log: Some(Arc::new(JsonLines::open(dir.join("events.jsonl").to_str().expect("utf8")).expect("events"))),
        snapshots: None,
        mqtt,
        others: Vec::new(),
    };
    let mut config = nvt_server::Config {
        log: Some(Arc::new(JsonLines::open(dir.join("server.jsonl").to_str().expect("utf8")).expect("log"))),
        detectors: vec![Detector::load(&model("shapes.onnx"), DetectorOptions::default()).expect("model")],
        events: Arc::new(Hub::new(EventSettings::default(), outputs, false)),
        http: Some(http),
        ..nvt_server::Config::default()
    };
    adjust(&mut config);
    (TestServer::start(config).await, web)
}

/// The synthetic scene as the fake camera's file: 15 s, longer than any test streams, so that
/// the scene never starts over (its shapes would jump and be tracked anew).
fn scene(dir: &Path, size: (u32, u32)) -> PathBuf {
    let path = dir.join("scene.mjpeg");
    nvt_tests::fake_camera::write_scene(&path, size, 450).expect("scene file");
    path
}

/// What the page shows, from its `data-` attributes.
async fn shown(page: &mut Page) -> Value {
    page.eval(
        "({...document.body.dataset, drawn: JSON.parse(document.getElementById('overlay').dataset.drawn), \
          message: document.getElementById('message').textContent, protocol: location.protocol})",
    )
    .await
}

async fn wait_accepted(page: &mut Page, at_least: u64, timeout: Duration) -> Value {
    let condition = format!("Number(document.body.dataset.accepted) >= {at_least}");
    if page.wait_for(&condition, timeout).await.is_none() {
        panic!("the page had {} frames accepted after {timeout:?}", shown(page).await);
    }
    shown(page).await
}

async fn clients(web: SocketAddr) -> Vec<Value> {
    let (status, _, body) = http_get(web, "/api/clients", Duration::from_secs(3)).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).expect("JSON")
}

/// Polls `read` until `done` holds of what it returns, for up to `timeout`.
async fn until<T>(timeout: Duration, mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let value = read();
        if done(&value) || tokio::time::Instant::now() >= end {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_and_the_server_detects_tracks_and_makes_events_as_for_nvt_client() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-page");
    let scene = scene(&dir, (640, 480));
    let broker = Mosquitto::start(&dir.join("broker"), "");
    let subscriber = Subscriber::start(broker.addr, &["page/#", "homeassistant/#"]);
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (server, web) = start_server_with(&dir, http, Some(&broker), |_| {}).await;
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    // The kiosk link: the name in the link starts the camera without a click.
    let mut page = browser.open(&format!("http://{web}/camera?name=door")).await;
    let seen = wait_accepted(&mut page, 45, Duration::from_secs(30)).await;
    assert_eq!(seen["state"], "streaming", "{seen}");
    assert_eq!(seen["wakeLock"], "held", "the screen is kept awake: {seen}");
    assert!(seen["fps"].as_str().and_then(|f| f.parse::<f64>().ok()).is_some_and(|f| f > 1.0), "{seen}");
    assert!(seen["rtt"].as_str().and_then(|r| r.parse::<f64>().ok()).is_some_and(|r| r > 0.0), "{seen}");

    // The page drew the boxes the server sent, with their track ids, over the video.
    let drawn = seen["drawn"].as_array().expect("drawn boxes");
    let labels: BTreeSet<&str> = drawn.iter().filter_map(|d| d["label"].as_str()).collect();
    assert!(labels.contains("red square") && labels.contains("green circle"), "{seen}");
    assert!(drawn.iter().all(|d| d["track_id"].is_u64()), "{seen}");
    let painted = page
        .eval(
            "(() => { const c = document.getElementById('overlay'); \
              const d = JSON.parse(c.dataset.drawn)[0]; \
              const px = c.getContext('2d').getImageData(Math.round(d.x + d.w / 2), Math.round(d.y + d.h - 1), 1, 1).data; \
              const inside = c.getContext('2d').getImageData(Math.round(d.x + d.w / 2), Math.round(d.y + d.h / 2), 1, 1).data; \
              return [px[3], inside[3]]; })()",
        )
        .await;
    assert_eq!(painted, serde_json::json!([255, 0]), "the box's edge is drawn, its inside left clear");

    // The web view lists the page as a camera like any other.
    let listed = clients(web).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["camera"], "door");
    assert!(listed[0]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{listed:?}");
    assert!(listed[0]["frames_processed"].as_u64().is_some_and(|n| n > 10), "{listed:?}");
    let (_, _, metrics) = http_get(web, "/metrics", Duration::from_secs(3)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("nvt_connected_clients 1"), "{metrics}");

    if std::env::var_os("NVT_UPDATE_SCREENSHOT").is_some() {
        page.screenshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/camera-page.png")).await;
    }

    // Leaving the page ends the camera's objects, as a client's leaving does.
    page.navigate("about:blank").await;
    let events = dir.join("events.jsonl");
    let ends = until(
        Duration::from_secs(10),
        || read_jsonl(&events),
        |e| e.iter().filter(|e| e["type"] == "end").count() >= 2,
    )
    .await;
    server.stop().await;
    let _ = std::fs::remove_file(&scene);

    let records = read_jsonl(&dir.join("server.jsonl"));
    assert!(records.len() >= 20, "{} records", records.len());
    assert!(records.iter().all(|r| r["camera"] == "door"), "records name the camera");
    let mut ids: BTreeMap<String, BTreeSet<Option<u64>>> = BTreeMap::new();
    for record in &records {
        for d in record["detections"].as_array().expect("detections") {
            ids.entry(d["label"].as_str().expect("label").to_owned()).or_default().insert(d["track_id"].as_u64());
        }
    }
    assert_eq!(ids.len(), 3, "the three shapes: {ids:?}");
    let all: BTreeSet<Option<u64>> = ids.values().flatten().copied().collect();
    assert!(ids.values().all(|set| set.len() == 1) && all.len() == 3, "one track id per shape, never shared: {ids:?}");
    assert!(all.iter().all(Option::is_some), "every shape tracked: {ids:?}");

    // Events: a `new` and an `end` for each shape that scores above Frigate's threshold, each
    // under one track id, on camera "door".
    nvt_tests::schema::assert_frigate_events(&ends);
    let mut lives: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in &ends {
        lives.entry(event["after"]["id"].as_str().expect("id").to_owned()).or_default().push(event);
    }
    let labels: BTreeSet<&str> = lives.values().map(|l| l[0]["after"]["label"].as_str().expect("label")).collect();
    assert_eq!(labels, BTreeSet::from(["green circle", "red square"]), "{lives:?}");
    for (id, life) in &lives {
        assert_eq!(life[0]["type"], "new", "{id}");
        assert_eq!(life[life.len() - 1]["type"], "end", "{id}");
        let tracks: BTreeSet<_> = life.iter().map(|e| e["after"]["track_id"].as_u64()).collect();
        assert_eq!(tracks.len(), 1, "{id}: one track id for the whole life");
        assert!(life.iter().all(|e| e["after"]["camera"] == "door"), "{id}");
    }

    // MQTT, as for nvt-client: the same events in the same order, the camera's counts, and
    // Home Assistant's entities for the page's camera.
    assert!(
        subscriber.wait_until(Duration::from_secs(10), |m| nvt_tests::broker::events(m, "page").len() >= ends.len()),
        "the events reach the broker"
    );
    let messages = subscriber.messages();
    let published: Vec<(String, String)> = nvt_tests::broker::events(&messages, "page")
        .iter()
        .map(|e| (e["type"].as_str().expect("type").to_owned(), e["after"]["id"].as_str().expect("id").to_owned()))
        .collect();
    let written: Vec<(String, String)> = ends
        .iter()
        .map(|e| (e["type"].as_str().expect("type").to_owned(), e["after"]["id"].as_str().expect("id").to_owned()))
        .collect();
    let mut first_seen = BTreeSet::new();
    let published: Vec<_> = published.into_iter().filter(|key| first_seen.insert(key.clone())).collect();
    assert_eq!(published, written, "the broker got the events file's events");
    let topics: BTreeSet<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    assert!(topics.contains("page/door/all") && topics.contains("page/door/available"), "{topics:?}");
    for shape in ["red", "green"] {
        assert!(topics.iter().any(|t| t.starts_with("page/door/") && t.contains(shape)), "{shape}: {topics:?}");
    }
    assert!(
        topics.iter().any(|t| t.starts_with("homeassistant/") && t.contains("door") && t.ends_with("/config")),
        "Home Assistant discovery for the page's camera: {topics:?}"
    );
}

/// A tiny web server for another site: every request gets `page`.
async fn other_site(page: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut head = [0u8; 4096];
                let _ = sock.read(&mut head).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A script that opens a camera socket to `web` and says in the title what became of it.
fn opener(web: SocketAddr, name: &str) -> String {
    format!(
        "const s = new WebSocket('ws://{web}/camera/socket?name={name}'); \
         s.onopen = () => {{ document.title = 'open'; }}; \
         s.onclose = () => {{ if (document.title !== 'open') document.title = 'refused'; }};"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_cannot_open_a_camera_socket() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-cross-site");
    let (server, web) = start_server(&dir, |_| {}).await;
    let evil =
        other_site(format!("<!doctype html><title>waiting</title><script>{}</script>", opener(web, "evil"))).await;
    let browser = Browser::launch(&dir, &[]);
    // Another port of this machine is another site as far as the browser is concerned, and the
    // most a hostile page on the LAN or the internet could be.
    let mut page = browser.open(&format!("http://localhost:{}/", evil.port())).await;
    let title = page.wait_for("document.title !== 'waiting' && document.title", Duration::from_secs(10)).await;
    assert_eq!(title, Some(Value::from("refused")), "a page on another site opened a camera socket");
    // The same script from the web view's own page opens one: the origin made the difference.
    page.navigate(&format!("http://{web}/camera")).await;
    page.wait_for("document.getElementById('start') !== null", Duration::from_secs(10)).await.expect("page");
    page.eval(&format!("document.title = 'waiting'; {}", opener(web, "own"))).await;
    let title = page.wait_for("document.title !== 'waiting' && document.title", Duration::from_secs(10)).await;
    assert_eq!(title, Some(Value::from("open")));
    let names: Vec<Value> = clients(web).await.iter().map(|c| c["camera"].clone()).collect();
    assert_eq!(names, vec![Value::from("own")], "only the page's own socket is a camera");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_link_opened_from_another_site_waits_for_a_click_before_the_camera_starts() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-lured");
    let scene = scene(&dir, (640, 480));
    let (server, web) = start_server(&dir, |_| {}).await;
    // Another site sends the visitor to a kiosk link of this server; the camera is granted
    // without asking (the fake UI), as it is where the visitor granted it before.
    let lure = format!("<!doctype html><script>location.href = 'http://{web}/camera?name=lured';</script>");
    let evil = other_site(lure).await;
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    let mut page = browser.open(&format!("http://localhost:{}/", evil.port())).await;
    page.wait_for(
        "location.pathname === '/camera' && document.getElementById('start') !== null",
        Duration::from_secs(10),
    )
    .await
    .expect("the other site sent the browser to the camera page");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = shown(&mut page).await;
    assert_eq!(seen["state"], "idle", "the camera did not start: {seen}");
    assert!(seen["message"].as_str().is_some_and(|m| m.contains("press Start")), "{seen}");
    assert!(clients(web).await.is_empty(), "no camera connected");
    // The visitor's own click starts it.
    page.eval("document.getElementById('start').click()").await;
    wait_accepted(&mut page, 3, Duration::from_secs(30)).await;
    let names: Vec<Value> = clients(web).await.iter().map(|c| c["camera"].clone()).collect();
    assert_eq!(names, vec![Value::from("lured")]);
    // The page differs by the browser's word on where it was opened from: no cache keeps it, so
    // a copy from the own site's kiosk link never answers a lure.
    let (_, headers, _) = http_get(web, "/camera?name=lured", Duration::from_secs(2)).await;
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_ascii_lowercase());
    assert_eq!(header("cache-control").as_deref(), Some("no-store"), "{headers:?}");
    assert!(header("vary").is_some_and(|v| v.contains("sec-fetch-site")), "{headers:?}");
    server.stop().await;
    let _ = std::fs::remove_file(&scene);
}

/// The SPKI hash Chromium pins a certificate's key by (`--ignore-certificate-errors-spki-list`).
fn spki_pin(key_pem: &Path) -> String {
    use base64::Engine;
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(key_pem).expect("key")).expect("key pair");
    let hash = ring::digest::digest(&ring::digest::SHA256, &key.public_key_der());
    base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_page_streams_through_a_secure_socket() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-tls");
    let scene = scene(&dir, (640, 480));
    let pki = nvt_tests::pki::Pki::make(&dir.join("pki"));
    let tls = nvt_transport::protect::acceptor(&pki.server_cert, &pki.server_key).expect("TLS");
    let (server, web) = start_server(&dir, |c| c.web.tls = Some(tls)).await;
    // Plain HTTP to the TLS port gets no page.
    let plain = tokio::time::timeout(Duration::from_secs(3), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = TcpStream::connect(web).await.expect("connect");
        sock.write_all(format!("GET /camera HTTP/1.0\r\nHost: {web}\r\n\r\n").as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        let _ = sock.read_to_end(&mut raw).await;
        raw
    })
    .await
    .unwrap_or_default();
    assert!(!String::from_utf8_lossy(&plain).contains("200 OK"), "plain HTTP is not served on the TLS port");

    let mut args = fake_camera(&scene);
    // The browser trusts the server's key, as a phone trusts the certificate made for it.
    args.push(format!("--ignore-certificate-errors-spki-list={}", spki_pin(&pki.server_key)));
    let browser = Browser::launch(&dir, &args);
    let mut page = browser.open(&format!("https://localhost:{}/camera?name=phone", web.port())).await;
    let seen = wait_accepted(&mut page, 20, Duration::from_secs(30)).await;
    assert_eq!(seen["protocol"], "https:", "{seen}");
    assert!(seen["drawn"].as_array().is_some_and(|d| !d.is_empty()), "boxes drawn: {seen}");
    server.stop().await;
    let records = read_jsonl(&dir.join("server.jsonl"));
    assert!(records.len() >= 10 && records.iter().all(|r| r["camera"] == "phone"), "{} records", records.len());
    let _ = std::fs::remove_file(&scene);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_page_reconnects_by_itself_when_the_server_comes_back() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-kiosk");
    let scene = scene(&dir, (640, 480));
    let (first, web) = start_server(&dir, |_| {}).await;
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    let mut page = browser.open(&format!("http://{web}/camera?name=shelf")).await;
    let before = wait_accepted(&mut page, 10, Duration::from_secs(30)).await;
    first.stop().await;
    page.wait_for("document.body.dataset.state === 'reconnecting'", Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the page saw the server go"));
    let http = std::net::TcpListener::bind(web).expect("the same port again");
    let (second, _) = start_server_on(&dir, http, |_| {}).await;
    let accepted: u64 = before["accepted"].as_str().and_then(|a| a.parse().ok()).expect("count");
    let after = wait_accepted(&mut page, accepted + 10, Duration::from_secs(20)).await;
    assert_eq!(after["connections"], "2", "{after}");
    assert_eq!(after["state"], "streaming");
    let names: Vec<Value> = clients(web).await.iter().map(|c| c["camera"].clone()).collect();
    assert_eq!(names, vec![Value::from("shelf")]);
    second.stop().await;
    let _ = std::fs::remove_file(&scene);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_slow_uplink_the_page_lowers_its_quality_and_queues_no_frames() {
    use nvt_tests::link::{Link, LINKS};
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-link");
    let scene = scene(&dir, (640, 480));
    let (server, web) = start_server(&dir, |_| {}).await;
    // A 4G uplink, 5 Mbit/s and 60 ms, between the browser and the server; on 127.0.0.2 with the
    // web view's own port, so that the Host the browser sends names this server.
    let spec = LINKS[4];
    let near = SocketAddr::from(([127, 0, 0, 2], web.port()));
    let _link = Link::start_at(near, web, spec).await.expect("link");
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    let mut page = browser.open(&format!("http://{near}/camera?name=far")).await;
    wait_accepted(&mut page, 5, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let seen = shown(&mut page).await;
    server.stop().await;
    let _ = std::fs::remove_file(&scene);
    let number = |key: &str| seen[key].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // At quality 90 the scene's frames take ~70 ms to upload at 5 Mbit/s.
    assert!(number("quality") < 90.0 || number("width") < 640.0, "the page fitted its frames to the link: {seen}");
    // Frames queued behind the link would make the round trip grow to seconds.
    assert!(number("rtt") < 60.0 + 250.0, "{seen}");
    assert!(number("fps") >= 3.0, "{seen}");
    assert!(number("stale") <= 0.1 * number("exchanges"), "{seen}");
}

/// A camera socket spoken to by hand: the classic exchange over WebSocket messages.
struct RawCamera {
    socket: WebSocketStream<TcpStream>,
    inbox: Vec<u8>,
}

impl RawCamera {
    /// Opens `/camera/socket?QUERY` with `headers` besides the WebSocket's own; the HTTP
    /// status when refused.
    async fn open(web: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Result<Self, u16> {
        let mut request = format!("ws://{web}/camera/socket{query}").into_client_request().expect("request");
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
            request.headers_mut().insert(name, value.parse().expect("header"));
        }
        let tcp = TcpStream::connect(web).await.expect("connect");
        match tokio_tungstenite::client_async(request, tcp).await {
            Ok((socket, _)) => Ok(Self { socket, inbox: Vec::new() }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("{other}"),
        }
    }

    /// Opens a socket once a slot is free: a connection that has just been dropped gives its
    /// slot back as its session winds down.
    async fn open_when_free(web: SocketAddr) -> Self {
        for _ in 0..50 {
            match Self::open(web, "", &[]).await {
                Ok(camera) => return camera,
                Err(503) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(status) => panic!("refused with {status}"),
            }
        }
        panic!("no slot came free");
    }

    /// The next `n` bytes; `None` when the server closed the socket (or said nothing in 5 s).
    async fn read(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.inbox.len() < n {
            match tokio::time::timeout(Duration::from_secs(5), self.socket.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => self.inbox.extend_from_slice(&bytes),
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => return None,
                Ok(Some(Ok(_))) => {}
            }
        }
        Some(self.inbox.drain(..n).collect())
    }

    async fn send(&mut self, bytes: Vec<u8>) -> bool {
        self.socket.send(Message::binary(bytes)).await.is_ok()
    }

    /// One exchange with `jpeg`: the flag, or `None` when the socket was closed.
    async fn exchange(&mut self, jpeg: &[u8]) -> Option<u8> {
        let ts = self.read(32).await?;
        let mut message = nvt_transport::field::length_field(jpeg.len()).to_vec();
        message.extend_from_slice(jpeg);
        message.extend_from_slice(&ts);
        self.send(message).await.then_some(())?;
        let flag = self.read(1).await?[0];
        if flag == b'1' {
            self.read(1024).await?;
        }
        Some(flag)
    }
}

/// A JPEG whose header claims `width` x `height` pixels.
fn claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG");
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_socket_has_the_doors_of_the_web_view_and_a_bad_page_costs_only_its_own_connection() {
    let dir = temp_dir("camera-doors");
    let (server, web) = start_server(&dir, |c| {
        c.max_clients_per_ip = 3;
        c.limits.max_frame_bytes = 256 * 1024;
        c.limits.read_timeout = Duration::from_secs(1);
        c.max_pixels = 1 << 20;
    })
    .await;
    // An nvt-client streams throughout, and takes one of loopback's three slots.
    let stop = CancellationToken::new();
    let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    config.fps = Some(15.0);
    let client = tokio::spawn(nvt_client::run(config, stop.clone()));
    let jpeg = nvt_tests::harness::synthetic_jpeg(1);
    let origin = format!("http://{web}");

    // Another site, another host name, a name no camera may have: refused before any slot.
    let evil = RawCamera::open(web, "?name=x", &[("origin", "http://evil.example")]).await;
    assert_eq!(evil.err(), Some(403));
    let rebound = RawCamera::open(web, "?name=x", &[("host", &format!("rebind.example:{}", web.port()))]).await;
    assert_eq!(rebound.err(), Some(421));
    assert_eq!(RawCamera::open(web, "?name=a.b", &[("origin", &origin)]).await.err(), Some(400));

    // A good camera: its frames are accepted; a frame claiming too many pixels is refused
    // ('0') and the connection carries on.
    let mut good = RawCamera::open(web, "?name=good", &[("origin", &origin)]).await.expect("open");
    assert_eq!(good.exchange(&jpeg).await, Some(b'1'));
    assert_eq!(good.exchange(&claiming(&jpeg, 4096, 4096)).await, Some(b'0'), "over --max-pixels");
    assert_eq!(good.exchange(&nvt_tests::harness::synthetic_jpeg(2)).await, Some(b'1'));
    // It streams on, beside everything below.
    let streaming = stop.child_token();
    let accepted = Arc::new(AtomicU64::new(0));
    let good = tokio::spawn({
        let (streaming, accepted) = (streaming.clone(), Arc::clone(&accepted));
        async move {
            let mut index = 3u64;
            while !streaming.is_cancelled() {
                match good.exchange(&nvt_tests::harness::synthetic_jpeg(index)).await {
                    Some(b'1') => accepted.fetch_add(1, Ordering::Relaxed),
                    Some(_) => 0,
                    None => return false,
                };
                index += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            true
        }
    });

    // The third slot, then none: --max-clients-per-ip holds for pages as for clients.
    let mut silent = RawCamera::open(web, "?name=silent", &[]).await.expect("the third slot");
    assert_eq!(RawCamera::open(web, "", &[]).await.err(), Some(503), "loopback's three slots are taken");
    // A page that stops talking is dropped at --read-timeout, and its slot is free again.
    assert!(silent.read(32).await.is_some(), "the first timestamp");
    let started = std::time::Instant::now();
    assert!(silent.read(1).await.is_none(), "dropped");
    assert!(started.elapsed() < Duration::from_secs(4), "dropped at the read timeout: {:?}", started.elapsed());

    // Garbage of every kind ends only its own connection.
    let mut text = RawCamera::open_when_free(web).await;
    text.read(32).await.expect("timestamp");
    text.socket.send(Message::text("hello")).await.expect("send");
    assert!(text.read(1).await.is_none(), "a text message ends the connection");
    let mut huge = RawCamera::open_when_free(web).await;
    huge.read(32).await.expect("timestamp");
    let mut message = nvt_transport::field::length_field(1 << 30).to_vec();
    message.extend_from_slice(&[0; 64]);
    huge.send(message).await;
    assert!(huge.read(1).await.is_none(), "a length over --max-frame-bytes ends the connection");
    let mut flood = RawCamera::open_when_free(web).await;
    flood.read(32).await.expect("timestamp");
    flood.send(vec![b' '; 512 * 1024]).await;
    assert!(flood.read(1).await.is_none(), "a message larger than any frame ends the connection");

    // The good page and the nvt-client carry on after it all.
    let after = accepted.load(Ordering::Relaxed);
    let more = until(Duration::from_secs(10), || accepted.load(Ordering::Relaxed), |n| *n >= after + 5).await;
    assert!(more >= after + 5, "the good page carried on: {after} frames accepted, then {more}");
    let names: BTreeSet<String> =
        clients(web).await.iter().map(|c| c["camera"].as_str().expect("name").to_owned()).collect();
    assert_eq!(names, BTreeSet::from(["127_0_0_1".to_owned(), "good".to_owned()]));
    let (_, _, metrics) = http_get(web, "/metrics", Duration::from_secs(3)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    let processed = |camera: &str| {
        let line = format!("nvt_camera_frames_processed_total{{camera=\"{camera}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(line.as_str())).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    assert!(processed("127_0_0_1") >= 5.0, "{metrics}");
    streaming.cancel();
    assert!(good.await.expect("task"), "the good page never lost its connection");
    stop.cancel();
    let summary = client.await.expect("task").expect("client");
    assert_eq!(summary.failures, 0, "the nvt-client beside them never lost its connection");
    assert!(summary.accepted >= 5, "{summary:?}");
    server.stop().await;
}

/// A page that floods pings and never reads the pongs costs the server a bounded write buffer,
/// not a pong kept for every ping (400 MB of pings here). The test's process holds both ends, so
/// its memory also grows with what the allocator keeps once (more on a loaded machine): a pong
/// kept per ping would grow it by about as much again in the flood's second half as in its first
/// (200 MB or more a half), a bounded buffer not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_that_reads_nothing_costs_a_bounded_buffer() {
    let dir = temp_dir("camera-pings");
    let (server, web) = start_server(&dir, |c| c.limits.read_timeout = Duration::from_secs(120)).await;
    let mut camera = RawCamera::open(web, "", &[("origin", &format!("http://{web}"))]).await.expect("socket");
    let rss_mib = || {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS").to_owned();
        line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("kB") / 1024
    };
    let before = rss_mib();
    let payload = vec![7u8; 125];
    let mut halfway = None;
    for ping in 0..3_200_000u32 {
        if ping == 1_600_000 {
            halfway = Some(rss_mib());
        }
        if camera.socket.send(Message::Ping(payload.clone().into())).await.is_err() {
            break;
        }
    }
    let after = rss_mib();
    // (The server may drop the socket once its buffer is full: the flood then ends early.)
    if let Some(halfway) = halfway {
        let second_half = after.saturating_sub(halfway);
        assert!(
            second_half < 60,
            "the server kept {second_half} MiB more of pongs nobody read in the flood's second half"
        );
    }
    let grown = after.saturating_sub(before);
    assert!(grown < 300, "the server kept {grown} MiB of pongs nobody read");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_web_token_the_camera_socket_needs_it_and_max_clients_holds() {
    let dir = temp_dir("camera-token");
    let (server, web) = start_server(&dir, |c| {
        c.web.token = Some(b"s3cret".to_vec());
        c.max_clients = 2;
    })
    .await;
    assert_eq!(RawCamera::open(web, "?name=door", &[]).await.err(), Some(401));
    assert_eq!(RawCamera::open(web, "?name=door", &[("authorization", "Bearer wrong")]).await.err(), Some(401));
    let mut cookie = RawCamera::open(web, "?name=door", &[("cookie", "nvt_token=s3cret")]).await.expect("the cookie");
    assert_eq!(cookie.exchange(&nvt_tests::harness::synthetic_jpeg(1)).await, Some(b'1'));
    let bearer = RawCamera::open(web, "?name=yard", &[("authorization", "Bearer s3cret")]).await;
    assert!(bearer.is_ok(), "the bearer header");
    // --max-clients 2: both slots are taken.
    let third = RawCamera::open(web, "?name=gate", &[("authorization", "Bearer s3cret")]).await;
    assert_eq!(third.err(), Some(503), "--max-clients holds for pages as for clients");
    server.stop().await;
}

/// A browser tells a page nothing of why its WebSocket was refused: the page asks the server
/// (`/camera/check`) and shows the reason. A refusal that waiting cannot end (a protected camera
/// port and no web token) stops the camera; a full server is tried again, and streamed to once a
/// slot frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_page_says_why_and_stops_or_waits_for_a_slot() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-refused");
    let scene = scene(&dir, (320, 240));
    let browser = Browser::launch(&dir, &fake_camera(&scene));

    let (server, web) = start_server(&dir, |c| c.guard.token = Some(b"camera-token".to_vec())).await;
    let mut page = browser.open(&format!("http://{web}/camera?name=door")).await;
    let stopped = page.wait_for("document.body.dataset.state === 'refused'", Duration::from_secs(20)).await;
    assert!(stopped.is_some(), "the page stops: {}", shown(&mut page).await);
    let message = page.eval("document.getElementById('message').textContent").await;
    let message = message.as_str().unwrap_or("");
    assert!(message.contains("(403)") && message.contains("--http-token-file"), "{message}");
    assert!(clients(web).await.is_empty());
    server.stop().await;

    let (server, web) = start_server(&dir, |c| c.max_clients = 1).await;
    let holder = RawCamera::open(web, "?name=holder", &[]).await.expect("the one slot");
    // Asked directly while full, the server says so every time; a bad name is a 400. (That
    // asking takes no slot is `admission.rs::asking_takes_no_slot`.)
    for _ in 0..5 {
        let (status, _, body) = http_get(web, "/camera/check?name=gate", Duration::from_secs(3)).await;
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    }
    let (status, _, _) = http_get(web, "/camera/check?name=no%20spaces", Duration::from_secs(3)).await;
    assert_eq!(status, 400, "a bad name");
    let mut page = browser.open(&format!("http://{web}/camera?name=door")).await;
    let full = "document.getElementById('message').textContent.includes('too many clients (--max-clients)')";
    let said = page.wait_for(full, Duration::from_secs(20)).await;
    assert!(said.is_some(), "the page says the server is full: {}", shown(&mut page).await);
    assert_eq!(page.eval("document.body.dataset.state").await, "reconnecting", "a full server is tried again");
    drop(holder);
    let seen = wait_accepted(&mut page, 5, Duration::from_secs(30)).await;
    assert_eq!(seen["state"], "streaming", "{seen}");
    server.stop().await;
    let _ = std::fs::remove_file(&scene);
}

/// A camera port that needs a token (protected mode) is not walked around through the page:
/// without a web token the page may not stream; with one, the web token lets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_camera_port_is_not_walked_around_through_the_page() {
    let dir = temp_dir("camera-protected");
    let (server, web) = start_server(&dir, |c| c.guard.token = Some(b"camera-token".to_vec())).await;
    assert_eq!(RawCamera::open(web, "?name=intruder", &[]).await.err(), Some(403));
    assert!(clients(web).await.is_empty());
    server.stop().await;
    let (server, web) = start_server(&dir, |c| {
        c.guard.token = Some(b"camera-token".to_vec());
        c.web.token = Some(b"web-token".to_vec());
    })
    .await;
    let mut page = RawCamera::open(web, "?name=door", &[("authorization", "Bearer web-token")]).await.expect("open");
    assert_eq!(page.exchange(&nvt_tests::harness::synthetic_jpeg(1)).await, Some(b'1'));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_chooses_the_front_or_back_camera_and_the_size_the_page_streams_at() {
    let _one = BROWSER.lock().await;
    let dir = temp_dir("camera-choice");
    // A 1280x720 camera; the page asks for 640x480, then for 1280x720.
    let scene = scene(&dir, (1280, 720));
    let (server, web) = start_server(&dir, |_| {}).await;
    let browser = Browser::launch(&dir, &fake_camera(&scene));
    // `quality=30` caps the JPEG quality the page encodes at; the kiosk link keeps the cap.
    let mut page = browser.open(&format!("http://{web}/camera?name=small&camera=front&size=640x480&quality=30")).await;
    let small = wait_accepted(&mut page, 5, Duration::from_secs(30)).await;
    assert_eq!(small["width"], "640", "{small}");
    let quality = small["quality"].as_str().and_then(|q| q.parse::<u32>().ok());
    assert!(quality.is_some_and(|q| (1..=30).contains(&q)), "the cap holds: {small}");
    let asked = page.eval("video.srcObject.getVideoTracks()[0].getConstraints()").await;
    assert_eq!(asked["facingMode"], "user", "the front camera was asked for: {asked}");
    let shown = page.eval("[$('camera').value, $('size').value, $('kiosk').getAttribute('href')]").await;
    assert_eq!(shown[0], "user");
    assert_eq!(shown[1], "640x480");
    assert_eq!(
        shown[2], "/camera?name=small&camera=user&size=640x480&quality=30",
        "the page offers the kiosk link: {shown}"
    );

    page.navigate(&format!("http://{web}/camera?name=large&camera=back&size=1280x720")).await;
    let large = wait_accepted(&mut page, 5, Duration::from_secs(30)).await;
    assert_eq!(large["width"], "1280", "{large}");
    assert!(large["quality"].as_str().and_then(|q| q.parse::<u32>().ok()).is_some_and(|q| q > 30), "uncapped: {large}");
    let asked = page.eval("video.srcObject.getVideoTracks()[0].getConstraints()").await;
    assert_eq!(asked["facingMode"], "environment", "the back camera was asked for: {asked}");
    server.stop().await;
    let records = read_jsonl(&dir.join("server.jsonl"));
    let widths = |camera: &str| -> BTreeSet<u64> {
        records.iter().filter(|r| r["camera"] == camera).filter_map(|r| r["width"].as_u64()).collect()
    };
    assert_eq!(widths("small"), BTreeSet::from([640]), "the server decoded the page's size");
    assert_eq!(widths("large"), BTreeSet::from([1280]));
    let _ = std::fs::remove_file(&scene);
}
