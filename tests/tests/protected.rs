//! Protected mode: TLS (a CA-signed or a pinned self-signed certificate, made by rcgen and by
//! the `openssl` command line) and a shared token. The right client streams; a wrong token, an
//! untrusted certificate or a plaintext peer gets nothing, costs only its own connection, and
//! is told why: the client gives up after a few tries with the reason.

use nvt_capture::SourceSpec;
use nvt_client::exchange::{GaveUp, GIVE_UP_AFTER};
use nvt_tests::harness::{http_get, temp_dir, TestServer};
use nvt_tests::original::{self, ClientOptions};
use nvt_tests::pki::openssl;
use nvt_transport::protect::{self, Guard};
use nvt_transport::{Refusal, TransportError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    self_signed: PathBuf,
    self_signed_key: PathBuf,
    other_ca: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        (params.self_signed(&key).expect("ca"), key)
    };
    let (ca_cert, ca_key) = ca("nvt test CA");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf");
    let pinned = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed");
    let (other, _) = ca("someone else's CA");
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", leaf.pem()),
        key: write("server.key", leaf_key.serialize_pem()),
        self_signed: write("pinned.pem", pinned.cert.pem()),
        self_signed_key: write("pinned.key", pinned.key_pair.serialize_pem()),
        other_ca: write("other-ca.pem", other.pem()),
    }
}

async fn protected_server(cert: &Path, key: &Path, token: Option<&[u8]>) -> TestServer {
    let guard = Guard { tls: Some(protect::acceptor(cert, key).expect("acceptor")), token: token.map(<[u8]>::to_vec) };
    TestServer::start(nvt_server::Config { guard, ..nvt_server::Config::default() }).await
}

async fn stream(
    server: &TestServer,
    trust: &Path,
    name: &str,
    token: Option<&[u8]>,
    frames: u64,
) -> nvt_client::Summary {
    try_stream(server, trust, name, token, frames).await.expect("client")
}

