//! nvt's own client and server, end to end over loopback sockets.

use nvt_capture::SourceSpec;
use nvt_client::Config as ClientConfig;
use nvt_server::Config as ServerConfig;
use nvt_support::JsonLines;
use nvt_tests::harness::{free_port, read_jsonl, synthetic_jpeg, temp_dir, TestServer};
use nvt_transport::field::{length_field, parse_timestamp};
use nvt_transport::ReplyBody;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

fn logged_server(log: &Path) -> ServerConfig {
    ServerConfig {
        log: Some(Arc::new(JsonLines::open(log.to_str().expect("utf8")).expect("log"))),
        ..ServerConfig::default()
    }
}

fn synthetic_client(addr: std::net::SocketAddr, log: Option<&Path>) -> ClientConfig {
    let mut config = ClientConfig::new(addr.to_string(), SourceSpec::Synthetic);
    config.log = log.map(|p| Arc::new(JsonLines::open(p.to_str().expect("utf8")).expect("log")));
    config.backoff_cap = Duration::from_millis(500);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_arrive_intact_and_their_stamps_decode_to_the_numbers_sent() {
    let dir = temp_dir("intact");
    let server = TestServer::start(logged_server(&dir.join("server.jsonl"))).await;
    let mut client = synthetic_client(server.addr, Some(&dir.join("client.jsonl")));
    // Paced well below what the decoder takes on any machine, so that every frame is processed;
    // the run's deadline turns a stream that stalls into a failure, not a hang.
    client.fps = Some(20.0);
    client.frames = Some(40);
    client.duration = Some(Duration::from_secs(60));
    let summary = nvt_client::run(client, CancellationToken::new()).await.expect("client");
    let served = server.stop().await;

    assert_eq!((summary.accepted, summary.failures, summary.connections), (40, 0, 1));
    let exchanges = read_jsonl(&dir.join("client.jsonl"));
    assert_eq!(exchanges.len() as u64, summary.sent + summary.repeats);
    let accepted: HashSet<u64> =
        exchanges.iter().filter(|r| r["accepted"] == true).filter_map(|r| r["frame"].as_u64()).collect();
    for record in &exchanges {
        if record["accepted"] == true {
            assert!(record["response"]["seq"].is_u64(), "our server's reply is JSON: {record}");
        }
    }

    let processed = read_jsonl(&dir.join("server.jsonl"));
    assert_eq!(processed.len() as u64, served.frames.processed);
    assert_eq!(
        served.frames.processed + served.frames.superseded,
        served.frames.fresh,
        "every fresh frame is accounted for"
    );
    assert!(served.frames.processed >= 38, "at 20 fps the decoder keeps up: at most 2 of 40 superseded: {served:?}");
    let mut last = None;
    for record in &processed {
        assert_eq!((record["width"].as_u64(), record["height"].as_u64()), (Some(640), Some(480)));
        let stamp = record["stamp"]["frame"].as_u64().expect("every synthetic frame carries a stamp");
        assert!(accepted.contains(&stamp), "stamp {stamp} was not a frame the client sent and saw accepted");
        assert!(last < Some(stamp), "frames are processed in order");
        last = Some(stamp);
        assert!(record["latency_ms"].as_f64().expect("latency") >= 0.0);
        assert_eq!(record["detections"], serde_json::json!([]));
    }
    assert_eq!(last, Some(39), "the frame accepted last is processed too, though the client left at once");
}

/// The original rule (`--max-lag 80ms`): an echo 150 ms after its timestamp is late, even the
/// first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_echo_is_answered_zero_and_the_frame_is_not_processed() {
    let dir = temp_dir("stale");
    let strict = ServerConfig {
        max_lag: nvt_transport::MaxLag::Strict(Duration::from_millis(80)),
        ..logged_server(&dir.join("server.jsonl"))
    };
    let server = TestServer::start(strict).await;
    let mut sock = TcpStream::connect(server.addr).await.expect("connect");

    let mut ts = [0u8; 32];
    sock.read_exact(&mut ts).await.expect("ts");
    tokio::time::sleep(Duration::from_millis(150)).await;
    send_frame(&mut sock, &synthetic_jpeg(3), &ts).await;
    assert_eq!(read_byte(&mut sock).await, b'0');
    // No 1024-byte reply after '0': the next bytes are already the next timestamp.
    sock.read_exact(&mut ts).await.expect("next ts");
    parse_timestamp(&ts).expect("a timestamp follows the '0' directly");

    send_frame(&mut sock, &synthetic_jpeg(7), &ts).await;
    assert_eq!(read_byte(&mut sock).await, b'1');
    let mut reply = [0u8; 1024];
    sock.read_exact(&mut reply).await.expect("reply");
    assert!(matches!(ReplyBody::parse(&reply), ReplyBody::Doc(_)));
    drop(sock);
    let served = server.stop().await;

    assert_eq!((served.frames.stale, served.frames.fresh, served.frames.processed), (1, 1, 1));
    let processed = read_jsonl(&dir.join("server.jsonl"));
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0]["stamp"]["frame"], 7, "only the fresh frame was decoded");
}

