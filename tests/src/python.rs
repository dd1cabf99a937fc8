//! The Python interpreter with the pinned official SDK, for the suites that run it.
//!
//! `HATCHET_PYTHON` if set; else the workspace's `.venv`, created on first use by
//! `scripts/python-venv` (which installs `tests/python/requirements.txt` from PyPI), so
//! `cargo test --workspace` runs these suites on a fresh machine too. If that cannot be done
//! the suite fails with the command to run: it is never skipped as if it had passed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Serializes provisioning between tests of one binary.
static PROVISION: Mutex<()> = Mutex::new(());

/// The interpreter for `suite` (named in failure messages).
pub(crate) fn official_python_for(suite: &str, workspace_root: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("HATCHET_PYTHON") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "{suite}: HATCHET_PYTHON is set to {}, which does not exist",
            path.display()
        );
        return path;
    }
    let _guard = PROVISION
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let script = workspace_root.join("scripts/python-venv");
    let venv = workspace_root.join(".venv");
    // The script is idempotent: it only installs when the venv is missing or its pinned
    // requirements changed.
    let output = Command::new(&script)
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{suite}: cannot run {} to create the Python venv with the official hatchet-sdk: {e}; \
                 run it by hand or set HATCHET_PYTHON",
                script.display()
            )
        });
    assert!(
        output.status.success(),
        "{suite}: {} failed (it creates .venv with the official hatchet-sdk from PyPI); \
         run it by hand to see why, or set HATCHET_PYTHON:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let python = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    PathBuf::from(python)
}
