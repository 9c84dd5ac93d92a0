//! `nvt-fleet push --nats URL [--group NAME] MODEL.onnx`: one model swap for a whole worker group,
//! once the file loads as a worker would load it. `nvt-fleet models --nats URL`: each group's
//! pushed model. `nvt-fleet rm --nats URL --group NAME`: the group's workers go back to their own
//! `--model`. `nvt-fleet mqtt --nats URL --mqtt URL [...]`: every ingest server's events, from the
//! events stream, to MQTT. `nvt-fleet history --nats URL --db URL [--http ADDR]`: every ingest
//! server's events, from the events stream, in one event store, served as `/api/events` behind
//! the web view's doors. Every argument is checked before anything connects: a bad one is exit
//! status 2 with a message naming it.

use clap::Parser;
use nvt_events::flags::MqttArgs;
use nvt_fleet::flags::{parse_group, parse_nats_url, CheckArgs, NatsAccessArgs};
use nvt_fleet::{Group, Role};
use nvt_history::flags::HistoryArgs;
use nvt_history::guard::Gate;
use std::path::PathBuf;
use std::process::ExitCode;

/// Manages a fleet of nvt workers on NATS.
#[derive(Debug, Parser)]
#[command(name = "nvt-fleet", version)]
enum Command {
    /// Stores MODEL as the group's model: every worker of the group loads it, warms it up and
    /// swaps to it between frames; workers that start later load it too.
    Push {
        /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_parser = parse_nats_url)]
        nats: String,
        /// TLS and credentials (the credentials must be allowed to write the model store).
        #[command(flatten)]
        access: NatsAccessArgs,
        /// The worker group.
        #[arg(long, default_value = "default", value_parser = parse_group)]
        group: Group,
        /// How the file is checked before it is pushed.
        #[command(flatten)]
        check: CheckArgs,
        /// The ONNX model file.
        model: PathBuf,
    },
    /// Lists each group's pushed model: the group, the file, its size, when it was pushed and
    /// its digest.
    Models {
        /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_parser = parse_nats_url)]
        nats: String,
        /// TLS and credentials (the push user's).
        #[command(flatten)]
        access: NatsAccessArgs,
    },
    /// Removes a group's pushed model: its workers go back to their own --model (a worker
    /// started without one keeps the removed model until it stops, and says so).
    Rm {
        /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_parser = parse_nats_url)]
        nats: String,
        /// TLS and credentials (the push user's).
        #[command(flatten)]
        access: NatsAccessArgs,
        /// The worker group whose model goes.
        #[arg(long, value_parser = parse_group)]
        group: Group,
    },
    /// Publishes the events of every ingest server, read from the JetStream stream NVT_EVENTS
    /// with a durable consumer, to MQTT (`<prefix>/events`, QoS 1, and `<prefix>/available`).
    Mqtt {
        /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_parser = parse_nats_url)]
        nats: String,
        /// TLS and credentials for NATS.
        #[command(flatten)]
        access: NatsAccessArgs,
        /// The durable consumer's name (1-64 letters, digits, '_' or '-'): a bridge that
        /// restarts under it reads on from there.
        #[arg(long, default_value = nvt_fleet::bridge::DEFAULT_CONSUMER, value_parser = parse_consumer)]
        consumer: String,
        /// The MQTT broker and its settings (--mqtt is required here).
        #[command(flatten)]
        mqtt: MqttArgs,
    },
    /// Keeps the events of every ingest server, read from the JetStream stream NVT_EVENTS with a
    /// durable consumer, in one event store (a postgres:// URL, or a SQLite file), and serves
    /// them as Frigate's /api/events on --http. Events are acknowledged once the store has them.
    History {
        /// The NATS server: nats://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_parser = parse_nats_url)]
        nats: String,
        /// TLS and credentials for NATS.
        #[command(flatten)]
        access: NatsAccessArgs,
        /// The durable consumer's name (1-64 letters, digits, '_' or '-'): a history that
        /// restarts under it reads on from there.
        #[arg(long, default_value = nvt_fleet::history::DEFAULT_CONSUMER, value_parser = parse_consumer)]
        consumer: String,
        /// The event store and its retention (clips are made by each server, not here).
        #[command(flatten)]
        history: HistoryArgs,
        /// Serve /api/events and /api/events/{id} here (e.g. 127.0.0.1:5001), read-only, behind
        /// the web view's doors (Host, Origin, and --http-token-file when given).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// The doors of --http.
        #[command(flatten)]
        doors: DoorArgs,
    },
}

