//! `soak`: a bounded run of several clients against the nvt-server binary, with one client
//! reconnecting over and over, sampling the server's memory, threads and tokio tasks. Flat
//! numbers mean nothing leaks. `make soak` runs it for 5 minutes; docs/reliability.md records
//! the result.

use clap::Parser;
use nvt_capture::SourceSpec;
use nvt_tests::harness::{binary, free_port, wait_for_port};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Clients streaming all the time.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Model for the server (none: decode only).
    #[arg(long)]
    model: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(binary("nvt-server"));
    command.args(["--listen", &addr, "--stats-every", "5s"]).env("RUST_LOG", "info,nvt_server::session=warn");
    if let Some(model) = &args.model {
        command.args(["--model", model]);
    }
    let mut server = command.stderr(Stdio::piped()).spawn()?;
    let pid = server.id();
    let tasks = Arc::new(Mutex::new(Vec::<(f64, u64)>::new()));
    let started = Instant::now();
    if let Some(stderr) = server.stderr.take() {
        let tasks = Arc::clone(&tasks);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(n) =
                    line.split_whitespace().find_map(|w| w.strip_prefix("tasks=")).and_then(|n| n.parse().ok())
                {
                    if let Ok(mut t) = tasks.lock() {
                        t.push((started.elapsed().as_secs_f64(), n));
                    }
                }
            }
        });
    }
    wait_for_port(addr.parse()?, Duration::from_secs(10));

    let stop = CancellationToken::new();
    let mut steady = Vec::new();
    for _ in 0..args.clients {
        let config = nvt_client::Config::new(addr.clone(), SourceSpec::Synthetic);
        steady.push(tokio::spawn(nvt_client::run(config, stop.clone())));
    }
    let churn = {
        let (addr, stop) = (addr.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sessions = 0u64;
            while !stop.is_cancelled() {
                let mut config = nvt_client::Config::new(addr.clone(), SourceSpec::Synthetic);
                config.duration = Some(Duration::from_millis(800));
                if nvt_client::run(config, stop.child_token()).await.is_ok() {
                    sessions += 1;
                }
            }
            sessions
        })
    };

    println!("| t (s) | server RSS (MiB) | threads | tokio tasks |");
    println!("|---|---|---|---|");
    let sample = |t: f64| {
        let (rss_kib, threads) = nvt_server::stats::process_usage_of(&pid.to_string());
        let task_count = tasks.lock().ok().and_then(|t| t.last().map(|(_, n)| *n)).unwrap_or(0);
        println!("| {t:.0} | {:.1} | {threads} | {task_count} |", rss_kib as f64 / 1024.0);
    };
    let every = Duration::from_secs((args.seconds / 10).max(5));
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(every).await;
        sample(started.elapsed().as_secs_f64());
    }
    stop.cancel();
    let mut accepted = 0;
    for client in steady {
        accepted += client.await??.accepted;
    }
    let sessions = churn.await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    sample(started.elapsed().as_secs_f64());
    println!(
        "\n{} steady clients: {accepted} frames accepted; {sessions} short sessions by the churning client.",
        args.clients
    );
    Command::new("kill").arg(pid.to_string()).status()?;
    let status = server.wait()?;
    println!("server exit on SIGTERM: {status}");
    Ok(())
}
