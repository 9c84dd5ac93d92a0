//! The classic protocol of the original Network-Video-Transmission project, byte for byte
//! (`docs/protocol.md`), for both roles: bytes come in from and go out to a TCP (or TLS)
//! stream; frames, verdicts and replies come out to the server's session and the client's loop.
//!
//! One exchange, with the field widths on the wire:
//!
//! ```text
//! server → client   32     timestamp, ASCII decimal seconds, space padded
//! client → server   32     payload length N, ASCII decimal, space padded
//! client → server   N      JPEG
//! client → server   32     the timestamp echoed verbatim
//! server → client   1      '1' fresh, '0' stale (see `freshness`: --max-lag)
//! server → client   1024   only after '1': a reply, space padded (nvt: a JSON document)
//! ```
//!
//! - [`field`]: the fixed-width ASCII fields and their parsers.
//! - [`arrival`], [`freshness`]: when a frame came in, and whether it is fresh (`--max-lag`).
//! - [`codec`]: both roles as pure state machines: bytes in, messages out, time passed in.
//! - [`reply`]: the JSON document nvt puts in the 1024-byte reply.
//! - [`conn`]: the thin tokio layer: exact reads with timeouts, one write per message group,
//!   TCP_NODELAY and TCP_QUICKACK so that neither side waits on Nagle or delayed ACKs.
//! - [`pacing`]: when the server asks for the next frame, learned from the client's frame rate.
//! - [`protect`]: opt-in protected mode: TLS and a shared token; [`verify`]: the client's check
//!   of the server's certificate (pinned, or signed); [`self_signed`]: a certificate of the
//!   server's own; [`refusal`]: how a server says why it refuses a client.
//! - [`sniff`]: telling what a peer speaks when it is not the protocol (HTTP, TLS, plain).

pub mod arrival;
pub mod codec;
pub mod conn;
pub mod error;
pub mod field;
pub mod freshness;
pub mod pacing;
pub mod protect;
pub mod refusal;
pub mod reply;
pub mod self_signed;
pub mod sniff;
pub mod stream;
pub mod verify;

pub use arrival::Arrival;
pub use codec::{ClientCodec, ClientFrame, ServerCodec, ServerEvent, Verdict};
pub use conn::{ClientConnection, Limits, ReceivedFrame, ServerConnection};
pub use error::{CodecError, TransportError};
pub use freshness::{Judgement, MaxLag, StaleReason};
pub use pacing::Pacer;
pub use refusal::Refusal;
pub use reply::{Judged, LinkReport, Looked, ReplyBody, ReplyDetection, ReplyDoc};
pub use sniff::Foreign;
pub use stream::Stream;
