//! How a process reaches NATS: the URL, TLS (a CA to check the server against, a certificate of
//! its own for mutual TLS) and its credentials (a NATS `.creds` file, or a user and password).
//! Every file is read once, at start-up, as the untrusted input it may be: regular files only,
//! each with a cap, so a bad one is an error before anything connects.

use crate::error::FleetError;
use nvt_support::files::{read_regular, read_text};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest PEM file (CA bundle, certificate, key) read.
const MAX_PEM: u64 = 1 << 20;

/// Largest `.creds` or user file read.
const MAX_CREDENTIALS: u64 = 16 << 10;

/// The files the flags name (`--nats-ca`, `--nats-cert`, `--nats-key`, `--nats-creds`,
/// `--nats-user-file`); all optional.
#[derive(Debug, Clone, Default)]
pub struct AccessFiles {
    /// CA certificates (PEM) the server's certificate must chain to; TLS is then required.
    pub ca: Option<PathBuf>,
    /// This process's certificate chain (PEM), for mutual TLS; needs `key`.
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// A NATS `.creds` file (user JWT and nkey seed).
    pub creds: Option<PathBuf>,
    /// A file with the user name on its first line and the password on its second.
    pub user_file: Option<PathBuf>,
}

/// Who this process is on the bus.
#[derive(Clone)]
enum Credentials {
    None,
    /// A `.creds` file's text.
    Creds(String),
    UserPassword(String, String),
}

/// A checked URL and what to present: everything [`crate::connect`] needs.
#[derive(Clone)]
pub struct Access {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Credentials,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password or the seed.
        let credentials = match &self.credentials {
            Credentials::None => "none",
            Credentials::Creds(_) => ".creds",
            Credentials::UserPassword(..) => "user and password",
        };
        f.debug_struct("Access")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .field("credentials", &credentials)
            .finish()
    }
}

impl Access {
    /// `url` as is: no TLS beyond what a `tls://` URL asks for, no credentials.
    pub fn open(url: &str) -> Result<Self, FleetError> {
        Self::new(url, &AccessFiles::default())
    }

