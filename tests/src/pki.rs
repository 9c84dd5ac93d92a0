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

/// Certificates made by the `openssl` command line, as people make them: OpenSSL 3 marks a
/// self-signed certificate `CA:TRUE`, which standard verification refuses as a server's own.
pub mod openssl {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn run(dir: &Path, args: &[&str]) {
        crate::harness::require("openssl", "version", "openssl");
        let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The recipe people copy: `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost
    /// -addext subjectAltName=...`. Returns the certificate and its key, named `NAME.pem` and
    /// `NAME.key` in `dir`.
    pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
        run(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &cert,
                "-days",
                "30",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
        );
        (dir.join(cert), dir.join(key))
    }

    /// A CA and a server certificate it signed for `localhost` and `127.0.0.1`: the CA's
    /// certificate, the server's certificate and its key.
    pub fn ca_signed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=nvt test CA"]);
        run(dir, &ca);
        let mut request = vec!["req"];
        request.extend(ec);
        request.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
        run(dir, &request);
        std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
        run(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "30",
                "-extfile",
                "server.ext",
            ],
        );
        (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
    }

    /// What `openssl x509 -text` says of a certificate.
    pub fn text(cert: &Path) -> String {
        let out = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(cert).output().expect("openssl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Its SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it (`AB:CD:...`).
    pub fn fingerprint(cert: &Path) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert)
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().rsplit('=').next().unwrap_or("").to_owned()
    }
}
