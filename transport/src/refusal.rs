//! How a protected-mode server tells a client why it will not serve it (docs/protocol.md,
//! "Refusals"): instead of the first timestamp it sends one 32-byte field, `!` and a reason word,
//! space padded, then closes the connection. `!` never starts a timestamp, so a client tells a
//! refusal from the first exchange by its first byte; a client that knows no refusals fails on
//! it as on any malformed timestamp. The field itself is made where the protocol's fields are
//! ([`crate::field`]).

/// Why a server refused a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `!token`: the token field did not hold the server's token (or the client sent none and
    /// waited).
    Token,
    /// `!name`: the name field held no valid camera name.
    Name,
    /// `!tls`: the server speaks TLS and the client did not begin a handshake (sent in clear
    /// text).
    Tls,
    /// A reason word this client does not know (from a newer server).
    Other(String),
}

impl Refusal {
    /// The reason word on the wire.
    pub fn word(&self) -> &str {
        match self {
            Self::Token => "token",
            Self::Name => "name",
            Self::Tls => "tls",
            Self::Other(word) => word,
        }
    }

    /// Reads a refusal from the first bytes a server sent; `None` when they are not one.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(b"!")?;
        let word: String = rest
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
            .map(|&c| char::from(c))
            .collect();
        Some(match word.as_str() {
            "token" => Self::Token,
            "name" => Self::Name,
            "tls" => Self::Tls,
            _ => Self::Other(word),
        })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token => f.write_str(
                "the server refused the token: it needs the token it was started with (nvt-server --token-file), \
                 given here with --token-file",
            ),
            Self::Name => f.write_str("the server refused the camera name (--name): 1-64 letters, digits, '_' or '-'"),
            Self::Tls => f.write_str(
                "the server speaks TLS (protected mode): connect with --tls-ca and the server's certificate \
                 (to pin it) or the CA that signed it",
            ),
            Self::Other(word) => write!(f, "the server refused this client ({word:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FIELD_LEN;

    #[test]
    fn refusals_travel_as_one_field_and_read_back() {
        for refusal in [Refusal::Token, Refusal::Name, Refusal::Tls, Refusal::Other("busy".into())] {
            let field = refusal.field();
            assert_eq!(field.len(), FIELD_LEN);
            assert_eq!(field[0], b'!');
            assert_eq!(Refusal::parse(&field), Some(refusal));
        }
        assert_eq!(&Refusal::Token.field()[..8], b"!token  ");
        assert_eq!(Refusal::parse(b"1795698744.6040227"), None, "a timestamp is no refusal");
        assert_eq!(Refusal::parse(b"!"), Some(Refusal::Other(String::new())));
    }
}
