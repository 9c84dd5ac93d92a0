//! Where a processed frame goes: each output is a [`Sink`], and the pipeline hands every
//! processed frame to each sink in turn. Adding an output (events, MQTT) is one new file here and
//! one line where the server assembles its sinks.

use crate::client::Client;
use crate::record::FrameRecord;
use nvt_capture::Mat;

mod log;
mod reply;
mod stages;
mod viewers;
mod window;

pub use log::LogSink;
pub use reply::ReplySink;
pub use stages::StageMetricsSink;
pub use viewers::ViewerSink;
pub use window::WindowSink;

/// One processed frame, as every output sees it.
pub struct Processed<'a> {
    /// The client it came from.
    pub client: &'a Client,
    /// Its record: detections, timings, stamp.
    pub record: &'a FrameRecord,
    /// The picture, with the boxes drawn when anyone watches.
    pub image: &'a Mat,
}

/// An output of processed frames.
pub trait Sink: Send + Sync {
    /// Takes one processed frame. A sink that fails logs why; it never stops the others.
    fn frame(&self, frame: &Processed<'_>);
}
