//! Every malformed input of the classic protocol, each against a server that is meanwhile
//! streaming with a well-behaved client: the bad peer gets its designed answer (its connection
//! dropped with a log line, or its frame refused with '0'), and the good client keeps its frame
//! rate, its one connection and its replies.

use nvt_capture::SourceSpec;
use nvt_tests::harness::{synthetic_jpeg, TestServer};
use nvt_transport::field::{length_field, pad, timestamp_field};
use nvt_transport::Limits;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const GOOD_FPS: f64 = 30.0;
const GOOD_FOR: Duration = Duration::from_secs(4);
const READ_TIMEOUT: Duration = Duration::from_secs(1);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `bad` against a server while a good client streams, then checks the good client and
/// returns the server's summary.
async fn beside_a_good_client<F, Fut>(max_clients: usize, bad: F) -> nvt_server::Summary
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = ()>,
{
    let config = nvt_server::Config {
        max_lag: nvt_transport::MaxLag::Strict(Duration::from_millis(500)),
        limits: Limits { max_frame_bytes: 1 << 20, read_timeout: READ_TIMEOUT, exchange_timeout: EXCHANGE_TIMEOUT },
        max_clients,
        // Every peer here is on loopback: the per-address share is the whole.
        max_clients_per_ip: max_clients,
        ..nvt_server::Config::default()
    };
    let server = TestServer::start(config).await;
    let mut good = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    good.fps = Some(GOOD_FPS);
    good.duration = Some(GOOD_FOR);
    let good = tokio::spawn(nvt_client::run(good, CancellationToken::new()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    bad(server.addr).await;

    let summary = good.await.expect("task").expect("client");
    let served = server.stop().await;
    assert_eq!((summary.connections, summary.failures), (1, 0), "the good client was not disturbed: {summary:?}");
    // Its frame rate is a benchmark figure; that its frames were all accepted is not.
    assert!(
        summary.captured > 0 && summary.accepted as f64 >= 0.95 * summary.captured as f64,
        "the good client's frames were accepted: {summary:?}"
    );
    served
}

async fn connect(addr: SocketAddr) -> (TcpStream, [u8; 32]) {
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    let mut ts = [0u8; 32];
    tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut ts)).await.expect("ts in time").expect("ts");
    (sock, ts)
}

/// The server closes the connection within `within` (EOF or reset, after any bytes it sent).
async fn assert_dropped(sock: &mut TcpStream, within: Duration) {
    let until = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server did not drop the connection within {within:?}"),
        }
    }
}

