//! Typed errors: what a peer sent wrong ([`CodecError`]) and what went wrong on the socket
//! ([`TransportError`]).

use std::time::Duration;

/// A protocol violation found in the bytes a peer sent. The connection cannot continue in step.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// A length field that is not a plain decimal integer.
    #[error("length field is not a decimal integer: {0:?}")]
    BadLength(String),
    /// A length field holding a negative number.
    #[error("length field is negative: {0:?}")]
    NegativeLength(String),
    /// A length of zero: there is no image to decode.
    #[error("length field is zero: an empty frame")]
    ZeroLength,
    /// A frame larger than the configured maximum; refused before any of it is buffered.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Declared length (saturated at `u64::MAX`).
        len: u64,
        /// Limit in force.
        max: usize,
    },
    /// A field padded with NUL bytes; the protocol pads with spaces only.
    #[error("{0} field contains NUL bytes (fields are padded with spaces)")]
    NulInField(&'static str),
    /// A timestamp field that is not a finite, non-negative decimal number.
    #[error("timestamp field is not a finite number: {0:?}")]
    BadTimestamp(String),
    /// The client echoed something other than the timestamp it was sent.
    #[error("echo {echo:?} does not match the timestamp sent, {sent:?}")]
    EchoMismatch {
        /// The timestamp the server sent.
        sent: String,
        /// What came back.
        echo: String,
    },
    /// A flag byte other than an ASCII digit.
    #[error("flag byte is not an ASCII digit: 0x{0:02x}")]
    BadFlag(u8),
    /// A value too long for its fixed-width field (fields are never truncated).
    #[error("{len} bytes do not fit a {width}-byte field")]
    FieldTooLong {
        /// Length of the value.
        len: usize,
        /// Field width.
        width: usize,
    },
}

/// Why an exchange on a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer broke the protocol.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The socket failed (reset, refused, ...).
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection in the middle of a message.
    #[error("peer closed the connection while we waited for {0}")]
    Closed(&'static str),
    /// The peer sent nothing for too long.
    #[error("no data from the peer for {after:?} while waiting for {waiting_for}")]
    ReadTimeout {
        /// The read timeout in force.
        after: Duration,
        /// What we were waiting for.
        waiting_for: &'static str,
    },
    /// The TLS handshake failed (wrong certificate, plaintext peer, ...).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The client did not present the shared token.
    #[error("wrong or missing token")]
    BadToken,
    /// The client's name field held no valid camera name (see [`crate::protect::valid_name`]).
    #[error("the camera name the client gave is not 1-64 letters, digits, '_' or '-'")]
    BadName,
    /// A whole exchange took longer than its deadline (a trickling peer).
    #[error("exchange not complete within its {0:?} deadline")]
    ExchangeDeadline(Duration),
}

impl TransportError {
    /// Whether the peer simply went away at a message boundary, which is not an error to report.
    pub fn is_clean_close(&self) -> bool {
        matches!(self, Self::Closed("the next message"))
    }
}
