//! `nvt-detect`: the detector over images, folders and videos, offline and headless.

use clap::Parser;
use nvt_server::offline::{self, Args};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match offline::run(Args::parse()) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(summary) => {
            eprintln!("nvt-detect: {} input(s) could not be read", summary.failed);
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("nvt-detect: {error:#}");
            ExitCode::FAILURE
        }
    }
}
