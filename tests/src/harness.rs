//! Starting nvt's real server and client on loopback, finding our binaries, reading logs.

use nvt_server::{Config, Summary};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// nvt-server running in this process on a loopback port.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Summary>,
}

impl TestServer {
    /// Starts the server on `127.0.0.1:0`.
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        Self::on(listener, config)
    }

    /// Starts the server on a given listener (to restart on the same port).
    pub fn on(listener: TcpListener, config: Config) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        let task = tokio::spawn(nvt_server::run(listener, config, stop.clone().cancelled_owned()));
        Self { addr, stop, task }
    }

    /// Stops it as SIGTERM would and returns its summary.
    pub async fn stop(self) -> Summary {
        self.stop.cancel();
        self.task.await.expect("server task")
    }
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of one of our binaries, built beside this executable (a tool in `target/<profile>/`)
/// or one folder up (a test in `target/<profile>/deps/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let found = exe.ancestors().skip(1).take(2).map(|d| d.join(name)).find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{name} is missing: run `cargo build --workspace --bins` first (`make test` does)"))
}

/// Runs one of our binaries with `args`, output to the test's own.
pub fn spawn(name: &str, args: &[&str]) -> ChildGuard {
    // The servers' event stores go into a folder of the test run's own, not the user's.
    let data = std::env::temp_dir().join(format!("nvt-data-{}", std::process::id()));
    let child = Command::new(binary(name))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("XDG_DATA_HOME", data)
        .spawn()
        .expect("spawn binary");
    ChildGuard(child)
}

/// The repository's `models/NAME` (`shapes.onnx`, `flicker.onnx`, ...).
pub fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)
}

/// Starts nvt-server on `listen` (a loopback `HOST:PORT`) with `models/shapes.onnx` and `extra`
/// flags, and waits until it accepts connections.
pub fn spawn_shapes_server(listen: &str, extra: &[&str]) -> ChildGuard {
    let model = model("shapes.onnx");
    let mut args = vec!["--listen", listen, "--model", model.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let server = spawn("nvt-server", &args);
    wait_for_port(listen.parse().expect("HOST:PORT"), std::time::Duration::from_secs(30));
    server
}

/// User plus system CPU seconds of process `pid` (`"self"` for this one) so far.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// A fresh temporary directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nvt-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Every complete line of a JSON Lines file, parsed; a complete line that is not valid JSON
/// fails the test. A last line without its newline is a record still being written by the
/// process under test (a reader can catch a write half done), so it is left for the next read.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")))
        .collect()
}

