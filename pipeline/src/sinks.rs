//! Where a processed frame goes: each output is a [`Sink`], and the pipeline hands every
//! processed frame to each sink in turn. Adding an output (events, MQTT) is one new file here and
//! one line where the server assembles its sinks.

use crate::feed::Feed;
use crate::record::FrameRecord;
use nvt_capture::Mat;

mod events;
mod log;
mod reply;
mod stages;
mod viewers;
mod window;

pub use events::EventSink;
pub use log::LogSink;
pub use reply::ReplySink;
pub use stages::StageMetricsSink;
pub use viewers::ViewerSink;
pub use window::WindowSink;

/// One processed frame, as every output sees it.
pub struct Processed<'a> {
    /// The feed it came from.
    pub feed: &'a Feed,
    /// Its record: detections, timings, stamp.
    pub record: &'a FrameRecord,
    /// The picture as it came (shared, so that an output can keep it without a copy).
    pub image: &'a std::sync::Arc<Mat>,
    /// The picture with the boxes drawn when anyone watches (else the same as `image`).
    pub annotated: &'a Mat,
    /// Whether its detections went through its camera's tracker, in order: only such a frame
    /// makes events (one that finished after a newer one of its camera is not tracked).
    pub tracked: bool,
}

/// An output of processed frames.
pub trait Sink: Send + Sync {
    /// Takes one processed frame. A sink that fails logs why; it never stops the others.
    fn frame(&self, frame: &Processed<'_>);

    /// A feed has connected (before its first frame).
    fn joined(&self, _client: &Feed) {}

    /// A feed has gone. A frame of it may still finish later (it was being detected): a sink
    /// that keeps something per feed makes it inside [`Feed::while_open`], so that such a
    /// frame does not make it again.
    fn left(&self, _client: &Feed) {}
}
