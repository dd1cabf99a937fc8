//! Python processes for the interop test: captured output, bounded waits, signals, and an
//! end that leaves nothing behind (each process leads its own process group, because the
//! Python worker spawns a listener process of its own).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A running (or finished) Python script whose stdout and stderr are being collected.
pub(crate) struct PyProcess {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    // Detached: a grandchild holding the pipe open must not block the test.
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n') {
            let Ok(line) = line else { break };
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            sink.push_str(&String::from_utf8_lossy(&line));
            sink.push('\n');
        }
    });
}

/// Sends `signal` (a name such as `TERM`) to `target` (a pid, or `-pgid` for a group).
fn kill(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl PyProcess {
    /// Starts `python script args...` in `dir` with `env` set and every inherited
    /// `HATCHET_CLIENT_*` variable removed, so only the engine under test is configured.
    pub(crate) fn spawn(
        name: &str,
        python: &Path,
        dir: &Path,
        script_and_args: &[&str],
        env: &[(String, String)],
    ) -> Self {
        let mut command = Command::new(python);
        command
            .args(script_and_args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HATCHET_CLIENT_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({name}): {e}", python.display()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stdout.take() {
            collect(pipe, stdout.clone());
        }
        if let Some(pipe) = child.stderr.take() {
            collect(pipe, stderr.clone());
        }
        Self {
            name: name.to_owned(),
            child,
            status: None,
            stdout,
            stderr,
        }
    }

    /// Everything it printed on stdout so far.
    pub(crate) fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Everything it printed on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Its exit status, if it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub(crate) async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `timeout` for `needle` on stdout.
    pub(crate) async fn wait_for_stdout(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.stdout().contains(needle) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Sends SIGTERM to the process itself (not its group), as a supervisor stopping it.
    pub(crate) fn terminate(&mut self) {
        if self.exited().is_none() {
            kill("TERM", &self.child.id().to_string());
        }
    }

    /// Kills the process and everything it started.
    pub(crate) fn kill_all(&mut self) {
        kill("KILL", &format!("-{}", self.child.id()));
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Its name, exit status and output, for a failure message.
    pub(crate) fn report(&mut self) -> String {
        let status = match self.exited() {
            Some(status) => status.to_string(),
            None => "still running".to_owned(),
        };
        format!(
            "---- {} ({status}) stdout ----\n{}---- {} stderr ----\n{}",
            self.name,
            self.stdout(),
            self.name,
            self.stderr()
        )
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        self.kill_all();
    }
}
