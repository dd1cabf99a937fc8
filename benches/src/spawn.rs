//! Worker processes: started in their own process group with output going to a log file,
//! ready once they print `READY`, and stopped with everything they spawned.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::BoxError;

/// The line a worker prints on stdout once it is registered and listening.
pub(crate) const READY_LINE: &str = "READY";

/// A running worker process.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    name: String,
    child: Child,
    log: PathBuf,
    ready: mpsc::Receiver<()>,
}

/// Sends `signal` (e.g. `TERM`) to the process group `pgid`, through `kill(1)` because this
/// crate forbids `unsafe` and so calls no libc directly.
fn signal_group(signal: &str, pgid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl WorkerProcess {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self, BoxError> {
        let stderr = OpenOptions::new().create(true).append(true).open(log)?;
        let mut stdout_log = OpenOptions::new().append(true).open(log)?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            // Its own group, so stopping it also stops the processes it spawned.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the {name} worker: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the worker's stdout is not piped")?;
        let (ready_tx, ready) = mpsc::channel();
        // Detached: a grandchild holding the pipe open must not block the benchmark.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim() == READY_LINE {
                    let _ = ready_tx.send(());
                }
                let _ = writeln!(stdout_log, "{line}");
            }
        });
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            ready,
        })
    }

    /// The worker's pid, the root of the process tree whose CPU and RSS are measured.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the worker prints `READY`; fails if it exits first or takes too long.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> Result<(), BoxError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.ready.try_recv().is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "the {} worker exited ({status}) before it was ready; see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the {} worker was not ready within {timeout:?}; see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM to the group, SIGKILL after `grace`, then reaps the worker.
    pub(crate) async fn stop(mut self, grace: Duration) {
        let pgid = self.child.id();
        signal_group("TERM", pgid);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Also ends a straggling grandchild when the worker itself has exited.
        signal_group("KILL", pgid);
        let _ = self.child.wait();
    }
}

/// Creates (truncates) the log file of a worker.
pub(crate) fn fresh_log(dir: &Path, peer: &str) -> Result<PathBuf, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{peer}-worker.log"));
    File::create(&path)?;
    Ok(path)
}
