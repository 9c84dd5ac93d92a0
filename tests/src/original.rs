//! Protocol peers that behave exactly like the original Python client (`user.py`) and server
//! (`server.py`) as `docs/protocol.md` describes them: no TCP_NODELAY, every
//! message its own small write, a single 32-byte `recv` that may return short, the 1024-byte
//! reply read only after `'1'`, and the server's `abs(now - float(echo)) > 0.08` check on its
//! own wall clock. They run on plain threads with blocking sockets, as the originals did.

use nvt_capture::slot::{Slot, Taken};
use nvt_capture::synthetic::Synthetic;
use nvt_capture::{jpeg, Stamp};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The original server's reply text, space padded to 1024 bytes.
pub fn original_reply() -> Vec<u8> {
    let mut reply = b"received and not delay".to_vec();
    reply.resize(1024, b' ');
    reply
}

/// `str(time.time()).ljust(32)`.
fn timestamp_field() -> Vec<u8> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut field = format!("{secs}").into_bytes();
    field.resize(32, b' ');
    field
}

/// How an original-style client runs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Camera frame rate; 0 produces a frame whenever the last one was taken.
    pub fps: f64,
    /// Frame size of the synthetic camera.
    pub size: (u32, u32),
    /// Stop after this many exchanges.
    pub exchanges: u64,
    /// Stop after this long.
    pub duration: Duration,
    /// Set TCP_NODELAY (the original does not).
    pub nodelay: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { fps: 30.0, size: (640, 480), exchanges: u64::MAX, duration: Duration::from_secs(5), nodelay: false }
    }
}

/// What an original-style client saw.
#[derive(Debug, Default, Clone)]
pub struct ClientReport {
    /// Exchanges completed.
    pub exchanges: u64,
    /// Flags '1' received.
    pub accepted: u64,
    /// Flags '0' received.
    pub timeouts: u64,
    /// The 1024-byte replies received.
    pub replies: Vec<Vec<u8>>,
    /// Round trip from sending the length to having the flag (and reply).
    pub rtts: Vec<Duration>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs an original-style client against `addr` with a synthetic camera.
pub fn run_client(addr: SocketAddr, options: &ClientOptions) -> io::Result<ClientReport> {
    let frames: Arc<Slot<Vec<u8>>> = Arc::new(Slot::new());
    let camera = spawn_camera(Arc::clone(&frames), options.fps, options.size);
    let result = exchange(addr, options, &frames);
    frames.close();
    let _ = camera.join();
    result
}

fn exchange(addr: SocketAddr, options: &ClientOptions, frames: &Slot<Vec<u8>>) -> io::Result<ClientReport> {
    let started = Instant::now();
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(options.nodelay)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut report = ClientReport::default();
    while report.exchanges < options.exchanges && started.elapsed() < options.duration {
        // user.py: str_buf = queue_frame.get(), then when_conn_start = sock.recv(32).
        let jpeg = match frames.take_timeout(Duration::from_secs(5)) {
            Taken::Value(jpeg) => jpeg,
            _ => break,
        };
        let mut ts = [0u8; 32];
        let n = sock.read(&mut ts)?;
        if n == 0 {
            break;
        }
        let mut length = jpeg.len().to_string().into_bytes();
        length.resize(32, b' ');
        let sent = Instant::now();
        sock.write_all(&length)?;
        sock.write_all(&jpeg)?;
        sock.write_all(&ts[..n])?;
        let mut flag = [0u8; 1];
        sock.read_exact(&mut flag)?;
        let flag = (flag[0] as char)
            .to_digit(10)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "ValueError: flag is not a digit"))?;
        if flag != 0 {
            let mut reply = vec![0u8; 1024];
            sock.read_exact(&mut reply)?;
            report.replies.push(reply);
            report.accepted += 1;
        } else {
            report.timeouts += 1;
        }
        report.rtts.push(sent.elapsed());
        report.exchanges += 1;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The camera thread of `user.py`: capture, encode at quality 100, clear the queue, put.
fn spawn_camera(frames: Arc<Slot<Vec<u8>>>, fps: f64, (w, h): (u32, u32)) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(scene) = Synthetic::new(w, h) else { return };
        let period = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps));
        let mut due = Instant::now();
        let mut index = 0u64;
        while !frames.is_closed() {
            match period {
                Some(period) => {
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    due = (due + period).max(Instant::now());
                }
                None => {
                    frames.wait_empty(Duration::from_millis(100));
                }
            }
            let Ok(frame) = scene.render(index, SystemTime::now()) else { return };
            let Ok(bytes) = jpeg::encode(&frame.image, 100) else { return };
            frames.put(bytes);
            index += 1;
        }
    })
}

