//! `nvt-worker`: serves a group's detection requests on NATS until SIGINT or SIGTERM.

use nvt_worker::{self as worker, Args, Failure};
use std::process::ExitCode;

fn main() -> ExitCode {
    nvt_capture::library_log::quiet();
    nvt_support::program::init_logging();
    let args = nvt_support::flag_hints::parse::<Args>(worker::FLAG_HINTS);
    let Some(runtime) = nvt_support::program::runtime("nvt-worker") else { return ExitCode::FAILURE };
    let code = match runtime.block_on(worker::run(args, nvt_support::program::stop_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Setup(error)) => {
            eprintln!("nvt-worker: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::from(2)
        }
        Err(Failure::Run(error)) => {
            eprintln!("nvt-worker: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::FAILURE
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
