//! Each peer says what it is when it meets the wrong one: a client pointed at the web port, a TLS
//! client at a classic port, an HTTP request or a TLS hello at the protocol port; and
//! `nvt-server --tls-self-signed`, whose certificate clients pin, end to end with the binaries.

use nvt_capture::SourceSpec;
use nvt_client::exchange::GaveUp;
use nvt_tests::harness::{free_port, temp_dir, wait_for_port, Logged, TestServer};
use nvt_tests::pki::openssl;
use nvt_transport::{protect, Foreign, TransportError};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs a client with `config` until it gives up; fails if it streams or outlasts 30 s.
async fn gives_up(mut config: nvt_client::Config) -> (GaveUp, Duration) {
    config.duration = Some(Duration::from_secs(30));
    config.limits.read_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let error = nvt_client::run(config, CancellationToken::new()).await.expect_err("gives up");
    (error.downcast::<GaveUp>().expect("gave up"), started.elapsed())
}

fn pinned(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed");
    let (cert, key) = (dir.join("pinned.pem"), dir.join("pinned.key"));
    std::fs::write(&cert, made.cert.pem()).expect("write");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("write");
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_at_the_web_port_is_told_to_use_the_listen_port() {
    let dir = temp_dir("wrong-port-web");
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let web = http.local_addr().expect("addr");
    let server = TestServer::start(nvt_server::Config { http: Some(http), ..nvt_server::Config::default() }).await;
    // Classic mode: the web server waits for a request, so the client asks it in HTTP.
    let (gave_up, took) = gives_up(nvt_client::Config::new(web.to_string(), SourceSpec::Synthetic)).await;
    assert!(matches!(gave_up.error, TransportError::ForeignServer(Foreign::Http)), "{}", gave_up.error);
    let said = gave_up.error.to_string();
    assert!(said.contains("--listen") && said.contains("--http"), "names the flags: {said}");
    assert!(took < Duration::from_secs(20), "a few tries: {took:?}");
    // With TLS, the web server answers the handshake in HTTP.
    let (cert, _) = pinned(&dir);
    let mut config = nvt_client::Config::new(web.to_string(), SourceSpec::Synthetic);
    config.tls =
        Some((protect::connector(&cert).expect("connector"), protect::server_name("localhost").expect("name")));
    let (gave_up, _) = gives_up(config).await;
    assert!(matches!(gave_up.error, TransportError::ForeignServer(Foreign::Http)), "{}", gave_up.error);
    let served = server.stop().await;
    assert_eq!(served.accepted, 0, "nothing reached the protocol port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_at_a_classic_port_is_told_the_server_has_no_tls() {
    let dir = temp_dir("wrong-port-tls");
    let server = TestServer::start(nvt_server::Config::default()).await;
    let (cert, _) = pinned(&dir);
    let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    config.tls =
        Some((protect::connector(&cert).expect("connector"), protect::server_name("localhost").expect("name")));
    let (gave_up, _) = gives_up(config).await;
    assert!(matches!(gave_up.error, TransportError::ForeignServer(Foreign::Plain)), "{}", gave_up.error);
    assert!(gave_up.error.to_string().contains("drop --tls-ca"), "{}", gave_up.error);
    server.stop().await;
}

/// A client pointed at a server of another protocol altogether (a real nats-server, whose first
/// words are `INFO {...}`) gives up after a few tries, saying so, instead of retrying for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_at_a_server_of_another_protocol_gives_up_saying_so() {
    let dir = temp_dir("wrong-peer-nats");
    let nats = nvt_tests::nats::NatsServer::start(&dir.join("nats"), 1 << 20);
    let (gave_up, took) = gives_up(nvt_client::Config::new(nats.addr.to_string(), SourceSpec::Synthetic)).await;
    assert!(matches!(gave_up.error, TransportError::ForeignServer(Foreign::Other)), "{}", gave_up.error);
    assert!(gave_up.error.to_string().contains("--listen"), "names the flag: {}", gave_up.error);
    assert!(took < Duration::from_secs(20), "a few tries: {took:?}");
}

/// What a raw peer gets back: all the server sends until it closes (5 s at most).
fn exchange(addr: &str, send: &[u8]) -> Vec<u8> {
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    sock.write_all(send).expect("send");
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got);
    got
}

