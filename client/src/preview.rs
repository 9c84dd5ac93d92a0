//! `--show` on the client: the frames it sends, with the detections the server returned drawn
//! over them, in a local window run by its own thread.

use nvt_capture::slot::{Slot, Taken};
use nvt_capture::Mat;
use nvt_transport::ReplyDetection;
use opencv::highgui;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const WINDOW: &str = "nvt-client";

/// A frame and the detections to draw on it.
pub type Annotated = (Mat, Vec<ReplyDetection>);

/// Starts the window thread; it ends when the slot is closed.
pub fn spawn(slot: Arc<Slot<Annotated>>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("preview".into()).spawn(move || {
        loop {
            match slot.take_timeout(Duration::from_millis(20)) {
                Taken::Value((mut image, detections)) => {
                    if let Err(error) = draw(&mut image, &detections).and_then(|()| highgui::imshow(WINDOW, &image)) {
                        tracing::warn!(%error, "cannot show the preview");
                    }
                }
                Taken::Timeout => {}
                Taken::Closed => break,
            }
            let _ = highgui::wait_key(1);
        }
        let _ = highgui::destroy_all_windows();
    })
}

/// Draws each detection's box and label, in its class's colour.
pub fn draw(image: &mut Mat, detections: &[ReplyDetection]) -> opencv::Result<()> {
    for d in detections {
        nvt_capture::draw::draw_box(image, d.bbox, d.class_id as usize, &d.label, d.score)?;
    }
    Ok(())
}
