//! `nvt-server --tls-self-signed DIR`: protected mode without a certificate authority. The first
//! start makes a self-signed certificate and its key in DIR; later starts use the same pair, so
//! that clients that pinned the certificate keep working. Clients pin it with `--tls-ca
//! DIR/nvt-server.pem` (a copy of the file on their machine), see [`crate::verify`].

use crate::protect::ProtectError;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The certificate's file name in the folder.
pub const CERT_FILE: &str = "nvt-server.pem";

/// The private key's file name in the folder (readable by its owner only).
pub const KEY_FILE: &str = "nvt-server.key";

/// A certificate and key in a folder, and what a client needs to trust them.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate (PEM): what clients pin.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The certificate's SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
    /// Whether this start made the pair (false: it was there).
    pub made: bool,
}

/// The pair in `dir`, made first when it is not there: a certificate for `names` (DNS names or IP
/// addresses) valid from the start of last year for ten years.
pub fn ensure(dir: &Path, names: &[String]) -> Result<SelfSigned, ProtectError> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let failed =
        |what: &'static str, path: &Path, reason: String| ProtectError::File { what, path: path.to_owned(), reason };
    let made = match (cert.exists(), key.exists()) {
        (true, true) => false,
        (false, false) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| failed("the certificate folder", dir, e.to_string()))?;
            let (cert_pem, key_pem) = make(names).map_err(|e| failed("a new certificate", &cert, e))?;
            write_new(&key, key_pem.as_bytes(), 0o600).map_err(|e| failed("the private key", &key, e.to_string()))?;
            write_new(&cert, cert_pem.as_bytes(), 0o644)
                .map_err(|e| failed("the certificate", &cert, e.to_string()))?;
            true
        }
        (true, false) => return Err(failed("the private key", &key, format!("missing beside {}", cert.display()))),
        (false, true) => return Err(failed("the certificate", &cert, format!("missing beside {}", key.display()))),
    };
    let pem = nvt_support::files::read_regular(&cert, 1 << 20)
        .map_err(|e| failed("the certificate", &cert, e.to_string()))?;
    let fingerprint =
        fingerprint(&pem).ok_or_else(|| failed("the certificate", &cert, "no certificate in it".into()))?;
    Ok(SelfSigned { cert, key, fingerprint, made })
}

/// A self-signed certificate for `names` and its key, as PEM.
fn make(names: &[String]) -> Result<(String, String), String> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "nvt-server");
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let year = 1970 + i32::try_from(secs / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a file that must not exist yet, with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The SHA-256 fingerprint of the first certificate in `pem`: 32 bytes in upper-case hex,
/// colon-separated.
pub fn fingerprint(pem: &[u8]) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    Some(digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("nvt-self-signed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = ensure(&dir, &["localhost".into(), "127.0.0.1".into()]).expect("made");
        assert!(first.made);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1, "{}", first.fingerprint);
        let mode = std::fs::metadata(&first.key).expect("key").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0, "the key is its owner's only");
        let again = ensure(&dir, &["localhost".into()]).expect("kept");
        assert!(!again.made);
        assert_eq!(again.fingerprint, first.fingerprint, "a restart keeps the pinned certificate");
        std::fs::remove_file(&again.key).expect("remove key");
        assert!(ensure(&dir, &[]).is_err(), "a certificate without its key is not replaced");
        std::fs::remove_dir_all(&dir).ok();
    }
}
