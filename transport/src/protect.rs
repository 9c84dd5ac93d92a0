//! Protected mode, for networks that cannot be trusted: TLS (rustls) around the classic
//! protocol, and a shared token the client presents before the first exchange. Classic mode,
//! without either, stays the default so that original clients keep working.
//!
//! On the wire, protected mode is: the TLS handshake (when TLS is on), then the client sends a
//! 64-byte field holding the token, space padded (when a token is set), then a 64-byte field
//! holding the camera's name, space padded (all spaces when it names none), then the classic
//! exchange exactly as in classic mode. A client the server will not serve is told why
//! ([`crate::refusal`]) before the connection closes.

use crate::error::TransportError;
use crate::refusal::Refusal;
use crate::sniff::Foreign;
use crate::stream::Stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Width of the token field.
pub const TOKEN_LEN: usize = 64;

/// Width of the camera-name field, and the longest camera name.
pub const NAME_LEN: usize = 64;

/// Whether `name` can name a camera: 1 to 64 ASCII letters, digits, `_` and `-`, the names
/// Frigate allows (`^[a-zA-Z0-9_-]+$`): they become MQTT topic levels, NATS subject tokens,
/// Home Assistant ids and snapshot file names as they are.
pub fn valid_name(name: &str) -> bool {
    (1..=NAME_LEN).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// What can be wrong with the protected-mode settings.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// A certificate, key or token file could not be read or parsed.
    #[error("cannot read {what} from {path}: {reason}")]
    File {
        /// Which file it is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, ...).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// A token that is empty or longer than the field.
    #[error("the token in {0} must be 1 to 64 bytes of printable ASCII, without spaces")]
    Token(PathBuf),
    /// The name the client checks the server's certificate against is not valid.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> ProtectError {
    ProtectError::File { what, path: path.into(), reason: reason.to_string() }
}

/// A PEM file's bytes: a regular file of at most 1 MiB.
fn pem(path: &Path, what: &'static str) -> Result<Vec<u8>, ProtectError> {
    nvt_support::files::read_regular(path, 1 << 20).map_err(|e| file_error(what, path, e))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side of TLS, from a PEM certificate chain and its PEM private key.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, ProtectError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem(cert, "certificates")?)
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("certificates", cert, e))?;
    if chain.is_empty() {
        return Err(file_error("certificates", cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem(key, "the private key")?)
        .map_err(|e| file_error("the private key", key, e))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The client side of TLS, trusting the certificates in `trust` (PEM) as [`crate::verify`]
/// says: the server's own certificate, pinned (a self-signed one, whatever OpenSSL marked it),
/// or the CA that signed the server's certificate.
pub fn connector(trust: &Path) -> Result<tokio_rustls::TlsConnector, ProtectError> {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&pem(trust, "trusted certificates")?)
            .collect::<Result<_, _>>()
            .map_err(|e| file_error("trusted certificates", trust, e))?;
    if certificates.is_empty() {
        return Err(file_error("trusted certificates", trust, "no certificate in the file"));
    }
    let verifier = crate::verify::PinnedOrSigned::new(certificates, provider())?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The name a client checks the server's certificate against (a DNS name or an IP address).
pub fn server_name(name: &str) -> Result<ServerName<'static>, ProtectError> {
    ServerName::try_from(name.to_owned()).map_err(|_| ProtectError::ServerName(name.to_owned()))
}

/// Reads a token file: its first line, trimmed.
pub fn read_token(path: &Path) -> Result<Vec<u8>, ProtectError> {
    let text = nvt_support::files::read_text(path, 4096).map_err(|e| file_error("the token", path, e))?;
    let token = text.lines().next().unwrap_or("").trim().as_bytes().to_vec();
    if token.is_empty() || token.len() > TOKEN_LEN || !token.iter().all(|c| c.is_ascii_graphic()) {
        return Err(ProtectError::Token(path.into()));
    }
    Ok(token)
}

/// How long a new connection to a protected port may stay silent before the server concludes
/// that the client waits for it to speak first (a classic client, or one without the token) and
/// tells it why it is refused.
pub const SILENCE: Duration = Duration::from_secs(1);

/// How long a refused connection is given to take the refusal and close, so that the bytes it
/// sent and nobody read do not turn the close into a reset that loses the refusal.
const LINGER: Duration = Duration::from_secs(1);

/// What the server answers an HTTP request on its protocol port in protected mode.
const HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\r\nThis is nvt-server's protocol port (--listen), for nvt-client. \
The web view is served at the address of --http.\n";

/// The server's half of protected mode on a new connection: TLS handshake, then the token.
pub struct Guard {
    /// TLS, when on.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The token clients must present, when set.
    pub token: Option<Vec<u8>>,
}

/// How an admission ended, short of an error.
enum Admission {
    /// The stream, and the name the client gave itself.
    Admitted(Box<dyn Stream>, Option<String>),
    /// Refused: `answer` goes to the client, then the connection closes.
    Refused { stream: Box<dyn Stream>, answer: Vec<u8>, why: TransportError },
}

impl Guard {
    /// Whether anything is checked.
    pub fn is_classic(&self) -> bool {
        self.tls.is_none() && self.token.is_none()
    }

    /// Admits a connection: the handshake, the token and the name field must all complete within
    /// `timeout`. Returns the stream and the name the client gave itself, if any. A client that
    /// is refused is told why first (docs/protocol.md, "Refusals"): a wrong or missing token, an
    /// invalid name, or no TLS where the port speaks it; an HTTP request gets an HTTP answer.
    pub async fn admit(
        &self,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<(Box<dyn Stream>, Option<String>), TransportError> {
        if self.is_classic() {
            return Ok((Box::new(tcp), None));
        }
        let admission =
            tokio::time::timeout(timeout, self.admission(tcp, SILENCE.min(timeout / 2))).await.map_err(|_| {
                TransportError::ReadTimeout { after: timeout, waiting_for: "the TLS handshake and token" }
            })??;
        match admission {
            Admission::Admitted(stream, name) => Ok((stream, name)),
            Admission::Refused { mut stream, answer, why } => {
                let linger = async {
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                    let mut scratch = [0u8; 1024];
                    while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
                };
                let _ = tokio::time::timeout(LINGER, linger).await;
                Err(why)
            }
        }
    }

    async fn admission(&self, tcp: TcpStream, silence: Duration) -> Result<Admission, TransportError> {
        // What the client starts with: a TLS handshake, a token, or nothing (it waits for us).
        let mut peeked = [0u8; crate::sniff::KEPT];
        let first = match tokio::time::timeout(silence, tcp.peek(&mut peeked)).await {
            Ok(Ok(0)) => return Err(TransportError::Closed("the TLS handshake or the token")),
            Ok(Ok(n)) => &peeked[..n],
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => &[],
        };
        let refuse =
            |stream: Box<dyn Stream>, answer: &[u8], why| Admission::Refused { stream, answer: answer.to_vec(), why };
        let foreign = crate::sniff::client_speaks(first, self.tls.is_some());
        let mut stream: Box<dyn Stream> = match (&self.tls, foreign) {
            (_, Some(Foreign::Http)) => {
                return Ok(refuse(Box::new(tcp), HTTP_ANSWER, TransportError::ForeignClient(Foreign::Http)))
            }
            // A TLS hello where the token is expected in clear text: nothing to tell it in TLS.
            (None, Some(foreign)) => return Ok(refuse(Box::new(tcp), b"", TransportError::ForeignClient(foreign))),
            (Some(_), Some(foreign)) => {
                return Ok(refuse(Box::new(tcp), &Refusal::Tls.field(), TransportError::ForeignClient(foreign)))
            }
            // Silent: it waits for the server to speak, as a classic client does.
            (Some(_), None) if first.is_empty() => {
                let why = TransportError::ForeignClient(Foreign::Plain);
                return Ok(refuse(Box::new(tcp), &Refusal::Tls.field(), why));
            }
            (Some(acceptor), None) => Box::new(acceptor.accept(tcp).await.map_err(TransportError::Tls)?),
            (None, None) => Box::new(tcp),
        };
        if let Some(expected) = &self.token {
            let mut field = [0u8; TOKEN_LEN];
            let presented = match read_field(&mut stream, &mut field, silence).await {
                Ok(true) => trim_field(&field),
                // Silent: it sent no token, and waits.
                Ok(false) => &[],
                Err(_) => return Err(TransportError::BadToken),
            };
            if !constant_time_eq(presented, expected) {
                return Ok(refuse(stream, &Refusal::Token.field(), TransportError::BadToken));
            }
        }
        let mut field = [0u8; NAME_LEN];
        stream.read_exact(&mut field).await.map_err(|_| TransportError::BadName)?;
        let name = match trim_field(&field) {
            [] => None,
            name => match std::str::from_utf8(name) {
                Ok(name) if valid_name(name) => Some(name.to_owned()),
                _ => return Ok(refuse(stream, &Refusal::Name.field(), TransportError::BadName)),
            },
        };
        Ok(Admission::Admitted(stream, name))
    }
}

/// Reads a whole field; `Ok(false)` when not a byte of it came within `silence`.
async fn read_field(stream: &mut Box<dyn Stream>, field: &mut [u8], silence: Duration) -> std::io::Result<bool> {
    let n = match tokio::time::timeout(silence, stream.read(field)).await {
        Err(_) => return Ok(false),
        Ok(read) => read?,
    };
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    stream.read_exact(&mut field[n..]).await?;
    Ok(true)
}

/// The client's half: TLS handshake (when `tls` is given), then the token (when given), then
/// the name field (in protected mode: with TLS or a token), the fields in one write.
pub async fn present<S>(
    tcp: S,
    tls: Option<&(tokio_rustls::TlsConnector, ServerName<'static>)>,
    token: Option<&[u8]>,
    name: Option<&str>,
) -> Result<Box<dyn Stream>, TransportError>
where
    S: Stream + 'static,
    tokio_rustls::client::TlsStream<S>: Stream,
{
    let protected = tls.is_some() || token.is_some();
    let mut stream: Box<dyn Stream> = match tls {
        Some((connector, name)) => Box::new(connector.connect(name.clone(), tcp).await.map_err(TransportError::Tls)?),
        None => Box::new(tcp),
    };
    let mut fields = Vec::with_capacity(TOKEN_LEN + NAME_LEN);
    if let Some(token) = token {
        let mut field = [b' '; TOKEN_LEN];
        let n = token.len().min(TOKEN_LEN);
        field[..n].copy_from_slice(&token[..n]);
        fields.extend_from_slice(&field);
    }
    if protected {
        let mut field = [b' '; NAME_LEN];
        let name = name.unwrap_or("").as_bytes();
        let n = name.len().min(NAME_LEN);
        field[..n].copy_from_slice(&name[..n]);
        fields.extend_from_slice(&field);
    }
    if !fields.is_empty() {
        stream.write_all(&fields).await?;
    }
    Ok(stream)
}

fn trim_field(field: &[u8]) -> &[u8] {
    let end = field.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &field[..end]
}

/// Compares without leaking, through timing, how much of the token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert_eq!(trim_field(b"abc   "), b"abc");
    }

    #[test]
    fn camera_names_are_checked() {
        for good in ["door", "cam-1", "192_168_1_20", "Front_Door", "yard_2", &"x".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".hidden", "192.168.1.20", "::1", "front.door", "a/b", "a b", "x+", "#", "ü", &"x".repeat(65)]
        {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn token_files_are_checked() {
        let dir = std::env::temp_dir().join(format!("nvt-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "s3cr3t-token\n").expect("write");
        assert_eq!(read_token(&path).expect("token"), b"s3cr3t-token");
        for bad in ["", "has space", &"x".repeat(65)] {
            std::fs::write(&path, bad).expect("write");
            assert!(matches!(read_token(&path), Err(ProtectError::Token(_))), "{bad:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_files_name_the_file() {
        let error =
            acceptor(Path::new("/nonexistent/cert.pem"), Path::new("/nonexistent/key.pem")).err().expect("error");
        assert!(error.to_string().contains("/nonexistent/cert.pem"), "{error}");
    }
}
