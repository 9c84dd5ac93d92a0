//! Headless Chromium driven over the DevTools protocol: a page opened, JavaScript evaluated in
//! it (to read back what the page shows), screenshots. Each browser has a profile folder of its
//! own and a DevTools port on loopback that it picks itself; it is killed when dropped.

use crate::harness::{require, ChildGuard};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The flags every headless run takes: no sandbox (tests run as root), no GPU, nothing fetched
/// from the network, no throttling of a page's timers.
pub const HEADLESS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
];

/// The flags that give pages a fake camera playing `file` (Motion JPEG or Y4M), granted
/// without asking.
pub fn fake_camera(file: &Path) -> Vec<String> {
    vec![
        "--use-fake-device-for-media-stream".into(),
        "--use-fake-ui-for-media-stream".into(),
        format!("--use-file-for-fake-video-capture={}", file.display()),
    ]
}

/// A running headless Chromium.
pub struct Browser {
    port: u16,
    _process: ChildGuard,
}

impl Browser {
    /// Starts Chromium with its profile in `dir` and `args` besides [`HEADLESS`].
    pub fn launch(dir: &Path, args: &[String]) -> Self {
        require("chromium", "--version", "chromium");
        let profile: PathBuf = dir.join("chromium-profile");
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile folder");
        let child = Command::new("chromium")
            .args(HEADLESS)
            .args(["--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,900"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let process = ChildGuard(child);
        let active = profile.join("DevToolsActivePort");
        let until = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let text = std::fs::read_to_string(&active).unwrap_or_default();
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                break port;
            }
            assert!(Instant::now() < until, "chromium did not open its DevTools port");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self { port, _process: process }
    }

    /// The first page's DevTools connection, the page at `url`.
    pub async fn open(&self, url: &str) -> Page {
        let targets = self.json("/json/list").await;
        let page = targets
            .as_array()
            .and_then(|list| list.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("no page target in {targets}"))
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(page).await.expect("DevTools socket");
        let mut page = Page { socket, next: 0 };
        page.call("Page.enable", json!({})).await;
        page.navigate(url).await;
        page
    }

    async fn json(&self, path: &str) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = TcpStream::connect(("127.0.0.1", self.port)).await.expect("DevTools HTTP");
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port);
        sock.write_all(request.as_bytes()).await.expect("request");
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("DevTools {path}: {e}: {text}"))
    }
}

/// One page, over its DevTools socket.
pub struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Page {
    /// Calls a DevTools method and returns its result (events in between are passed over).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params).await.unwrap_or_else(|error| panic!("DevTools {method}: {error}"))
    }

    /// Calls a DevTools method: its result, or the error DevTools answered with (such as
    /// "Inspected target navigated or closed" for an evaluation the page left by navigating).
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::text(request)).await.expect("DevTools send");
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(message) = self.socket.next().await {
                let Ok(Message::Text(text)) = message else { continue };
                let value: Value = serde_json::from_str(&text).expect("DevTools JSON");
                if value["id"] == id {
                    return value;
                }
            }
            panic!("the DevTools socket closed");
        })
        .await
        .unwrap_or_else(|_| panic!("DevTools {method}: no answer in 30 s"));
        if !answer["error"].is_null() {
            return Err(answer["error"].clone());
        }
        Ok(answer["result"].clone())
    }

    /// Loads `url`.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// The value of a JavaScript expression in the page (a promise is awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` every 100 ms until it is truthy, and returns that value; `None`
    /// after `timeout`. While it throws (the page is still loading), or the page navigates away
    /// from it, it is not truthy yet.
    pub async fn wait_for(&mut self, expression: &str, timeout: Duration) -> Option<Value> {
        let until = Instant::now() + timeout;
        loop {
            // A page that navigates meanwhile drops the evaluation: not truthy yet either.
            let result = self
                .try_call(
                    "Runtime.evaluate",
                    json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
                )
                .await
                .unwrap_or_default();
            let value =
                if result.get("exceptionDetails").is_some() { Value::Null } else { result["result"]["value"].clone() };
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Some(value);
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the page as it shows now.
    pub async fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png =
            base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("data")).expect("base64");
        std::fs::write(path, png).expect("write the screenshot");
    }
}