/// Streams, or gives up with why.
async fn try_stream(
    server: &TestServer,
    trust: &Path,
    name: &str,
    token: Option<&[u8]>,
    frames: u64,
) -> Result<nvt_client::Summary, GaveUp> {
    let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
    config.tls = Some((protect::connector(trust).expect("connector"), protect::server_name(name).expect("name")));
    config.token = token.map(<[u8]>::to_vec);
    config.frames = Some(frames);
    config.duration = Some(Duration::from_secs(8));
    nvt_client::run(config, CancellationToken::new()).await.map_err(|e| e.downcast::<GaveUp>().expect("gave up"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_and_the_right_token_streams() {
    let pki = pki(&temp_dir("pki-ok"));
    let server = protected_server(&pki.cert, &pki.key, Some(b"s3cret")).await;
    let summary = stream(&server, &pki.ca, "localhost", Some(b"s3cret"), 20).await;
    let served = server.stop().await;
    assert_eq!(summary.accepted, 20, "{summary:?}");
    assert_eq!(served.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_self_signed_certificate_streams() {
    let pki = pki(&temp_dir("pki-pinned"));
    let server = protected_server(&pki.self_signed, &pki.self_signed_key, None).await;
    let summary = stream(&server, &pki.self_signed, "localhost", None, 10).await;
    server.stop().await;
    assert_eq!(summary.accepted, 10, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_told_why_and_the_client_gives_up() {
    let pki = pki(&temp_dir("pki-token"));
    let server = protected_server(&pki.cert, &pki.key, Some(b"s3cret")).await;
    for token in [Some(&b"guess"[..]), None] {
        let started = std::time::Instant::now();
        let gave_up = try_stream(&server, &pki.ca, "localhost", token, 5).await.expect_err("refused");
        assert!(matches!(gave_up.error, TransportError::Refused(Refusal::Token)), "{token:?}: {}", gave_up.error);
        assert!(gave_up.error.to_string().contains("--token-file"), "{}", gave_up.error);
        assert_eq!((gave_up.summary.accepted, gave_up.summary.failures), (0, u64::from(GIVE_UP_AFTER)));
        assert!(started.elapsed() < Duration::from_secs(8), "a few tries, not forever: {:?}", started.elapsed());
    }
    let served = server.stop().await;
    assert!(served.failed >= 2 * u64::from(GIVE_UP_AFTER), "{served:?}");
    assert_eq!(served.frames.fresh, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_wrong_name_is_told_why() {
    let pki = pki(&temp_dir("pki-untrusted"));
    let server = protected_server(&pki.cert, &pki.key, None).await;
    let untrusted = try_stream(&server, &pki.other_ca, "localhost", None, 5).await.expect_err("untrusted CA");
    assert!(
        matches!(&untrusted.error, TransportError::Certificate(why) if why.contains("neither pinned")),
        "{}",
        untrusted.error
    );
    let named = try_stream(&server, &pki.ca, "example.com", None, 5).await.expect_err("name not in the certificate");
    assert!(
        matches!(&named.error, TransportError::Certificate(why) if why.contains("--tls-server-name") && why.contains("localhost")),
        "{}",
        named.error
    );
    let served = server.stop().await;
    assert_eq!(served.frames.fresh, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssl_self_signed_certificate_marked_ca_is_pinned() {
    let dir = temp_dir("openssl-pinned");
    let (cert, key) = openssl::self_signed(&dir, "server");
    assert!(openssl::text(&cert).contains("CA:TRUE"), "OpenSSL 3 marks it a CA, which is the point of this test");
    let server = protected_server(&cert, &key, Some(b"s3cret")).await;
    let summary = stream(&server, &cert, "localhost", Some(b"s3cret"), 10).await;
    assert_eq!(summary.accepted, 10, "{summary:?}");
    // Pinned means exactly that certificate, whatever name the client connects by.
    assert_eq!(stream(&server, &cert, "127.0.0.1", Some(b"s3cret"), 3).await.accepted, 3);
    // Another certificate made the same way is not it.
    let (other, _) = openssl::self_signed(&dir, "other");
    let wrong = try_stream(&server, &other, "localhost", Some(b"s3cret"), 3).await.expect_err("another certificate");
    assert!(matches!(wrong.error, TransportError::Certificate(_)), "{}", wrong.error);
    let served = server.stop().await;
    assert_eq!(served.frames.fresh, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssl_ca_signed_certificate_verifies_as_before() {
    let dir = temp_dir("openssl-ca");
    let (ca, cert, key) = openssl::ca_signed(&dir);
    let server = protected_server(&cert, &key, None).await;
    assert_eq!(stream(&server, &ca, "localhost", None, 5).await.accepted, 5, "trusting the CA");
    assert_eq!(stream(&server, &cert, "localhost", None, 5).await.accepted, 5, "pinning the server's own");
    // Through the CA, every check still holds: the name must be one the certificate carries.
    let named = try_stream(&server, &ca, "example.com", None, 3).await.expect_err("not its name");
    assert!(matches!(named.error, TransportError::Certificate(_)), "{}", named.error);
    let (someone_else, _) = openssl::self_signed(&dir, "someone-else");
    let wrong = try_stream(&server, &someone_else, "localhost", None, 3).await.expect_err("another CA");
    assert!(matches!(wrong.error, TransportError::Certificate(_)), "{}", wrong.error);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_tls_at_a_tls_port_are_told_to_use_it() {
    let pki = pki(&temp_dir("pki-no-tls"));
    let server = protected_server(&pki.cert, &pki.key, Some(b"s3cret")).await;
    for token in [None, Some(b"s3cret".to_vec())] {
        let mut config = nvt_client::Config::new(server.addr.to_string(), SourceSpec::Synthetic);
        config.token = token.clone();
        config.duration = Some(Duration::from_secs(20));
        let error = nvt_client::run(config, CancellationToken::new()).await.expect_err("refused");
        let gave_up = error.downcast::<GaveUp>().expect("gave up");
        assert!(matches!(gave_up.error, TransportError::Refused(Refusal::Tls)), "{token:?}: {}", gave_up.error);
        assert!(gave_up.error.to_string().contains("--tls-ca"), "{}", gave_up.error);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_cannot_talk_to_a_tls_server() {
    let pki = pki(&temp_dir("pki-plain"));
    let server = protected_server(&pki.cert, &pki.key, None).await;
    let addr = server.addr;
    let options = ClientOptions { exchanges: 3, duration: Duration::from_secs(3), ..ClientOptions::default() };
    let report = tokio::task::spawn_blocking(move || original::run_client(addr, &options)).await.expect("task");
    assert!(report.map_or(true, |r| r.accepted == 0), "no frame is accepted in clear text");
    let served = server.stop().await;
    assert_eq!(served.frames.fresh, 0);
    assert!(served.failed >= 1, "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_is_not_listed_counted_or_served_before_its_token_checks() {
    let pki = pki(&temp_dir("pki-unregistered"));
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_addr = http.local_addr().expect("addr");
    let guard =
        Guard { tls: Some(protect::acceptor(&pki.cert, &pki.key).expect("acceptor")), token: Some(b"s3cret".to_vec()) };
    let limits = nvt_transport::Limits { read_timeout: Duration::from_secs(1), ..nvt_transport::Limits::default() };
    let config = nvt_server::Config { guard, limits, http: Some(http), ..nvt_server::Config::default() };
    let server = TestServer::start(config).await;
    // Ten peers that connect and say nothing: no TLS handshake, no token.
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, _, listed) = http_get(http_addr, "/api/clients", Duration::from_secs(2)).await;
    assert_eq!(String::from_utf8_lossy(&listed), "[]", "none of them is listed");
    let (_, _, metrics) = http_get(http_addr, "/metrics", Duration::from_secs(2)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.lines().any(|l| l == "nvt_connected_clients 0"), "none of them is counted:\n{metrics}");
    // They are told that the port speaks TLS and dropped, without ever having been a client.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut sock in silent {
        use tokio::io::AsyncReadExt;
        let mut told = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), sock.read_to_end(&mut told)).await;
        assert!(read.expect("dropped in time").is_ok(), "the server closed the connection");
        assert_eq!(Refusal::parse(&told), Some(Refusal::Tls), "{:?}", String::from_utf8_lossy(&told));
    }
    let served = server.stop().await;
    assert_eq!((served.frames.fresh, served.failed), (0, 10), "{served:?}");
}
