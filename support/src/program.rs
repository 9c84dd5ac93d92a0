//! What every nvt program does the same way at start: its async runtime, its log, and waiting
//! for SIGINT or SIGTERM.

/// The async runtime of a binary; `None` (after saying why on standard error, as `program`)
/// when it cannot start.
pub fn runtime(program: &str) -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|error| eprintln!("{program}: cannot start the async runtime: {error}")).ok()
}

/// Completes on SIGINT or SIGTERM.
pub async fn stop_signal() {
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

/// Logs to standard error, `info` and up unless `RUST_LOG` says otherwise, in colour only on a
/// terminal.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        // The NATS client's own reconnect chatter stays below; nvt says once what matters.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,async_nats=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