    /// Checks `url` and reads the files. A CA or a client certificate makes TLS required (as a
    /// `tls://` URL does), so that a server cannot talk the client out of it.
    pub fn new(url: &str, files: &AccessFiles) -> Result<Self, FleetError> {
        check_url(url)?;
        let wants_tls = url.starts_with("tls://") || files.ca.is_some() || files.cert.is_some();
        let tls = if wants_tls { Some(Arc::new(tls_config(files)?)) } else { None };
        let credentials = match (&files.creds, &files.user_file) {
            (Some(_), Some(_)) => {
                return Err(FleetError::Access("--nats-creds and --nats-user-file: give one of them".into()))
            }
            (Some(path), None) => Credentials::Creds(read_creds(path)?),
            (None, Some(path)) => {
                let (user, password) = read_user_file(path)?;
                Credentials::UserPassword(user, password)
            }
            (None, None) => Credentials::None,
        };
        Ok(Self { url: url.to_owned(), tls, credentials })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the connection is encrypted.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether a password or a token would cross the network in clear text.
    pub fn secret_in_clear(&self) -> bool {
        matches!(self.credentials, Credentials::UserPassword(..)) && self.tls.is_none()
    }

    /// `options` with this TLS and these credentials.
    pub(crate) fn apply(
        &self,
        mut options: async_nats::ConnectOptions,
    ) -> Result<async_nats::ConnectOptions, FleetError> {
        if let Some(tls) = &self.tls {
            options = options.require_tls(true).tls_client_config((**tls).clone());
        }
        match &self.credentials {
            Credentials::None => {}
            Credentials::Creds(text) => {
                options = options.credentials(text).map_err(|e| FleetError::Access(format!("--nats-creds: {e}")))?;
            }
            Credentials::UserPassword(user, password) => {
                options = options.user_and_password(user.clone(), password.clone());
            }
        }
        Ok(options)
    }
}

/// Checks a `--nats` URL: `nats://HOST[:PORT]` or `tls://HOST[:PORT]` (port 4222 by default);
/// credentials belong in files, never in the URL (it is logged).
pub fn check_url(url: &str) -> Result<(), FleetError> {
    let bad = || FleetError::Url(url.to_owned());
    let rest = url.strip_prefix("nats://").or_else(|| url.strip_prefix("tls://")).ok_or_else(bad)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host.is_empty() || !port_ok || host.contains(['/', '@', ' ', ',']) {
        return Err(bad());
    }
    Ok(())
}

fn file_error(what: &str, path: &Path, reason: impl std::fmt::Display) -> FleetError {
    FleetError::Access(format!("{what} {}: {reason}", path.display()))
}

/// The TLS settings: the CA file's certificates as the only roots (the system's when there is
/// none), and the client certificate when given.
fn tls_config(files: &AccessFiles) -> Result<rustls::ClientConfig, FleetError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    if files.cert.is_some() != files.key.is_some() {
        return Err(FleetError::Access("--nats-cert and --nats-key go together".into()));
    }
    let ca = files.ca.clone().unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let pem = read_regular(&ca, 16 * MAX_PEM).map_err(|e| file_error("--nats-ca", &ca, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| file_error("--nats-ca", &ca, e))?;
        roots.add(cert).map_err(|e| file_error("--nats-ca", &ca, e))?;
    }
    if roots.is_empty() {
        return Err(file_error("--nats-ca", &ca, "no certificates in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FleetError::Access(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    match (&files.cert, &files.key) {
        (Some(cert_path), Some(key_path)) => {
            let pem = read_regular(cert_path, MAX_PEM).map_err(|e| file_error("--nats-cert", cert_path, e))?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error("--nats-cert", cert_path, e))?;
            if chain.is_empty() {
                return Err(file_error("--nats-cert", cert_path, "no certificates in it"));
            }
            let pem = read_regular(key_path, MAX_PEM).map_err(|e| file_error("--nats-key", key_path, e))?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| file_error("--nats-key", key_path, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| FleetError::Access(format!("--nats-cert and --nats-key do not go together: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// A `.creds` file's text, checked for its two parts (the JWT and the seed).
fn read_creds(path: &Path) -> Result<String, FleetError> {
    let text = read_text(path, MAX_CREDENTIALS).map_err(|e| file_error("--nats-creds", path, e))?;
    if !text.contains("BEGIN NATS USER JWT") || !text.contains("BEGIN USER NKEY SEED") {
        return Err(file_error("--nats-creds", path, "not a NATS .creds file (a user JWT and an nkey seed)"));
    }
    // Parsed now, so that a broken file is an error at start-up rather than at each connect.
    async_nats::ConnectOptions::new().credentials(&text).map_err(|e| file_error("--nats-creds", path, e))?;
    Ok(text)
}

/// The user name (first line) and password (second line) of a `--nats-user-file`.
fn read_user_file(path: &Path) -> Result<(String, String), FleetError> {
    let text = read_text(path, MAX_CREDENTIALS).map_err(|e| file_error("--nats-user-file", path, e))?;
    let mut lines = text.lines();
    let user = lines.next().unwrap_or("").trim();
    let password = lines.next().unwrap_or("").trim_end_matches('\r');
    if user.is_empty() || password.is_empty() {
        return Err(file_error(
            "--nats-user-file",
            path,
            "expected the user name on the first line and the password on the second",
        ));
    }
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for good in ["nats://127.0.0.1:4222", "nats://broker", "nats://[::1]:4222", "tls://broker:4443"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in ["127.0.0.1:4222", "nats://", "nats://h:abc", "nats://h:0", "nats://u:p@h:1", "http://h:1", "tls://"]
        {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_files_are_errors_that_name_the_flag_and_secrets_stay_out_of_debug() {
        let dir = std::env::temp_dir().join(format!("nvt-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let user = dir.join("user");
        std::fs::write(&user, "ingest\ns3cret\n").expect("write");
        let access = Access::new("nats://h:1", &AccessFiles { user_file: Some(user.clone()), ..Default::default() })
            .expect("ok");
        assert!(access.secret_in_clear());
        assert!(!format!("{access:?}").contains("s3cret"));
        let only_user = dir.join("only-user");
        std::fs::write(&only_user, "ingest\n").expect("write");
        let cases: Vec<(AccessFiles, &str)> = vec![
            (AccessFiles { user_file: Some(only_user), ..Default::default() }, "--nats-user-file"),
            (AccessFiles { creds: Some(user.clone()), ..Default::default() }, "--nats-creds"),
            (AccessFiles { ca: Some(user.clone()), ..Default::default() }, "--nats-ca"),
            (AccessFiles { ca: Some("/dev/zero".into()), ..Default::default() }, "--nats-ca"),
            (AccessFiles { cert: Some(user.clone()), ..Default::default() }, "go together"),
            (AccessFiles { creds: Some(user.clone()), user_file: Some(user), ..Default::default() }, "one of them"),
        ];
        for (files, says) in cases {
            let error = Access::new("nats://h:1", &files).expect_err("refused").to_string();
            assert!(error.contains(says), "{error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
