//! Starting a peer's worker process: this binary with `--worker` for the Rust peers, the
//! official SDK's interpreter with `python/worker.py` for the Python peer, and the binary
//! `go build` makes of `go-worker/` for the Go peer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::go_worker;
use crate::BoxError;
use crate::cli::{Options, Peer};
use crate::spawn::{WorkerProcess, fresh_log};
use crate::target::Target;

/// The Python worker, written next to the logs so the SDK's re-import finds it.
const PYTHON_WORKER: &str = include_str!("../../python/worker.py");
/// The Python SDK takes a few seconds to import, register and spawn its listener.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A started worker (with a note about how it was built, if it was), or why the peer is
/// skipped.
#[derive(Debug)]
pub(super) enum Started {
    Running(WorkerProcess, Option<String>),
    Skipped(String),
}

/// Starts `peer`'s worker against `target`.
pub(super) fn start(
    target: &Target,
    options: &Options,
    peer: Peer,
    out: &Path,
) -> Result<Started, BoxError> {
    let log = fresh_log(&out.join("logs"), peer.name())?;
    let mut note = None;
    let mut command = match peer {
        Peer::Raw | Peer::Rust | Peer::RustBatch => {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(options.worker_args(peer));
            command
        }
        Peer::Python => {
            let python = match python(options) {
                Ok(python) => python,
                Err(why) => return Ok(Started::Skipped(why)),
            };
            let dir = out.join("python");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("worker.py"), PYTHON_WORKER)?;
            let mut command = Command::new(python);
            command
                .arg("worker.py")
                // pydantic-settings also reads .env files from the working directory: use
                // one that has none.
                .current_dir(dir)
                .env("HATCHET_BENCH_SLOTS", options.slots.to_string())
                .env("HATCHET_BENCH_SLEEP_MS", options.sleep_ms.to_string())
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            command
        }
        Peer::Go => {
            eprintln!("hatchet-bench: go: building the Go SDK worker (`go build`, cached)");
            // Up to a minute with a cold Go build cache; nothing is measured meanwhile.
            let built = match tokio::task::block_in_place(|| go_worker::build(options, out)) {
                Ok(built) => built,
                Err(why) => return Ok(Started::Skipped(why)),
            };
            note = Some(built.summary);
            let mut command = Command::new(built.binary);
            command
                .current_dir(out.join("go"))
                .env("HATCHET_BENCH_SLOTS", options.slots.to_string())
                .env("HATCHET_BENCH_SLEEP_MS", options.sleep_ms.to_string());
            command
        }
    };
    target.configure(&mut command);
    Ok(Started::Running(
        WorkerProcess::spawn(peer.name(), command, &log)?,
        note,
    ))
}

/// `--python`, else `HATCHET_PYTHON`, else the workspace's `.venv`; `Err` says why none.
fn python(options: &Options) -> Result<PathBuf, String> {
    let (path, from) = match (&options.python, std::env::var_os("HATCHET_PYTHON")) {
        (Some(path), _) => (path.clone(), "--python"),
        (None, Some(path)) => (PathBuf::from(path), "HATCHET_PYTHON"),
        (None, None) => (
            crate::manifest_dir().join("../.venv/bin/python"),
            "the workspace's .venv",
        ),
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "SKIPPED: no Python with the official hatchet-sdk at {} ({from}); run scripts/python-venv or pass --python",
            path.display()
        ))
    }
}