/// A loopback port that is free now (for restarting a server on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Waits until something accepts connections on `addr` (a server binary that is starting up).
pub fn wait_for_port(addr: SocketAddr, timeout: std::time::Duration) {
    let until = std::time::Instant::now() + timeout;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < until, "nothing listens on {addr} after {timeout:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits up to `timeout` for a child to exit by itself.
pub fn wait_exit(child: &mut ChildGuard, timeout: std::time::Duration) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status;
        }
        assert!(std::time::Instant::now() < until, "process still running after {timeout:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A JPEG of frame `index` of the synthetic scene, stamped.
pub fn synthetic_jpeg(index: u64) -> Vec<u8> {
    let scene = nvt_capture::synthetic::Synthetic::new(640, 480).expect("scene");
    let frame = scene.render(index, std::time::SystemTime::now()).expect("render");
    nvt_capture::jpeg::encode(&frame.image, 90).expect("encode")
}

/// Fails the test, saying what to install, when `program` does not run here.
pub fn require(program: &str, probe_arg: &str, debian_package: &str) {
    if Command::new(program).arg(probe_arg).output().is_err() {
        panic!(
            "{program} is needed by this test and is not installed: run `make setup` (Debian package {debian_package})"
        );
    }
}

/// An Xvfb display for window tests, stopped when dropped. A machine without Xvfb fails the
/// test with what to install: a test never passes by doing nothing.
pub struct VirtualDisplay {
    /// The DISPLAY value, e.g. `:93`.
    pub name: String,
    _server: ChildGuard,
}

impl VirtualDisplay {
    /// Starts Xvfb on a free display number.
    pub fn start() -> Self {
        require("Xvfb", "-help", "xvfb");
        let number = 90 + std::process::id() % 400;
        let name = format!(":{number}");
        let server = Command::new("Xvfb")
            .args([name.as_str(), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let display = Self { name, _server: ChildGuard(server) };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while display.window_names().is_none() {
            assert!(std::time::Instant::now() < until, "Xvfb did not come up");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        display
    }

    /// The names of the windows on the display (from `xwininfo -root -tree`).
    pub fn window_names(&self) -> Option<String> {
        let out = Command::new("xwininfo").args(["-display", &self.name, "-root", "-tree"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A plain HTTP/1.0 GET (the server then ends streaming bodies by closing): the status code,
/// the headers (lower-cased names) and as much of the body as arrives within `read_for`.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    read_for: std::time::Duration,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.expect("request");
    let mut raw = Vec::new();
    let until = tokio::time::Instant::now() + read_for;
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, sock.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

/// A plain HTTP/1.0 POST with a JSON body: the status code and the body. Waits up to 40 s for
/// the answer (`POST /api/model` answers once the load has ended, within 30 s).
pub async fn http_post(addr: SocketAddr, path: &str, json: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    sock.write_all(request.as_bytes()).await.expect("request");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(40), sock.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The CPU's model name, from `/proc/cpuinfo`, for benchmark headers.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The `qs` quantiles (0 to 1, nearest rank) of `values`; NaN for each when there are none.
pub fn quantiles(mut values: Vec<f64>, qs: &[f64]) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN);
    qs.iter().map(|&q| at(q)).collect()
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom` or `--screenshot=PATH`), letting
/// the page's timers run for `ms` milliseconds of virtual time.
pub fn chromium(url: &str, action: &str, ms: u64, profile: &Path) -> Option<String> {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args(["--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1280,900", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={ms}"))
        .arg(action)
        .arg(url)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One of our binaries running with its standard error read as it comes, at `RUST_LOG=info`,
/// so that a test can wait for a log line and read what the program said. Killed when dropped.
pub struct Logged {
    child: ChildGuard,
    text: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Logged {
    /// Starts `name` with `args`.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_env(name, args, &[])
    }

    /// Starts `name` with `args` and these environment variables besides.
    pub fn start_env(name: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(binary(name))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn binary");
        let stderr = child.stderr.take().expect("piped");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let into = std::sync::Arc::clone(&text);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut text = into.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self { child: ChildGuard(child), text }
    }

    /// What it wrote to standard error so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits up to `timeout` for a line containing `needle`; the whole text so far.
    pub fn wait_for(&self, needle: &str, timeout: std::time::Duration) -> String {
        let until = std::time::Instant::now() + timeout;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(std::time::Instant::now() < until, "no {needle:?} after {timeout:?}:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for it to exit by itself; its status and all it said.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> (std::process::ExitStatus, String) {
        let status = wait_exit(&mut self.child, timeout);
        // The reader thread gets what was written before the exit.
        std::thread::sleep(std::time::Duration::from_millis(100));
        (status, self.text())
    }

    /// Stops it with SIGTERM and waits up to 10 s; its status and all it said.
    pub fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill").arg(self.child.0.id().to_string()).status();
        self.wait_exit(std::time::Duration::from_secs(10))
    }
}

/// Sends one raw HTTP/1.1 `request` (the whole text, head and body) and reads the answer until
/// the server closes or `timeout` passes between reads: the status (0 when none came), the head
/// in lower case, and the body.
pub fn raw_http(addr: SocketAddr, request: &str, timeout: std::time::Duration) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    sock.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = sock.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}