/// `--max-lag auto`: once a prompt answer has shown the link's round trip, a timestamp held 150 ms
/// at the client is late; the upload time never counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_timestamp_held_at_the_client_is_late() {
    let dir = temp_dir("stale-auto");
    let server = TestServer::start(logged_server(&dir.join("server.jsonl"))).await;
    let mut sock = TcpStream::connect(server.addr).await.expect("connect");
    let mut ts = [0u8; 32];
    let mut reply = [0u8; 1024];
    sock.read_exact(&mut ts).await.expect("ts");
    send_frame(&mut sock, &synthetic_jpeg(1), &ts).await;
    assert_eq!(read_byte(&mut sock).await, b'1', "a prompt answer");
    sock.read_exact(&mut reply).await.expect("reply");
    sock.read_exact(&mut ts).await.expect("ts");
    tokio::time::sleep(Duration::from_millis(150)).await;
    send_frame(&mut sock, &synthetic_jpeg(2), &ts).await;
    assert_eq!(read_byte(&mut sock).await, b'0', "held 150 ms");
    sock.read_exact(&mut ts).await.expect("next ts");
    // A frame that takes 200 ms to arrive, sent at once, is on time: only the wait counts.
    let jpeg = synthetic_jpeg(3);
    sock.write_all(&length_field(jpeg.len())).await.expect("len");
    sock.write_all(&jpeg[..1000]).await.expect("a first part");
    tokio::time::sleep(Duration::from_millis(200)).await;
    sock.write_all(&jpeg[1000..]).await.expect("the rest");
    sock.write_all(&ts).await.expect("echo");
    assert_eq!(read_byte(&mut sock).await, b'1', "a slow upload is not a late frame");
    sock.read_exact(&mut reply).await.expect("reply");
    let ReplyBody::Doc(doc) = ReplyBody::parse(&reply) else { panic!("JSON reply") };
    let link = doc.link.expect("the reply says how the frame was judged");
    assert_eq!(link.judged, nvt_transport::Judged::Wait);
    assert!(link.upload_ms >= 190.0 && link.wait_ms < 20.0, "{link:?}");
    drop(sock);
    let served = server.stop().await;
    assert_eq!((served.frames.stale, served.frames.fresh), (1, 2), "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_frame_does_not_disturb_another() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut good = synthetic_client(server.addr, None);
    good.duration = Some(Duration::from_secs(3));
    let good = tokio::spawn(nvt_client::run(good, CancellationToken::new()));

    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let mut bad = TcpStream::connect(server.addr).await.expect("connect");
        let mut ts = [0u8; 32];
        bad.read_exact(&mut ts).await.expect("ts");
        bad.write_all(&length_field(200_000)).await.expect("len");
        bad.write_all(&vec![0xAB; 50_000]).await.expect("half a frame");
        drop(bad);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let summary = good.await.expect("task").expect("client");
    let served = server.stop().await;
    assert_eq!((summary.connections, summary.failures), (1, 0), "{summary:?}");
    assert!(
        summary.accepted as f64 >= 0.95 * summary.captured as f64 && summary.captured > 0,
        "the good client's frames were accepted while the bad ones came and went: {summary:?}"
    );
    assert_eq!(served.failed, 3, "each vanished client cost only its own connection: {served:?}");
    assert_eq!(served.accepted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_resumes_by_itself_after_the_server_restarts() {
    let dir = temp_dir("restart");
    let port = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let first = TestServer::on(listener, logged_server(&dir.join("first.jsonl")));

    let stop = CancellationToken::new();
    let client = tokio::spawn(nvt_client::run(synthetic_client(addr, None), stop.clone()));
    wait_for_records(&dir.join("first.jsonl"), 5).await;
    let before = first.stop().await;
    assert!(before.frames.processed >= 5);

    tokio::time::sleep(Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind the same port");
    let second = TestServer::on(listener, logged_server(&dir.join("second.jsonl")));
    let resumed = Instant::now();
    wait_for_records(&dir.join("second.jsonl"), 5).await;
    let resume_time = resumed.elapsed();
    stop.cancel();
    let summary = client.await.expect("task").expect("client");
    let after = second.stop().await;

    assert!(summary.connections >= 2 && summary.failures >= 1, "{summary:?}");
    assert!(after.frames.processed >= 5, "{after:?}");
    // How quickly is a benchmark figure (swap-bench, soak); here only that it happens, within
    // wait_for_records' deadline.
    let _ = resume_time;
}

async fn wait_for_records(log: &Path, n: usize) {
    let until = Instant::now() + Duration::from_secs(15);
    while read_jsonl(log).len() < n {
        assert!(Instant::now() < until, "fewer than {n} records in {} after 15 s", log.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send_frame(sock: &mut TcpStream, jpeg: &[u8], echo: &[u8; 32]) {
    sock.write_all(&length_field(jpeg.len())).await.expect("len");
    sock.write_all(jpeg).await.expect("payload");
    sock.write_all(echo).await.expect("echo");
}

async fn read_byte(sock: &mut TcpStream) -> u8 {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut byte)).await.expect("in time").expect("flag");
    byte[0]
}
