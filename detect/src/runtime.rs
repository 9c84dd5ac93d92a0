//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! Search order: `ORT_DYLIB_PATH`; `.ort/libonnxruntime.so` in the executable's folder or any
//! folder above it (so `target/release/nvt-server` finds the repository's `.ort/`); the same in
//! the working directory; then the usual system library folders.

use crate::DetectError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const LIBRARY: &str = "libonnxruntime.so";

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, DetectError> {
    let result = ENVIRONMENT.get_or_init(|| {
        let path = locate().map_err(|e| e.to_string())?;
        let builder =
            ort::init_from(&path).map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
        let env = builder.with_name("nvt").build().map_err(|e| format!("cannot start ONNX Runtime: {e}"))?;
        tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
        Ok(env)
    });
    result.as_ref().map_err(|reason| match locate() {
        Err(missing) => missing,
        Ok(path) => DetectError::RuntimeLoad { path, reason: reason.clone() },
    })
}

/// Where the library is, or every place we looked.
pub fn locate() -> Result<PathBuf, DetectError> {
    let candidates = candidates(std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from));
    candidates.iter().find(|p| p.is_file()).cloned().ok_or(DetectError::RuntimeMissing { searched: candidates })
}

fn candidates(env_override: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(path) = env_override {
        return vec![path];
    }
    let mut paths = Vec::new();
    let mut add_tree = |start: &Path| {
        for dir in start.ancestors() {
            paths.push(dir.join(".ort").join(LIBRARY));
        }
    };
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        add_tree(dir);
    }
    if let Ok(dir) = std::env::current_dir() {
        add_tree(&dir);
    }
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"] {
        paths.push(Path::new(dir).join(LIBRARY));
    }
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_is_the_only_candidate() {
        assert_eq!(candidates(Some("/opt/ort/lib.so".into())), vec![PathBuf::from("/opt/ort/lib.so")]);
    }

    #[test]
    fn the_repository_ort_folder_is_searched_from_the_executable_upwards() {
        let paths = candidates(None);
        let repo_ort = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").join(".ort").join(LIBRARY);
        assert!(paths.contains(&repo_ort), "{paths:?}");
    }

    #[test]
    fn a_missing_library_names_the_fix() {
        let error = DetectError::RuntimeMissing { searched: candidates(Some("/nonexistent/libonnxruntime.so".into())) };
        let text = error.to_string();
        assert!(
            text.contains("make setup") && text.contains("ORT_DYLIB_PATH") && text.contains("/nonexistent"),
            "{text}"
        );
    }
}