/// A TLS ClientHello's first bytes, as a TLS client sends them to a port that does not speak TLS.
const HELLO: [u8; 48] = {
    let mut hello = [0u8; 48];
    let head = [0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03];
    let mut i = 0;
    while i < head.len() {
        hello[i] = head[i];
        i += 1;
    }
    hello
};

#[test]
fn the_server_says_what_reached_its_port() {
    // A bare port listens on every address, as `--http 41080` takes one.
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/shapes.onnx");
    let mut server = Logged::start("nvt-server", &["--listen", &port, "--model", model]);
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(15));
    exchange(&addr, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    server.wait_for("an HTTP request reached the protocol port", Duration::from_secs(5));
    exchange(&addr, &HELLO);
    let said = server.wait_for("a TLS handshake reached this port", Duration::from_secs(5));
    assert!(said.contains("--tls-cert") && said.contains("--http"), "with the flags to use:\n{said}");
    let (status, said) = server.stop();
    assert!(status.success(), "{status}\n{said}");
    assert!(said.contains("model loaded"), "{said}");
    assert!(!said.contains("{ "), "no Rust debug formatting in the log (the model's layout, a summary):\n{said}");
    assert!(!said.contains("held_back_since_last=0"), "no zero counts:\n{said}");
}

#[test]
fn a_self_signed_server_is_pinned_and_tells_everyone_else_why_not() {
    let dir = temp_dir("self-signed-binaries");
    let certs = dir.join("certs");
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("token");
    let wrong = dir.join("wrong-token");
    std::fs::write(&wrong, "guess\n").expect("token");
    let addr = format!("127.0.0.1:{}", free_port());
    let args = ["--listen", &addr, "--tls-self-signed", certs.to_str().expect("utf8"), "--token-file"];
    let mut server = Logged::start("nvt-server", &[&args[..], &[token.to_str().expect("utf8")]].concat());
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(15));
    let said = server.wait_for("clients pin it", Duration::from_secs(5));
    let cert = certs.join(nvt_transport::self_signed::CERT_FILE);
    let fingerprint = openssl::fingerprint(&cert);
    assert!(said.contains(&fingerprint), "the fingerprint openssl shows ({fingerprint}):\n{said}");
    assert!(said.contains("--tls-ca"), "{said}");

    // The client that pins it streams, and its stop is no error to the server.
    let cert = cert.to_str().expect("utf8");
    let token = token.to_str().expect("utf8");
    let common = ["--connect", &addr, "--source", "synthetic", "--tls-ca", cert, "--tls-server-name", "localhost"];
    let mut client = Logged::start("nvt-client", &[&common[..], &["--token-file", token, "--duration", "3s"]].concat());
    let (status, client_said) = client.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{client_said}");
    assert!(client_said.contains("client stopped:") && client_said.contains("accepted"), "{client_said}");
    // A wrong token: told so, status 2, within a few tries.
    let started = Instant::now();
    let wrong = wrong.to_str().expect("utf8");
    let mut refused = Logged::start("nvt-client", &[&common[..], &["--token-file", wrong]].concat());
    let (status, refused_said) = refused.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "{refused_said}");
    assert!(refused_said.contains("refused the token"), "{refused_said}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    // An HTTP request at the protocol port gets an HTTP answer that names the web view's flag.
    let answer = String::from_utf8_lossy(&exchange(&addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).into_owned();
    assert!(answer.starts_with("HTTP/1.0 400") && answer.contains("--http"), "{answer}");

    let (status, said) = server.stop();
    assert!(status.success(), "{status}\n{said}");
    let dropped: Vec<&str> = said.lines().filter(|l| l.contains("connection dropped")).collect();
    assert!(dropped.is_empty(), "a client that stops is no error:\n{}", dropped.join("\n"));
    assert!(!said.contains("docs.rs"), "{said}");
    assert!(said.contains("wrong or missing token"), "{said}");
    // A restart keeps the certificate: the pinned file stays good.
    let mut again =
        Logged::start("nvt-server", &["--listen", &addr, "--tls-self-signed", certs.to_str().expect("utf8")]);
    let said = again.wait_for("clients pin it", Duration::from_secs(15));
    assert!(said.contains("kept from the last start") && said.contains(&fingerprint), "{said}");
    again.stop();
}