/// What an original-style server saw.
#[derive(Debug, Default, Clone)]
pub struct ServerReport {
    /// Exchanges completed.
    pub exchanges: u64,
    /// Frames answered '1'.
    pub accepted: u64,
    /// Frames answered '0'.
    pub timeouts: u64,
    /// Frame numbers read from the pixel stamps of accepted frames, in arrival order.
    pub stamps: Vec<u32>,
    /// Accepted frames that did not decode.
    pub undecodable: u64,
    /// Milliseconds from each accepted frame's capture (its pixel stamp) to its decoding.
    pub ages_ms: Vec<f64>,
    /// The first few accepted frames' bytes, as they came.
    pub first_frames: Vec<Vec<u8>>,
}

/// An original-style server on a loopback port, serving each connection on its own thread.
pub struct OriginalServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<ServerReport>>,
    accept: Option<JoinHandle<()>>,
}

impl OriginalServer {
    /// Starts listening on `127.0.0.1:0`.
    pub fn start(nodelay: bool) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(ServerReport::default()));
        let accept = {
            let (stop, report) = (Arc::clone(&stop), Arc::clone(&report));
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            let (stop, report) = (Arc::clone(&stop), Arc::clone(&report));
                            workers.push(std::thread::spawn(move || {
                                let _ = serve(sock, nodelay, &stop, &report);
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                for worker in workers {
                    let _ = worker.join();
                }
            })
        };
        Ok(Self { addr, stop, report, accept: Some(accept) })
    }

    /// Stops it and returns what it saw.
    pub fn stop(mut self) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(mut sock: TcpStream, nodelay: bool, stop: &AtomicBool, report: &Mutex<ServerReport>) -> io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_nodelay(nodelay)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let reply = original_reply();
    while !stop.load(Ordering::Relaxed) {
        sock.write_all(&timestamp_field())?;
        let mut length = [0u8; 32];
        read_exact_until(&mut sock, &mut length, stop)?;
        // server.py: int(length); a ValueError is printed and the loop `continue`s.
        let Some(len) = std::str::from_utf8(&length).ok().and_then(|t| t.trim().parse::<usize>().ok()) else {
            continue;
        };
        let mut payload = vec![0u8; len];
        read_exact_until(&mut sock, &mut payload, stop)?;
        let mut echo = [0u8; 32];
        read_exact_until(&mut sock, &mut echo, stop)?;
        let Some(when) = std::str::from_utf8(&echo).ok().and_then(|t| t.trim().parse::<f64>().ok()) else {
            continue;
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        // `delay > 0.08` is false for NaN, so the original lets a `nan` echo through.
        let delay = (now - when).abs();
        let fresh = delay.is_nan() || delay <= 0.08;
        if fresh {
            sock.write_all(b"1")?;
            let stamp = jpeg::decode(&payload, jpeg::DEFAULT_MAX_PIXELS).ok().and_then(|img| Stamp::read(&img));
            sock.write_all(&reply)?;
            let mut r = report.lock().map_err(|_| io::Error::other("poisoned"))?;
            r.accepted += 1;
            if r.first_frames.len() < 8 {
                r.first_frames.push(payload.clone());
            }
            match stamp {
                Some(stamp) => {
                    r.stamps.push(stamp.index);
                    let age = SystemTime::now().duration_since(stamp.captured()).unwrap_or_default();
                    r.ages_ms.push(age.as_secs_f64() * 1000.0);
                }
                None => r.undecodable += 1,
            }
        } else {
            sock.write_all(b"0")?;
            report.lock().map_err(|_| io::Error::other("poisoned"))?.timeouts += 1;
        }
        report.lock().map_err(|_| io::Error::other("poisoned"))?.exchanges += 1;
    }
    Ok(())
}

/// `recv(n, MSG_WAITALL)`, giving up when the peer closes or the server stops.
fn read_exact_until(sock: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match sock.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::Relaxed) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
