//! Our binaries against peers that behave exactly like the original Python client and server.

use nvt_tests::harness::{free_port, read_jsonl, spawn, temp_dir, wait_exit, wait_for_port};
use nvt_tests::original::{self, ClientOptions, OriginalServer};
use nvt_transport::ReplyBody;
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn an_original_client_streams_to_our_server() {
    let dir = temp_dir("orig-client");
    let log = dir.join("server.jsonl");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = spawn("nvt-server", &["--listen", &addr.to_string(), "--log", log.to_str().expect("utf8")]);
    wait_for_port(addr, Duration::from_secs(10));

    let options = ClientOptions { exchanges: 60, duration: Duration::from_secs(20), ..ClientOptions::default() };
    let report = original::run_client(addr, &options).expect("the original client runs to the end");
    std::thread::sleep(Duration::from_millis(200));
    // SIGTERM: the server stops cleanly and exits 0.
    std::process::Command::new("kill").arg(server.0.id().to_string()).status().expect("kill");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());

    assert_eq!(report.exchanges, 60, "{report:?}");
    // With TCP_QUICKACK on our side, even the original client's separate small writes pass the
    // 80 ms check: all 60 on a quiet machine; a busy one may make a few late.
    assert!(report.accepted >= 54, "{report:?}");
    for reply in &report.replies {
        assert!(matches!(ReplyBody::parse(reply), ReplyBody::Doc(_)), "1024 bytes of JSON after every '1'");
        assert_eq!(reply.len(), 1024);
    }
    let records = read_jsonl(&log);
    assert!(!records.is_empty() && records.len() as u64 <= report.accepted);
    let stamps: Vec<u64> = records.iter().map(|r| r["stamp"]["frame"].as_u64().expect("stamp")).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "frames decoded intact and in order: {stamps:?}");
}

#[test]
fn our_client_streams_to_an_original_server() {
    let dir = temp_dir("orig-server");
    let log = dir.join("client.jsonl");
    let server = OriginalServer::start(false).expect("original server");
    let addr = server.addr.to_string();
    let mut client = spawn(
        "nvt-client",
        &["--connect", &addr, "--source", "synthetic", "--frames", "20", "--log", log.to_str().expect("utf8")],
    );
    let status = wait_exit(&mut client, Duration::from_secs(60));
    let report = server.stop();

    assert!(status.success(), "--frames 20 ends the client with exit 0");
    // 20 distinct frames accepted; a frame the client had to send again (a repeat, when no newer
    // one was ready in time) is accepted again, beside its first copy.
    let mut distinct = report.stamps.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "{report:?}");
    assert_eq!(report.accepted as usize, report.stamps.len());
    assert_eq!(report.undecodable, 0);
    assert!(distinct.windows(2).all(|w| w[0] < w[1]), "{:?}", report.stamps);
    let exchanges = read_jsonl(&log);
    for record in exchanges.iter().filter(|r| r["accepted"] == true) {
        assert_eq!(record["response"], "received and not delay", "the original's text reply is kept as text");
    }
    for record in exchanges.iter().filter(|r| r["accepted"] == false) {
        assert!(record["response"].is_null());
    }
}

#[test]
fn the_original_pair_interoperates_with_itself_through_these_peers() {
    // Guards the peers themselves: the faithful client and server must work together.
    let server = OriginalServer::start(true).expect("server");
    let options = ClientOptions { exchanges: 15, nodelay: true, ..ClientOptions::default() };
    let report = original::run_client(server.addr, &options).expect("client");
    let seen = server.stop();
    assert_eq!(report.exchanges, 15);
    assert!(report.accepted >= 12, "with TCP_NODELAY on both sides the pair passes its own check: {report:?}");
    assert_eq!(report.accepted, seen.accepted);
    assert_eq!(
        report.replies.first().map(|r| r.as_slice()),
        (report.accepted > 0).then_some(&original::original_reply()[..])
    );
    assert_eq!(seen.stamps.len() as u64, seen.accepted);
    assert!(seen.stamps.windows(2).all(|w| w[0] < w[1]));
}
