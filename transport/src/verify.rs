//! How `nvt-client --tls-ca FILE` checks the server's certificate. Two ways, both from FILE:
//!
//! - **Pinned**: the server presents, as its own, a certificate that is in FILE byte for byte.
//!   It is taken as it is, whatever its extensions say. That is what pinning a self-signed
//!   certificate means, and it is needed: OpenSSL 3 marks the self-signed certificates it makes
//!   `CA:TRUE`, and standard verification refuses a CA certificate as a server's own
//!   (`CaUsedAsEndEntity`). The name the client connects by is not checked against it, nor its
//!   dates: the pin *is* the identity, and the handshake still proves that the server holds its
//!   private key. To change it, replace the file.
//! - **Signed**: any other certificate goes through standard WebPKI verification, unchanged: it
//!   must chain to a certificate in FILE, be valid now, and carry the server's name.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Accepts exactly a pinned certificate, or one that verifies against the trusted ones.
#[derive(Debug)]
pub struct PinnedOrSigned {
    pinned: Vec<CertificateDer<'static>>,
    signed: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedOrSigned {
    /// A verifier trusting `certificates` both ways: each is pinned, and each is a root for
    /// standard verification.
    pub fn new(certificates: Vec<CertificateDer<'static>>, provider: Arc<CryptoProvider>) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        for cert in &certificates {
            let _ = roots.add(cert.clone());
        }
        let algorithms = provider.signature_verification_algorithms;
        // A file whose certificates webpki cannot take as roots (unusual encodings) still pins.
        let signed = match roots.is_empty() {
            true => None,
            false => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| Error::General(e.to_string()))?,
            ),
        };
        Ok(Self { pinned: certificates, signed, algorithms })
    }

    fn is_pinned(&self, cert: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|pin| pin.as_ref() == cert.as_ref())
    }
}

impl ServerCertVerifier for PinnedOrSigned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.is_pinned(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.signed {
            Some(signed) => signed.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A name as a certificate carries it, without the wrapper rustls writes around it
/// (`DnsName("nvt.example")` → `nvt.example`, `IpAddress(127.0.0.1)` → `127.0.0.1`).
fn plain_name(name: &str) -> &str {
    let inner = name
        .strip_prefix("DnsName(")
        .or_else(|| name.strip_prefix("IpAddress("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(name);
    inner.trim_matches('"')
}

/// Why the server's certificate did not verify, as a sentence that says what to do;
/// `None` when `error` is not about the certificate.
pub fn certificate_problem(error: &Error) -> Option<String> {
    let Error::InvalidCertificate(problem) = error else { return None };
    Some(match problem {
        CertificateError::UnknownIssuer => "the server's certificate is neither pinned in --tls-ca nor signed by \
             a certificate in it: give --tls-ca the server's own certificate file (to pin it) or the CA that signed it"
            .to_owned(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let carries = match problem {
                CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                    let names: Vec<&str> = presented.iter().map(|n| plain_name(n)).collect();
                    format!(" (it is for {})", names.join(", "))
                }
                _ => String::new(),
            };
            format!(
                "the server's certificate does not carry the name this client connects by{carries}: connect by \
                 one of its names, or give --tls-server-name"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired (or this machine's clock is wrong)".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (or this machine's clock is wrong)".to_owned()
        }
        CertificateError::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "the server presents a CA certificate as its own, and it is not the certificate pinned in --tls-ca: \
             give --tls-ca the server's own certificate file to pin it"
                .to_owned()
        }
        _ => format!("the server's certificate does not verify ({error})"),
    })
}

#[cfg(test)]
mod name_tests {
    use super::plain_name;

    #[test]
    fn a_certificates_names_read_as_names() {
        assert_eq!(plain_name("DnsName(\"nvt.example\")"), "nvt.example");
        assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(plain_name("camera.lan"), "camera.lan");
    }
}
