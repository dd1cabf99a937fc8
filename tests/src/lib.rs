//! Helpers shared by this package's test suites (the suites are its `[[test]]` targets).

use std::path::{Path, PathBuf};

/// The workspace root.
///
/// Read at run time (cargo sets `CARGO_MANIFEST_DIR` for the tests it runs): a build shared
/// through one target directory by checkouts at other paths must not point elsewhere.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    Path::new(&manifest_dir)
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

mod python;

/// The Python interpreter with the pinned official SDK: `HATCHET_PYTHON`, else the
/// workspace's `.venv`, created on first use by `scripts/python-venv`. A suite that cannot
/// get one fails with the command to run; it is never skipped.
pub fn official_python(suite: &str) -> PathBuf {
    python::official_python_for(suite, &workspace_root())
}
