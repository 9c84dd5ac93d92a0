//! The flags of the fleet's bus: where NATS is, the worker group, and the TLS and credentials
//! that lock it, the same on `nvt-server --nats`, `nvt-worker` and `nvt-fleet`.

use crate::access::{Access, AccessFiles};
use std::path::PathBuf;

/// How to reach NATS securely (each needs `--nats`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsAccessArgs {
    /// NATS over TLS: the CA certificates (PEM) the server's certificate must chain to. TLS is
    /// then required (as with a tls:// URL, which uses the system's CAs unless this is given).
    #[arg(long, value_name = "PEM", requires = "nats")]
    pub nats_ca: Option<PathBuf>,
    /// Mutual TLS: this process's certificate chain (PEM), presented to the NATS server.
    #[arg(long, value_name = "PEM", requires_all = ["nats", "nats_key"])]
    pub nats_cert: Option<PathBuf>,
    /// Mutual TLS: the private key (PEM) of --nats-cert.
    #[arg(long, value_name = "PEM", requires_all = ["nats", "nats_cert"])]
    pub nats_key: Option<PathBuf>,
    /// A NATS credentials file (.creds: a user JWT and its nkey seed).
    #[arg(long, value_name = "FILE", requires = "nats", conflicts_with = "nats_user_file")]
    pub nats_creds: Option<PathBuf>,
    /// A file with the NATS user name on its first line and the password on its second.
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_user_file: Option<PathBuf>,
}

impl NatsAccessArgs {
    /// The checked URL with these files read: every problem is an error now, before anything
    /// connects.
    pub fn access(&self, url: &str) -> Result<Access, crate::error::FleetError> {
        let files = AccessFiles {
            ca: self.nats_ca.clone(),
            cert: self.nats_cert.clone(),
            key: self.nats_key.clone(),
            creds: self.nats_creds.clone(),
            user_file: self.nats_user_file.clone(),
        };
        let access = Access::new(url, &files)?;
        if access.secret_in_clear() {
            tracing::warn!("--nats-user-file without TLS: the password crosses the network in clear text");
        }
        Ok(access)
    }
}

/// `--nats`: a URL nvt can use, checked as the flags are read.
pub fn parse_nats_url(text: &str) -> Result<String, String> {
    crate::access::check_url(text).map(|()| text.to_owned()).map_err(|e| e.to_string())
}

/// `--group`: a usable group name.
pub fn parse_group(text: &str) -> Result<crate::subjects::Group, String> {
    crate::subjects::Group::new(text).map_err(|e| e.to_string())
}

/// How `nvt-fleet push` checks the file before it pushes: loaded as the group's workers load it,
/// with the flags of theirs that decide whether a model loads at all.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// Push without loading the file first. Only to test how a fleet refuses a bad model: its
    /// workers then load it, refuse it and keep their old one.
    #[arg(long)]
    pub no_check: bool,
    /// The workers' --imgsz, if they give one.
    #[arg(long, value_parser = clap::value_parser!(u32).range(32..=4096), conflicts_with = "no_check")]
    pub imgsz: Option<u32>,
    /// The workers' --layout (v8, v5 or e2e), if they give one.
    #[arg(long, value_parser = nvt_detect::OutputLayout::parse_override, conflicts_with = "no_check")]
    pub layout: Option<nvt_detect::layout::LayoutKind>,
    /// The workers' --output, if they give one.
    #[arg(long, conflicts_with = "no_check")]
    pub output: Option<String>,
}

impl CheckArgs {
    /// What the check loads the model with; `None` with `--no-check`.
    pub fn hints(&self) -> Option<crate::check::LoadHints> {
        (!self.no_check).then(|| crate::check::LoadHints {
            imgsz: self.imgsz,
            layout: self.layout,
            output: self.output.clone(),
        })
    }
}
