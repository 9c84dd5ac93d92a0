//! `nvt-fleet push --nats URL [--group NAME] MODEL.onnx`: one model swap for a whole worker group.
//! `nvt-fleet mqtt --nats URL --mqtt URL [...]`: every ingest server's events, from the events
//! stream, to MQTT.

use clap::Parser;
use nvt_fleet::models::ModelStore;
use nvt_fleet::Group;
use std::path::PathBuf;
use std::process::ExitCode;

/// Manages a fleet of nvt workers on NATS.
#[derive(Debug, Parser)]
#[command(name = "nvt-fleet", version)]
enum Command {
    /// Stores MODEL as the group's model: every worker of the group loads it, warms it up and
    /// swaps to it between frames; workers that start later load it too.
    Push {
        /// The NATS server: nats://HOST:PORT.
        #[arg(long)]
        nats: String,
        /// The worker group.
        #[arg(long, default_value = "default")]
        group: String,
        /// The ONNX model file.
        model: PathBuf,
    },
    /// Publishes the events of every ingest server, read from the JetStream stream NVT_EVENTS
    /// with a durable consumer, to MQTT (`<prefix>/events`, QoS 1, and `<prefix>/available`).
    Mqtt {
        /// The NATS server: nats://HOST:PORT.
        #[arg(long)]
        nats: String,
        /// The durable consumer's name: a bridge that restarts under it reads on from there.
        #[arg(long, default_value = nvt_fleet::bridge::DEFAULT_CONSUMER)]
        consumer: String,
        /// The MQTT broker and its settings (--mqtt is required here).
        #[command(flatten)]
        mqtt: nvt_events::flags::MqttArgs,
    },
}

fn main() -> ExitCode {
    nvt_support::program::init_logging();
    let command = Command::parse();
    let Some(runtime) = nvt_support::program::runtime("nvt-fleet") else { return ExitCode::FAILURE };
    let code = match command {
        Command::Push { nats, group, model } => runtime.block_on(push(nats, group, model)),
        Command::Mqtt { nats, consumer, mqtt } => runtime.block_on(bridge(nats, consumer, mqtt)),
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

async fn push(nats: String, group: String, model: PathBuf) -> ExitCode {
    let push = async {
        let group = Group::new(&group)?;
        let client = nvt_fleet::connect(&nats, "nvt-fleet", 64).await?;
        let store = ModelStore::open(&client, &group).await?;
        let bytes = store.push(&model).await?;
        client.flush().await.map_err(nvt_fleet::FleetError::nats)?;
        Ok::<_, nvt_fleet::FleetError>((group, bytes))
    };
    // A broker that never answers is an error, not a hang.
    let pushed = tokio::time::timeout(std::time::Duration::from_secs(60), push)
        .await
        .unwrap_or_else(|_| Err(nvt_fleet::FleetError::Nats(format!("no answer from {nats} within 60 s"))));
    match pushed {
        Ok((group, bytes)) => {
            println!("pushed {} ({bytes} bytes) to group {}", model.display(), group.name());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nvt-fleet: {error}");
            ExitCode::from(2)
        }
    }
}

async fn bridge(nats: String, consumer: String, mqtt: nvt_events::flags::MqttArgs) -> ExitCode {
    let publisher = match mqtt.start_events_only() {
        Ok(Some(publisher)) => publisher,
        Ok(None) => {
            eprintln!("nvt-fleet mqtt: --mqtt is required");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("nvt-fleet mqtt: {error:#}");
            return ExitCode::from(2);
        }
    };
    let client = match nvt_fleet::connect(&nats, "nvt-fleet mqtt", 1024).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("nvt-fleet mqtt: {error}");
            return ExitCode::from(2);
        }
    };
    let bridged =
        nvt_fleet::bridge::run(client, &consumer, &publisher, mqtt.mqtt_buffer, nvt_support::program::stop_signal())
            .await;
    tokio::task::block_in_place(|| publisher.stop(std::time::Duration::from_secs(2)));
    match bridged {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nvt-fleet mqtt: {error}");
            ExitCode::FAILURE
        }
    }
}
