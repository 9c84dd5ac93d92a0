//! The model flags every program that runs a detector takes (`nvt-server`, `nvt-worker`,
//! `nvt-detect`): one group, defined once, that each program puts in its own command line.

use crate::detector::ResizeMode;
use crate::detector::{Detector, DetectorOptions};
use crate::layout::LayoutKind;
use crate::layout::OutputLayout;
use crate::letterbox::{ChannelOrder, PixelRange};
use crate::provider::Provider;
use anyhow::Context;
use clap::builder::TypedValueParser;
use nvt_support::units::number_in;
use std::path::PathBuf;

/// The model and how to run it.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// ONNX detector (YOLOv8/YOLO11, YOLOv5/v7 or end-to-end layout). nvt-server without one
    /// only decodes, logs and shows frames, as the original did (or, with --nats, asks the
    /// workers); nvt-worker may use its group's pushed model instead; nvt-detect needs one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Input size (square). Wins over the model's `imgsz` metadata; a model with a fixed input
    /// shape must already be this size (default: the fixed shape, else the metadata, else 640).
    #[arg(long, value_parser = clap::value_parser!(u32).range(32..=4096))]
    pub imgsz: Option<u32>,
    /// Score threshold.
    #[arg(long, default_value_t = 0.25, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub conf: f32,
    /// NMS IoU threshold.
    #[arg(long, default_value_t = 0.45, value_parser = number_in(0.0, 1.0).map(|v| v as f32))]
    pub iou: f32,
    /// Class names, one per line. Win over the names the model carries.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output layout, instead of the one read from the output's shape: v8, v5 or e2e.
    #[arg(long, value_parser = OutputLayout::parse_override)]
    pub layout: Option<LayoutKind>,
    /// Threads ONNX Runtime uses inside one inference (0: the cores shared among the workers).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256).map(|n| n as usize))]
    pub threads: usize,
    /// Let ONNX Runtime's threads spin between operators instead of sleeping: faster when the
    /// detector has the cores to itself (nvt-detect's default: a batch job owns its cores),
    /// slower when they are shared with decoding, cameras and other work (nvt-server and
    /// nvt-worker do not spin unless told).
    #[arg(long, overrides_with = "no_spin")]
    pub spin: bool,
    /// Let ONNX Runtime's threads sleep between operators (the default of nvt-server and
    /// nvt-worker; for nvt-detect on cores it shares).
    #[arg(long, overrides_with = "spin")]
    pub no_spin: bool,
    /// Where ONNX Runtime runs the model: cpu, cuda, tensorrt or openvino.
    #[arg(long, default_value = "cpu")]
    pub ep: Provider,
    /// Pixel range the model expects: 0-1 or 0-255.
    #[arg(long, default_value = "0-1", value_parser = parse_range)]
    pub input_range: PixelRange,
    /// Channel order the model expects: rgb or bgr.
    #[arg(long, default_value = "rgb", value_parser = parse_order)]
    pub channel_order: ChannelOrder,
    /// Name of the detection output, for models with several (default: the first whose shape
    /// is a supported layout).
    #[arg(long)]
    pub output: Option<String>,
    /// Boxes come out normalised to 0-1 instead of in input pixels.
    #[arg(long)]
    pub normalized_boxes: bool,
    /// How frames are fitted to the input: letterbox (aspect kept, grey padding) or stretch.
    #[arg(long, default_value = "letterbox")]
    pub resize: ResizeMode,
}

fn parse_range(text: &str) -> Result<PixelRange, String> {
    match text {
        "0-1" | "unit" => Ok(PixelRange::Unit),
        "0-255" | "byte" => Ok(PixelRange::Byte),
        _ => Err(format!("unknown input range {text:?}: use 0-1 or 0-255")),
    }
}

fn parse_order(text: &str) -> Result<ChannelOrder, String> {
    match text.to_ascii_lowercase().as_str() {
        "rgb" => Ok(ChannelOrder::Rgb),
        "bgr" => Ok(ChannelOrder::Bgr),
        _ => Err(format!("unknown channel order {text:?}: use rgb or bgr")),
    }
}

impl ModelArgs {
    /// These flags for a program that owns its cores: its threads spin unless `--no-spin` says
    /// otherwise (nvt-detect).
    pub fn spinning_by_default(mut self) -> Self {
        self.spin = !self.no_spin;
        self
    }

    /// The detector settings these flags describe.
    pub fn options(&self) -> DetectorOptions {
        DetectorOptions {
            conf: self.conf,
            iou: self.iou,
            imgsz: self.imgsz,
            labels: self.labels.clone(),
            layout: self.layout,
            threads: self.threads,
            spin: self.spin,
            provider: self.ep,
            range: self.input_range,
            order: self.channel_order,
            output: self.output.clone(),
            normalized_boxes: self.normalized_boxes,
            resize: self.resize,
            ..DetectorOptions::default()
        }
    }

    /// Loads the model once per inference worker (each needs its own session), if one is
    /// named; every problem with it is an error here, at start-up.
    pub fn load(&self, workers: usize) -> anyhow::Result<Vec<Detector>> {
        let Some(path) = &self.model else { return Ok(Vec::new()) };
        anyhow::ensure!((0.0..=1.0).contains(&self.conf), "--conf must be between 0 and 1");
        anyhow::ensure!((0.0..=1.0).contains(&self.iou), "--iou must be between 0 and 1");
        let detectors = (0..workers.max(1))
            .map(|_| Detector::load(path, self.options()).with_context(|| format!("--model {}", path.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let info = detectors[0].info();
        let threads = match self.threads {
            0 => "auto".to_owned(),
            n => n.to_string(),
        };
        tracing::info!(
            model = %info.id,
            layout = %info.layout,
            input = format!("{}x{}", info.input_size.0, info.input_size.1),
            classes = info.names.len(),
            workers = detectors.len(),
            threads = %threads,
            "model loaded"
        );
        Ok(detectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Program {
        #[command(flatten)]
        model: ModelArgs,
    }

    fn spins(args: &[&str], owns_its_cores: bool) -> bool {
        let model = Program::parse_from(std::iter::once("p").chain(args.iter().copied())).model;
        let model = if owns_its_cores { model.spinning_by_default() } else { model };
        model.options().spin
    }

    #[test]
    fn a_batch_job_spins_unless_told_and_a_server_only_when_told() {
        assert!(spins(&[], true));
        assert!(!spins(&["--no-spin"], true));
        assert!(spins(&["--no-spin", "--spin"], true), "the last one given wins");
        assert!(!spins(&[], false));
        assert!(spins(&["--spin"], false));
        assert!(!spins(&["--spin", "--no-spin"], false));
    }
}
