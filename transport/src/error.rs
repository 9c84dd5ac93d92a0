//! Typed errors: what a peer sent wrong ([`CodecError`]) and what went wrong on the socket
//! ([`TransportError`]).

use crate::refusal::Refusal;
use crate::sniff::Foreign;
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
    #[error("socket error: {}", describe_io(.0))]
    Io(std::io::Error),
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
    /// The TLS handshake failed (a peer that went away, a protocol version in common, ...).
    #[error("TLS handshake failed: {}", describe_io(.0))]
    Tls(std::io::Error),
    /// The server's certificate did not verify: the sentence says why, and what to do.
    #[error("{0}")]
    Certificate(String),
    /// The server refused this client, and said why (protected mode).
    #[error("{0}")]
    Refused(Refusal),
    /// The server speaks another protocol (seen by a client).
    #[error("{}", foreign_server(*.0))]
    ForeignServer(Foreign),
    /// The client speaks another protocol (seen by a server).
    #[error("{}", foreign_client(*.0))]
    ForeignClient(Foreign),
    /// The client did not present the shared token.
    #[error("wrong or missing token (the client was told so)")]
    BadToken,
    /// The client's name field held no valid camera name (see [`crate::protect::valid_name`]).
    #[error("the camera name the client gave is not 1-64 letters, digits, '_' or '-'")]
    BadName,
    /// A whole exchange took longer than its deadline (a trickling peer).
    #[error("exchange not complete within its {0:?} deadline")]
    ExchangeDeadline(Duration),
}

impl From<std::io::Error> for TransportError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl TransportError {
    /// Whether the peer simply went away at a message boundary, which is not an error to report.
    pub fn is_clean_close(&self) -> bool {
        matches!(self, Self::Closed("the next message"))
    }

    /// Whether trying again cannot help (a client's view): the server refused this client, its
    /// certificate does not verify, or it speaks another protocol. What can fix itself (a
    /// refused or reset connection, a timeout, a server restarting) is not.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Certificate(_) | Self::Refused(_) | Self::ForeignServer(_))
    }
}

/// An I/O error's own words, without the links some libraries add.
fn describe_io(error: &std::io::Error) -> String {
    let text = error.to_string();
    if error.kind() == std::io::ErrorKind::UnexpectedEof && text.contains("close_notify") {
        return "the peer closed the connection without ending TLS (no close_notify)".into();
    }
    match text.split_once(": https://") {
        Some((words, _)) => words.to_owned(),
        None => text,
    }
}

/// What a client is told when the server turns out to speak another protocol.
fn foreign_server(foreign: Foreign) -> &'static str {
    match foreign {
        Foreign::Http => {
            "this is an HTTP server (nvt-server's web view?), not the protocol port: --connect takes the port of \
             the server's --listen (1998 unless changed), not of its --http"
        }
        Foreign::Tls => {
            "the server answered in TLS: it runs protected mode; connect with --tls-ca and the server's \
             certificate (to pin it) or the CA that signed it"
        }
        Foreign::Plain => {
            "the server does not speak TLS (it runs classic mode, or is not nvt-server): drop --tls-ca, or start \
             the server with --tls-cert and --tls-key (or --tls-self-signed DIR)"
        }
        Foreign::Other => {
            "this server speaks another protocol (its first bytes are no timestamp): --connect takes the address \
             of nvt-server's --listen, or of another server of the classic protocol"
        }
    }
}

/// What a server logs when a client turns out to speak another protocol.
fn foreign_client(foreign: Foreign) -> &'static str {
    match foreign {
        Foreign::Http => {
            "an HTTP request reached the protocol port (--listen): browsers and HTTP clients go to the address \
             of --http"
        }
        Foreign::Tls => {
            "a TLS handshake reached this port, which runs without TLS: start the server with --tls-cert and \
             --tls-key (or --tls-self-signed DIR), or drop --tls-ca on the client"
        }
        Foreign::Plain => {
            "a client without TLS reached this port, which speaks TLS (it was told so): the client needs --tls-ca"
        }
        Foreign::Other => "a client speaking another protocol reached the protocol port (--listen)",
    }
}
