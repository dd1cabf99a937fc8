//! Helpers shared by this package's test suites (the suites are its `[[test]]` targets).

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The Python interpreter with the pinned official SDK: `HATCHET_PYTHON`, else the
/// workspace's `.venv` made by `scripts/python-venv`.
///
/// Without one, `suite` is skipped with a printed `SKIPPED` line, except under `CI=true`,
/// where a missing prerequisite fails the run.
pub fn official_python(suite: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HATCHET_PYTHON") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "HATCHET_PYTHON is set to {}, which does not exist",
            path.display()
        );
        return Some(path);
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let message = "no Python with the official hatchet-sdk: run `scripts/python-venv` \
                   (creates .venv) or set HATCHET_PYTHON";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED {suite}: {message}");
    None
}