/// Who may ask `nvt-fleet history --http`, as `nvt-server --http` says it.
#[derive(Debug, Clone, clap::Args)]
struct DoorArgs {
    /// A host name --http answers to, besides its IP addresses and `localhost` (repeatable).
    /// Requests naming any other host are refused, which stops DNS rebinding.
    #[arg(long = "http-host", value_name = "NAME", requires = "http", value_parser = parse_host_name)]
    http_hosts: Vec<String>,
    /// Every --http request must carry this token (first line of the file, 1-64 letters, digits,
    /// '-', '.', '_' or '~') as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "FILE", requires = "http")]
    http_token_file: Option<PathBuf>,
}

fn parse_host_name(text: &str) -> Result<String, String> {
    if nvt_history::guard::host_name_fits(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a host name"))
    }
}

fn parse_consumer(text: &str) -> Result<String, String> {
    nvt_fleet::subjects::check_consumer(text).map(|()| text.to_owned()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    nvt_support::program::init_logging();
    let command = Command::parse();
    let Some(runtime) = nvt_support::program::runtime("nvt-fleet") else { return ExitCode::FAILURE };
    let code = match command {
        Command::Push { nats, access, group, check, model } => {
            runtime.block_on(push(&nats, &access, group, &check, model))
        }
        Command::Models { nats, access } => runtime.block_on(models(&nats, &access)),
        Command::Rm { nats, access, group } => runtime.block_on(remove(&nats, &access, group)),
        Command::Mqtt { nats, access, consumer, mqtt } => runtime.block_on(bridge(&nats, &access, consumer, mqtt)),
        Command::History { nats, access, consumer, history: args, http, doors } => {
            runtime.block_on(history(&nats, &access, &consumer, &args, http, &doors))
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// Exit status 2, with the message on standard error.
fn refused(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("nvt-fleet: {error:#}");
    ExitCode::from(2)
}

/// The NATS URL before an error that does not name it.
fn at(nats: &str, error: nvt_fleet::FleetError) -> String {
    match error {
        nvt_fleet::FleetError::NoJetStream => format!("{nats}: {error}"),
        other => other.to_string(),
    }
}

async fn push(nats: &str, access: &NatsAccessArgs, group: Group, check: &CheckArgs, path: PathBuf) -> ExitCode {
    let access = match access.access(nats) {
        Ok(access) => access,
        Err(error) => return refused(error),
    };
    match nvt_fleet::admin::push(&access, &group, &path, check.hints().as_ref()).await {
        Ok(pushed) => {
            let checked = pushed.checked.map_or_else(
                || ", not checked".to_owned(),
                |c| format!(", loads as {} {} {}", c.id, c.layout, c.input),
            );
            println!("pushed {} ({} bytes{checked}) to group {}", path.display(), pushed.bytes, group.name());
            ExitCode::SUCCESS
        }
        Err(error) => refused(at(nats, error)),
    }
}

async fn models(nats: &str, access: &NatsAccessArgs) -> ExitCode {
    let access = match access.access(nats) {
        Ok(access) => access,
        Err(error) => return refused(error),
    };
    match nvt_fleet::admin::list(&access).await {
        Ok(list) if list.is_empty() => {
            println!("no group has a pushed model (its workers serve their own --model)");
            ExitCode::SUCCESS
        }
        Ok(list) => {
            let clean = |text: &str| nvt_fleet::wire::escaped(text, 100);
            println!("group\tfile\tbytes\tpushed\tdigest");
            for model in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    clean(&model.name),
                    clean(model.description.as_deref().unwrap_or("-")),
                    model.size,
                    clean(model.mtime.as_deref().unwrap_or("-")),
                    clean(model.digest.as_deref().unwrap_or("-")),
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => refused(at(nats, error)),
    }
}

async fn remove(nats: &str, access: &NatsAccessArgs, group: Group) -> ExitCode {
    let access = match access.access(nats) {
        Ok(access) => access,
        Err(error) => return refused(error),
    };
    match nvt_fleet::admin::remove(&access, &group).await {
        Ok(true) => {
            println!("removed group {}'s model: its workers go back to their own --model", group.name());
            ExitCode::SUCCESS
        }
        Ok(false) => refused(format!("group {} has no pushed model", group.name())),
        Err(error) => refused(at(nats, error)),
    }
}

async fn bridge(nats: &str, access: &NatsAccessArgs, consumer: String, mqtt: MqttArgs) -> ExitCode {
    let access = match access.access(nats) {
        Ok(access) => access,
        Err(error) => return refused(error),
    };
    let publisher = match mqtt.start_events_only() {
        Ok(Some(publisher)) => publisher,
        Ok(None) => return refused("mqtt: --mqtt is required"),
        Err(error) => return refused(format!("mqtt: {}", nvt_support::errors::sentence(error.as_ref()))),
    };
    let client = match nvt_fleet::connect(&access, Role::Bridge, "nvt-fleet mqtt", 1024).await {
        Ok(client) => client,
        Err(error) => return refused(error),
    };
    let stop = nvt_support::program::stop_signal();
    let bridged = nvt_fleet::bridge::run(client, &consumer, &publisher, mqtt.mqtt_buffer, stop).await;
    // The events already handed over get a second to reach the broker (the stream keeps them
    // anyway: they were not acknowledged), then `offline` is published.
    tokio::task::block_in_place(|| publisher.stop(std::time::Duration::from_secs(1)));
    match bridged {
        Ok(skipped) => {
            let (bad, repeated) = (Some(skipped.bad).filter(|&n| n > 0), Some(skipped.repeated).filter(|&n| n > 0));
            tracing::info!(skipped_bad = bad, skipped_repeated = repeated, "nvt-fleet mqtt stopped (stop asked)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nvt-fleet mqtt: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `nvt-fleet history`: the stream's events into one store, served on `--http`.
async fn history(
    nats: &str,
    access: &NatsAccessArgs,
    consumer: &str,
    args: &HistoryArgs,
    http: Option<std::net::SocketAddr>,
    doors: &DoorArgs,
) -> ExitCode {
    let access = match access.access(nats) {
        Ok(access) => access,
        Err(error) => return refused(error),
    };
    let token = match doors.http_token_file.as_deref().map(nvt_history::guard::read_web_token).transpose() {
        Ok(token) => token,
        Err(error) => return refused(error),
    };
    let settings = match args.settings(None, false) {
        Ok(Some(settings)) => nvt_history::Settings { media: None, ..settings },
        Ok(None) => return refused("--db off: nvt-fleet history keeps its events in a store"),
        Err(error) => return refused(format!("{error:#}")),
    };
    let listener = match http {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(error) => return refused(format!("--http {addr}: {error}")),
        },
        None => None,
    };
    let clock = std::sync::Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    });
    let location = settings.location.display();
    let history = match nvt_history::History::open(settings, clock).await {
        Ok(history) => std::sync::Arc::new(history),
        Err(error) => return refused(format!("--db: {error}")),
    };
    tracing::info!(db = %location, "event store");
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let web = listener.map(|listener| {
        let port = listener.local_addr().map_or(0, |a| a.port());
        let gate = Gate { port, tls: false, names: doors.http_hosts.clone(), token };
        // The events only: clips, thumbnails and snapshots stay with the server that made them.
        let api = nvt_history::api::Api { history: Some(std::sync::Arc::clone(&history)), recent: Box::new(Vec::new) };
        let routes = nvt_history::api::event_routes(std::sync::Arc::new(api))
            .layer(axum::middleware::from_fn_with_state(std::sync::Arc::new(gate), nvt_history::guard::guard));
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, routes).with_graceful_shutdown(shutdown).await {
                tracing::warn!(%error, "the history's web server stopped");
            }
        })
    });
    let client = match nvt_fleet::connect(&access, Role::Bridge, "nvt-fleet history", 1024).await {
        Ok(client) => client,
        Err(error) => return refused(error),
    };
    let stop = nvt_support::program::stop_signal();
    let kept = nvt_fleet::history::run(client, consumer, history.store(), stop).await;
    let _ = stopping.send(true);
    if let Some(web) = web {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), web).await;
    }
    history.stop(std::time::Duration::from_secs(1)).await;
    match kept {
        Ok(kept) => {
            tracing::info!(written = kept.written, bad = kept.bad, write_errors = kept.write_errors, "history stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nvt-fleet history: {error}");
            ExitCode::FAILURE
        }
    }
}
