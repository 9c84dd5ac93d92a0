//! `nvt-server`: flags → config → [`nvt_server::run`] until SIGINT or SIGTERM.

use anyhow::Context;
use clap::Parser;
use nvt_server::cli::Args;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    nvt_server::cli::init_logging();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nvt-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listen = args.listen.clone();
    let config = args.into_config()?;
    tokio::spawn(reload_on_sighup(std::sync::Arc::clone(&config.reload)));
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let summary = nvt_server::run(listener, config, stop_signal()).await;
    tracing::info!(?summary, "stopped");
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

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
