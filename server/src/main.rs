//! `nvt-server`: flags → config → [`nvt_server::run`] until SIGINT or SIGTERM.

use anyhow::Context;
use nvt_server::cli::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    nvt_capture::library_log::quiet();
    nvt_support::program::init_logging();
    let args = nvt_support::flag_hints::parse::<Args>(nvt_server::cli::FLAG_HINTS);
    let Some(runtime) = nvt_support::program::runtime("nvt-server") else { return ExitCode::FAILURE };
    let code = runtime.block_on(serve(args));
    // Whatever a thread is still doing (a model load, a frame) is not waited for: the server has
    // flushed its log and said goodbye, and SIGTERM must end the process promptly.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// Runs the server; flags or files that cannot be used exit with status 2, as clap's own do.
async fn serve(args: Args) -> ExitCode {
    let listen = args.listen.clone();
    let config = match args.into_config().await {
        Ok(config) => config,
        Err(error) => {
            eprintln!("nvt-server: {}", nvt_support::errors::sentence(error.as_ref()));
            return ExitCode::from(2);
        }
    };
    match run(listen, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nvt-server: {}", nvt_support::errors::sentence(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: String, config: nvt_server::Config) -> anyhow::Result<()> {
    tokio::spawn(reload_on_sighup(std::sync::Arc::clone(&config.reload)));
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let summary = nvt_server::run(listener, config, nvt_support::program::stop_signal()).await;
    tracing::info!("stopped: {summary}");
    Ok(())
}

/// SIGHUP reloads the model.
async fn reload_on_sighup(reload: std::sync::Arc<tokio::sync::Notify>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else { return };
    while hangup.recv().await.is_some() {
        reload.notify_one();
    }
}
