//! `--show` under a virtual display: one window per client, named by its peer, and the client's
//! own preview window.

use nvt_tests::harness::{binary, free_port, wait_exit, wait_for_port, ChildGuard, VirtualDisplay};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn show_opens_a_window_per_client_named_by_its_camera_and_peer() {
    let display = VirtualDisplay::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let run = |name: &str, args: &[&str]| {
        let child = Command::new(binary(name)).args(args).env("DISPLAY", &display.name).env("RUST_LOG", "warn").spawn();
        ChildGuard(child.expect("spawn"))
    };
    let mut server = run("nvt-server", &["--listen", &addr, "--show"]);
    wait_for_port(addr.parse().expect("addr"), Duration::from_secs(10));
    let mut client = run("nvt-client", &["--connect", &addr, "--source", "synthetic", "--duration", "6s", "--show"]);

    let until = Instant::now() + Duration::from_secs(5);
    let mut names = String::new();
    while Instant::now() < until {
        names = display.window_names().unwrap_or_default();
        if names.contains("\"127_0_0_1 (127.0.0.1:") && names.contains("\"nvt-client\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(names.contains("\"127_0_0_1 (127.0.0.1:"), "a server window named by camera and address:\n{names}");
    assert!(names.contains("\"nvt-client\""), "the client's preview window:\n{names}");

    assert!(wait_exit(&mut client, Duration::from_secs(20)).success());
    Command::new("kill").arg(server.0.id().to_string()).status().expect("kill");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success(), "SIGTERM stops the server cleanly");
}

#[test]
fn show_without_a_display_is_a_clear_error() {
    let out = Command::new(binary("nvt-server"))
        .args(["--listen", "127.0.0.1:0", "--show"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--show needs a display"), "{err}");
}
