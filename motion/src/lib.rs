//! Where to look: the detector need not run on every frame of a camera that mostly shows an
//! empty hall. A cheap motion check on a small grey copy of each frame finds what moved
//! ([`background`]: a background model with a learning rate, a threshold, blobs of a least
//! area, [`mask`]s of areas to ignore, and a brightness change of the whole picture taken out by
//! [`brightness`]); the detector then runs only on [`regions`] around what moved and around the
//! tracked objects due a look, and not at all when there are none: the tracker carries the
//! objects over ([`watch`]). [`lookout::Lookout`] is one camera's state and its plan per frame.
//!
//! Pictures come in as [`Grey`] bytes (the pipeline makes them from each frame's JPEG); plans go
//! out as rectangles of the frame. Times are seconds on a clock the caller passes in. The
//! [`flags`] are the group every program that runs a detector on a stream puts in its command
//! line.

pub mod background;
pub mod blobs;
pub mod brightness;
pub mod error;
pub mod flags;
pub mod grey;
pub mod lookout;
pub mod mask;
pub mod regions;
pub mod settings;
pub mod watch;

pub use background::{Motion, MotionDetector};
pub use error::MotionError;
pub use flags::LookArgs;
pub use grey::Grey;
pub use lookout::{Look, Lookout, Plan};
pub use mask::{Mask, MaskSpec};
pub use regions::{Rect, RegionRules};
pub use settings::{DetectMode, LookSettings, MotionSettings};
pub use watch::{Seen, Watch, Watched};
