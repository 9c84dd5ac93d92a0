//! `nvt-fleet push --nats URL [--group NAME] MODEL.onnx`: one model swap for a whole worker group.

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
}

fn main() -> ExitCode {
    nvt_server::cli::init_logging();
    let Command::Push { nats, group, model } = Command::parse();
    let Some(runtime) = nvt_server::cli::runtime("nvt-fleet") else { return ExitCode::FAILURE };
    let push = async {
        let group = Group::new(&group)?;
        let client = nvt_fleet::connect(&nats, "nvt-fleet", 64).await?;
        let store = ModelStore::open(&client, &group).await?;
        let bytes = store.push(&model).await?;
        client.flush().await.map_err(nvt_fleet::FleetError::nats)?;
        Ok::<_, nvt_fleet::FleetError>((group, bytes))
    };
    // A broker that never answers is an error, not a hang.
    let pushed = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), push)
            .await
            .unwrap_or_else(|_| Err(nvt_fleet::FleetError::Nats(format!("no answer from {nats} within 60 s"))))
    });
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