async fn bad_length(field: &[u8]) {
    let field = pad::<32>(field).expect("fits");
    let served = beside_a_good_client(64, |addr| async move {
        let (mut sock, _) = connect(addr).await;
        sock.write_all(&field).await.expect("send");
        assert_dropped(&mut sock, Duration::from_secs(2)).await;
    })
    .await;
    assert_eq!(served.failed, 1, "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_numeric_length_drops_the_connection() {
    bad_length(b"abc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_length_drops_the_connection() {
    bad_length(b"-5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_length_drops_the_connection_before_any_payload() {
    bad_length(b"99999999999999").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_drops_the_connection() {
    bad_length(b"0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_float_length_drops_the_connection() {
    bad_length(b"1.5e3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_padded_length_drops_the_connection() {
    let mut field = [0u8; 32];
    field[..3].copy_from_slice(b"100");
    bad_length(&field).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_payload_is_dropped_after_the_read_timeout() {
    let served = beside_a_good_client(64, |addr| async move {
        let (mut sock, _) = connect(addr).await;
        sock.write_all(&length_field(50_000)).await.expect("len");
        sock.write_all(&[0x55; 10_000]).await.expect("part");
        let started = Instant::now();
        assert_dropped(&mut sock, READ_TIMEOUT + Duration::from_secs(2)).await;
        assert!(started.elapsed() >= READ_TIMEOUT - Duration::from_millis(100));
    })
    .await;
    assert_eq!(served.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_a_jpeg_is_refused_and_the_connection_goes_on() {
    let served = beside_a_good_client(64, |addr| async move {
        let (mut sock, ts) = connect(addr).await;
        let junk = vec![0x42u8; 1000];
        sock.write_all(&length_field(junk.len())).await.expect("len");
        sock.write_all(&junk).await.expect("payload");
        sock.write_all(&ts).await.expect("echo");
        let mut flag = [0u8; 1];
        sock.read_exact(&mut flag).await.expect("flag");
        assert_eq!(&flag, b"0", "refused");
        let mut next = [0u8; 32];
        sock.read_exact(&mut next).await.expect("the next timestamp: the stream is still in step");
        let jpeg = synthetic_jpeg(1);
        sock.write_all(&length_field(jpeg.len())).await.expect("len");
        sock.write_all(&jpeg).await.expect("payload");
        sock.write_all(&next).await.expect("echo");
        sock.read_exact(&mut flag).await.expect("flag");
        assert_eq!(&flag, b"1", "a good frame on the same connection is accepted");
        // The reply and the next timestamp are read before leaving: a peer that closes while the
        // server still writes makes a failed connection (seen on a loaded machine).
        let mut reply = [0u8; nvt_transport::field::REPLY_LEN];
        sock.read_exact(&mut reply).await.expect("reply");
        sock.read_exact(&mut next).await.expect("the next timestamp");
    })
    .await;
    assert_eq!((served.failed, served.frames.refused), (0, 1), "{served:?}");
}

async fn bad_echo(echo: [u8; 32]) {
    let served = beside_a_good_client(64, |addr| async move {
        let (mut sock, _) = connect(addr).await;
        let jpeg = synthetic_jpeg(2);
        sock.write_all(&length_field(jpeg.len())).await.expect("len");
        sock.write_all(&jpeg).await.expect("payload");
        sock.write_all(&echo).await.expect("echo");
        assert_dropped(&mut sock, Duration::from_secs(2)).await;
    })
    .await;
    assert_eq!(served.failed, 1, "{served:?}");
    assert_eq!(
        served.frames.processed + served.frames.superseded,
        served.frames.fresh,
        "the bad frame was never processed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_echo_drops_the_connection() {
    bad_echo(pad(b"not a timestamp").expect("fits")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_echo_drops_the_connection() {
    bad_echo(pad(b"nan").expect("fits")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inf_echo_drops_the_connection() {
    bad_echo(pad(b"inf").expect("fits")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_echo_drops_the_connection() {
    bad_echo(timestamp_field(4_102_444_800.0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_random_bytes_drops_the_connection() {
    let served = beside_a_good_client(64, |addr| async move {
        let (mut sock, _) = connect(addr).await;
        let mut seed = 0x9E37_79B9_u32;
        let noise: Vec<u8> = (0..65_536)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed >> 24) as u8
            })
            .collect();
        let _ = sock.write_all(&noise).await; // the server may close before taking it all
        assert_dropped(&mut sock, Duration::from_secs(2)).await;
    })
    .await;
    assert_eq!(served.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_frame_costs_only_that_connection() {
    let served = beside_a_good_client(64, |addr| async move {
        for _ in 0..5 {
            let (sock, _) = connect(addr).await;
            let mut sock = sock;
            sock.write_all(&length_field(100_000)).await.expect("len");
            sock.write_all(&[0x11; 30_000]).await.expect("part");
            socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO)).expect("linger");
            drop(sock); // RST
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(served.failed, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_idle_connections_are_refused_or_timed_out() {
    let served = beside_a_good_client(64, |addr| async move {
        let mut idle = Vec::new();
        for _ in 0..200 {
            if let Ok(sock) = TcpStream::connect(addr).await {
                idle.push(sock);
            }
        }
        // Past the read timeout every idle connection has been dropped...
        tokio::time::sleep(READ_TIMEOUT + Duration::from_millis(700)).await;
        for sock in &mut idle {
            assert_dropped(sock, Duration::from_secs(1)).await;
        }
        // ...and a new client is served again.
        let (mut sock, ts) = connect(addr).await;
        let jpeg = synthetic_jpeg(3);
        sock.write_all(&length_field(jpeg.len())).await.expect("len");
        sock.write_all(&jpeg).await.expect("payload");
        sock.write_all(&ts).await.expect("echo");
        let mut flag = [0u8; 1];
        sock.read_exact(&mut flag).await.expect("flag");
        assert_eq!(&flag, b"1");
    })
    .await;
    assert!(served.refused >= 200 - 63, "connections past --max-clients are refused and counted: {served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_connections_are_dropped_at_the_exchange_deadline() {
    let served = beside_a_good_client(64, |addr| async move {
        let mut socks = Vec::new();
        for _ in 0..20 {
            socks.push(connect(addr).await.0);
        }
        let started = Instant::now();
        let mut open = socks.len();
        // One byte every 300 ms: never silent for the 1 s read timeout, never a whole field.
        while open > 0 && started.elapsed() < EXCHANGE_TIMEOUT + Duration::from_secs(2) {
            open = 0;
            for sock in &mut socks {
                if sock.write_all(b"1").await.is_ok() {
                    open += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        for sock in &mut socks {
            assert_dropped(sock, Duration::from_secs(1)).await;
        }
        assert!(started.elapsed() >= EXCHANGE_TIMEOUT - Duration::from_millis(500));
    })
    .await;
    assert_eq!(served.failed, 20);
}
