//! `links-bench`: nvt's client and server, the original client and server, and the article's own
//! Python pair, on the two ends of emulated links (a home Wi-Fi, a home uplink, 4G, another
//! continent; see `nvt_tests::link`), with the synthetic 640x480 scene at 30 frames/s and every
//! program at its defaults. Printed as Markdown for docs/benchmarks.md.

use clap::Parser;
use nvt_tests::harness::{cpu_model, temp_dir};
use nvt_tests::link::{LINKS, ROUGH_LINKS};
use nvt_tests::over_link::{self, Outcome, Pairing, Setup};
use std::path::Path;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Seconds per run.
    #[arg(long, default_value_t = 12.0)]
    seconds: f64,
    /// Only links whose name contains this.
    #[arg(long)]
    link: Option<String>,
    /// Only these pairings: nvt, original-client, original-server, article.
    #[arg(long, value_delimiter = ',')]
    pairing: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let setup = Setup { model: root.join("models/shapes.onnx"), dir: temp_dir("links-bench"), root: root.clone() };
    println!(
        "Machine: {}, {} cores. Synthetic 640x480 scene at 30 frames/s, nvt-server with models/shapes.onnx, every \
         program at its defaults, {} s per run through the test harness's link emulator.\n",
        cpu_model(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.seconds
    );
    let key = |p: Pairing| match p {
        Pairing::Nvt => "nvt",
        Pairing::OriginalClient => "original-client",
        Pairing::OriginalServer => "original-server",
        Pairing::Article => "article",
    };
    for pairing in Pairing::ALL {
        if !args.pairing.is_empty() && !args.pairing.iter().any(|p| p == key(pairing)) {
            continue;
        }
        println!("{}:\n\n{}", pairing.name(), Outcome::HEADER);
        for spec in LINKS.iter().chain(ROUGH_LINKS.iter()) {
            if args.link.as_deref().is_some_and(|l| !spec.name.contains(l)) {
                continue;
            }
            let outcome = over_link::run(pairing, *spec, Duration::from_secs_f64(args.seconds), &setup).await;
            match outcome {
                Ok(outcome) => println!("{}", outcome.row(spec.name)),
                Err(error) => println!("| {} | failed: {error:#} |", spec.name),
            }
        }
        println!();
    }
    Ok(())
}
