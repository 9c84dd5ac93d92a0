//! Certificates for TLS tests, made with rcgen: a CA, a server certificate for `localhost` and
//! `127.0.0.1`, a client certificate, all signed by that CA, and a CA nobody trusts.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// PEM files in a folder of the test's.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA everything here chains to.
    pub ca: PathBuf,
    /// The server's certificate and key.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// A client's certificate (mutual TLS).
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// Another CA, which signed none of these.
    pub other_ca: PathBuf,
}

impl Pki {
    /// Makes the files in `dir`.
    pub fn make(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("pki dir");
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let ca = |name: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            (params.self_signed(&key).expect("ca"), key)
        };
        let (ca_cert, ca_key) = ca("nvt test CA");
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(names).expect("params").signed_by(&key, &ca_cert, &ca_key).expect("leaf");
            (cert, key)
        };
        let (server, server_key) = leaf(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]);
        let (client, client_key) = leaf(vec!["nvt-worker".to_owned()]);
        let (other, _) = ca("someone else's CA");
        Self {
            ca: write("ca.pem", ca_cert.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            client_cert: write("client.pem", client.pem()),
            client_key: write("client.key", client_key.serialize_pem()),
            other_ca: write("other-ca.pem", other.pem()),
        }
    }
}
