//! Execution providers: where ONNX Runtime runs the model. CPU is the default; CUDA, TensorRT and
//! OpenVINO are used when the loaded ONNX Runtime library was built with them.

use crate::error::DetectError;
use ort::ep::{ExecutionProvider, OpenVINO, TensorRT, CPU, CUDA};
use ort::session::builder::SessionBuilder;
use std::str::FromStr;

/// An execution provider nvt can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT.
    TensorRt,
    /// Intel OpenVINO.
    OpenVino,
}

impl FromStr for Provider {
    type Err = DetectError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "tensorrt" | "trt" => Ok(Self::TensorRt),
            "openvino" => Ok(Self::OpenVino),
            _ => Err(DetectError::Provider(format!(
                "unknown execution provider {text:?}: use cpu, cuda, tensorrt or openvino"
            ))),
        }
    }
}

impl Provider {
    /// Every provider nvt knows.
    pub const ALL: [Provider; 4] = [Self::Cpu, Self::Cuda, Self::TensorRt, Self::OpenVino];

    /// The short name users type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
            Self::OpenVino => "openvino",
        }
    }

    /// Whether the loaded ONNX Runtime library has this provider.
    pub fn is_available(self) -> bool {
        let available = match self {
            Self::Cpu => return true,
            Self::Cuda => CUDA::is_available(),
            Self::TensorRt => TensorRT::is_available(),
            Self::OpenVino => OpenVINO::is_available(),
        };
        available.unwrap_or(false)
    }

    /// The providers the loaded library has.
    pub fn available() -> Vec<Provider> {
        Self::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// Registers this provider on a session, or says which ones the library has instead.
    pub fn register(self, builder: SessionBuilder) -> Result<SessionBuilder, DetectError> {
        if !self.is_available() {
            let names: Vec<&str> = Self::available().into_iter().map(Self::name).collect();
            return Err(DetectError::Provider(format!(
                "execution provider {} is not in the loaded ONNX Runtime library; available: {}",
                self.name(),
                names.join(", ")
            )));
        }
        let dispatch = match self {
            Self::Cpu => CPU::default().build(),
            Self::Cuda => CUDA::default().build(),
            Self::TensorRt => TensorRT::default().build(),
            Self::OpenVino => OpenVINO::default().build(),
        };
        builder
            .with_execution_providers([dispatch.error_on_failure()])
            .map_err(|e| DetectError::Provider(format!("cannot use execution provider {}: {e}", self.name())))
    }
}
