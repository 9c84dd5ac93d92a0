//! `--show`: one OpenCV window per feed, all driven from one thread, since GUI toolkits want
//! their windows handled by a single thread.

use nvt_capture::slot::Slot;
use nvt_capture::Mat;
use nvt_support::sync::lock;
use opencv::highgui;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The open windows: each a name and the slot its frames arrive in.
type Windows = Mutex<Vec<(String, Arc<Slot<Mat>>)>>;

/// The window thread and the windows it shows.
pub struct Display {
    windows: Arc<Windows>,
    thread: Option<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Display {
    /// Starts the window thread.
    pub fn start() -> Self {
        let windows: Arc<Windows> = Arc::default();
        let stop = CancellationToken::new();
        let thread = {
            let (windows, stop) = (Arc::clone(&windows), stop.clone());
            std::thread::Builder::new().name("display".into()).spawn(move || show_loop(&windows, &stop)).ok()
        };
        Self { windows, thread, stop }
    }

    /// A window named `name`; frames put in the returned slot are shown, and closing the slot
    /// closes the window.
    pub fn window(&self, name: &str) -> Arc<Slot<Mat>> {
        let slot = Arc::new(Slot::new());
        lock(&self.windows).push((name.to_owned(), Arc::clone(&slot)));
        slot
    }

    /// Closes every window and stops the thread.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn show_loop(windows: &Windows, stop: &CancellationToken) {
    let mut open: Vec<String> = Vec::new();
    while !stop.is_cancelled() {
        let current: Vec<_> = lock(windows).clone();
        for (name, slot) in &current {
            if let Some(image) = slot.try_take() {
                if !open.contains(name) {
                    let _ = highgui::named_window(name, highgui::WINDOW_AUTOSIZE);
                    open.push(name.clone());
                }
                if let Err(e) = highgui::imshow(name, &image) {
                    tracing::warn!(window = %name, error = %e, "cannot show frame");
                }
            }
        }
        lock(windows).retain(|(name, slot)| {
            let gone = slot.is_closed();
            if gone && open.contains(name) {
                let _ = highgui::destroy_window(name);
                open.retain(|n| n != name);
            }
            !gone
        });
        // waitKey runs the GUI event loop; it also paces this thread.
        if open.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        } else {
            let _ = highgui::wait_key(5);
        }
    }
    let _ = highgui::destroy_all_windows();
}
