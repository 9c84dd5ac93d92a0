//! Live numbers of the exchange loop: a one-line status on a terminal, a log line otherwise.
//! It tells apart what the camera captured, what went out for the first time, what the server
//! accepted, what was sent again to keep the handshake fresh, and what came back stale and why;
//! and it shows the link: its round trip, its upload rate, and the quality and size in use.

use crate::fit::Late;
use std::io::Write;
use std::time::{Duration, Instant};

/// What one exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// The frame went out for the first time (not a repeat).
    pub new: bool,
    /// The server answered '1'.
    pub accepted: bool,
    /// This answer is the first '1' for its frame: one more distinct frame accepted.
    pub newly_accepted: bool,
    /// Why it was late, when it was.
    pub late: Option<Late>,
}

/// The link and the encoder as of one exchange.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// The round trip, without the upload.
    pub rtt: Option<Duration>,
    /// The upload rate.
    pub upload_mbit_s: Option<f64>,
    /// The frame's JPEG quality.
    pub quality: i32,
    /// Its width and height.
    pub size: (u32, u32),
    /// Its bytes.
    pub bytes: usize,
    /// Whether only probes go, the link being unable to carry a frame on time.
    pub probing: bool,
}

/// Counts over the current reporting window.
#[derive(Debug)]
pub struct Status {
    window_start: Instant,
    captured_at_start: u64,
    sent: u64,
    repeats: u64,
    accepted: u64,
    stale: u64,
    stale_link: u64,
    rtts: Vec<f64>,
    link: Option<Link>,
    terminal: bool,
    every: Duration,
}

impl Status {
    /// Reports every `every`, as a rewritten terminal line when `terminal` is true.
    pub fn new(terminal: bool, every: Duration) -> Self {
        Self {
            window_start: Instant::now(),
            captured_at_start: 0,
            sent: 0,
            repeats: 0,
            accepted: 0,
            stale: 0,
            stale_link: 0,
            rtts: Vec::new(),
            link: None,
            terminal,
            every,
        }
    }

    /// Records one exchange; `captured` is the capture thread's running count of frames.
    pub fn exchange(&mut self, exchange: Exchange, rtt: Duration, link: Link, captured: u64) {
        self.link = Some(link);
        if exchange.late == Some(Late::Link) {
            self.stale_link += 1;
        }
        if exchange.new {
            self.sent += 1;
        } else {
            self.repeats += 1;
        }
        if !exchange.accepted {
            self.stale += 1;
        }
        if exchange.newly_accepted {
            self.accepted += 1;
        }
        self.rtts.push(rtt.as_secs_f64() * 1000.0);
        if self.window_start.elapsed() >= self.every {
            self.report(captured);
        }
    }

    /// Writes the report for the window so far and starts a new window.
    pub fn report(&mut self, captured: u64) {
        let secs = self.window_start.elapsed().as_secs_f64().max(1e-9);
        self.rtts.sort_by(f64::total_cmp);
        let rtt_p50 = self.rtts.get(self.rtts.len() / 2).copied().unwrap_or(0.0);
        let per_s = |n: u64| n as f64 / secs;
        let captured_fps = per_s(captured.saturating_sub(self.captured_at_start));
        let (sent_fps, accepted_fps, repeats_per_s) = (per_s(self.sent), per_s(self.accepted), per_s(self.repeats));
        let stale = self.stale;
        let late_why = match (stale, self.stale_link) {
            (0, _) => String::new(),
            (_, 0) => " (waited for the camera)".to_owned(),
            (n, link) if link == n => " (the link is too slow for the server's limit)".to_owned(),
            (_, link) => format!(" ({link} for the link, the rest waited for the camera)"),
        };
        let link = self.link.unwrap_or(Link {
            rtt: None,
            upload_mbit_s: None,
            quality: 0,
            size: (0, 0),
            bytes: 0,
            probing: false,
        });
        let link_rtt = link.rtt.map_or("?".to_owned(), |r| format!("{:.0}", r.as_secs_f64() * 1000.0));
        let up =
            link.upload_mbit_s
                .map_or("?".to_owned(), |m| if m >= 1000.0 { ">1000".to_owned() } else { format!("{m:.1}") });
        let (w, h) = link.size;
        let kb = link.bytes as f64 / 1000.0;
        let mode = if link.probing { " | probing: the link cannot be on time" } else { "" };
        if self.terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2Kcaptured {captured_fps:5.1} fps | sent {sent_fps:5.1} fps | accepted {accepted_fps:5.1} fps | repeats {repeats_per_s:5.1}/s | stale {stale}{late_why} | exchange p50 {rtt_p50:5.1} ms | link rtt {link_rtt} ms, up {up} Mbit/s | q{} {w}x{h} {kb:.0} KB{mode}",
                link.quality
            );
            let _ = err.flush();
        } else {
            tracing::info!(
                captured_fps = format!("{captured_fps:.1}"),
                sent_fps = format!("{sent_fps:.1}"),
                accepted_fps = format!("{accepted_fps:.1}"),
                repeats_per_s = format!("{repeats_per_s:.1}"),
                stale,
                stale_link = self.stale_link,
                exchange_p50_ms = format!("{rtt_p50:.1}"),
                link_rtt_ms = %link_rtt,
                upload_mbit_s = %up,
                quality = link.quality,
                size = %format!("{w}x{h}"),
                frame_kb = format!("{kb:.1}"),
                probing = link.probing,
                "status"
            );
        }
        *self = Self::new(self.terminal, self.every);
        self.captured_at_start = captured;
    }

    /// Ends the status line so that later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.terminal {
            eprintln!();
        }
    }
}
