//! `nvt-client`: flags → config → [`nvt_client::run`] until done, SIGINT or SIGTERM.

use nvt_client::cli::{Args, FLAG_HINTS};
use std::io::IsTerminal;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // Before the runtime's threads: it sets the media libraries' environment variables.
    nvt_capture::library_log::quiet();
    let Some(runtime) = nvt_support::program::runtime("nvt-client") else { return ExitCode::FAILURE };
    runtime.block_on(client())
}

async fn client() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let config = match nvt_support::flag_hints::parse::<Args>(FLAG_HINTS).into_config() {
        Ok(config) => config,
        Err(error) => {
            // Flags and files that cannot be used: status 2, as clap's own errors.
            eprintln!("nvt-client: {}", nvt_support::errors::sentence(error.as_ref()));
            return ExitCode::from(2);
        }
    };
    match nvt_client::run(config, stop).await {
        Ok(_) => ExitCode::SUCCESS,
        // The server refused it, its certificate does not verify, or it speaks another protocol:
        // trying again cannot help, so the status is 2, as for flags that cannot be used.
        Err(error) if error.downcast_ref::<nvt_client::exchange::GaveUp>().is_some() => {
            eprintln!("nvt-client: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("nvt-client: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn cancel_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    stop.cancel();
}
