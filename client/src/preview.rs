//! `--show` on the client: the frames it sends, with the detections the server returned drawn
//! over them, in a local window run by its own thread.

use nvt_capture::slot::{Slot, Taken};
use nvt_capture::Mat;
use nvt_transport::ReplyDetection;
use opencv::core::{Point, Rect, Scalar};
use opencv::{highgui, imgproc};
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

/// Draws each detection's box and label.
pub fn draw(image: &mut Mat, detections: &[ReplyDetection]) -> opencv::Result<()> {
    for d in detections {
        let [x1, y1, x2, y2] = d.bbox.map(|v| v.round() as i32);
        let colour = Scalar::new(0.0, 255.0, 255.0, 0.0);
        imgproc::rectangle(
            image,
            Rect::new(x1, y1, (x2 - x1).max(1), (y2 - y1).max(1)),
            colour,
            2,
            imgproc::LINE_8,
            0,
        )?;
        let text = format!("{} {:.2}", d.label, d.score);
        let origin = Point::new(x1, (y1 - 4).max(12));
        imgproc::put_text(
            image,
            &text,
            origin,
            imgproc::FONT_HERSHEY_SIMPLEX,
            0.5,
            colour,
            1,
            imgproc::LINE_AA,
            false,
        )?;
    }
    Ok(())
}
