//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! Search order: `ORT_DYLIB_PATH`; the `.ort/` folder where this project's `make setup` put it,
//! when the executable is one this checkout built (it sits under the checkout's `target/`); then
//! the usual system library folders. Never the working directory or a folder above it: a server
//! started from under `/tmp` must not run a library another local user left there. A candidate
//! in a folder anyone may write to is passed over.

use crate::error::DetectError;
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
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    let exe = std::env::current_exe().ok().and_then(|exe| exe.canonicalize().ok());
    if let (Some(checkout), Some(exe)) = (checkout, exe) {
        if exe.starts_with(checkout.join("target")) {
            paths.push(checkout.join(".ort").join(LIBRARY));
        }
    }
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"] {
        paths.push(Path::new(dir).join(LIBRARY));
    }
    paths.retain(|p| !writable_by_anyone(p));
    paths
}

/// Whether the file, or a folder it is in, may be written by any user (and so replaced by one).
fn writable_by_anyone(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().any(|p| {
        std::fs::metadata(p).is_ok_and(|m| {
            let mode = m.permissions().mode();
            // World-writable, unless it is a sticky folder (like /tmp) whose entries only their
            // owners may replace; the path below it is then checked on its own.
            mode & 0o002 != 0 && !(m.is_dir() && mode & 0o1000 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_is_the_only_candidate() {
        assert_eq!(candidates(Some("/opt/ort/lib.so".into())), vec![PathBuf::from("/opt/ort/lib.so")]);
    }

    #[test]
    fn the_checkouts_ort_folder_is_searched_and_never_the_working_directory() {
        let paths = candidates(None);
        let repo_ort = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").join(".ort").join(LIBRARY);
        assert!(paths.contains(&repo_ort), "a test built in this checkout finds its .ort/: {paths:?}");
        let system = |p: &PathBuf| p.starts_with("/usr/lib") || p.starts_with("/usr/local/lib");
        assert!(
            paths.iter().all(|p| *p == repo_ort || system(p)),
            "nothing from the working directory or above it: {paths:?}"
        );
    }

    #[test]
    fn a_library_in_a_folder_anyone_may_write_is_passed_over() {
        use std::os::unix::fs::PermissionsExt;
        let open = std::env::temp_dir().join(format!("nvt-open-{}", std::process::id()));
        std::fs::create_dir_all(&open).expect("dir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(writable_by_anyone(&open.join(LIBRARY)));
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(!writable_by_anyone(&open.join(LIBRARY)), "/tmp is sticky, the folder below it private");
        std::fs::remove_dir_all(&open).ok();
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
