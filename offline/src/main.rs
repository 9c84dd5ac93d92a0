//! `nvt-detect`: the detector over images, folders and videos, offline and headless.

use nvt_offline::{self as offline, Args};
use std::process::ExitCode;

fn main() -> ExitCode {
    nvt_capture::library_log::quiet();
    nvt_support::program::init_logging();
    match offline::run(nvt_support::flag_hints::parse::<Args>(offline::run::FLAG_HINTS)) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(summary) => {
            eprintln!("nvt-detect: {} input(s) could not be read", summary.failed);
            ExitCode::FAILURE
        }
        Err(offline::Failure::Setup(error)) => {
            eprintln!("nvt-detect: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::from(2)
        }
        Err(offline::Failure::Run(error)) => {
            eprintln!("nvt-detect: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
