//! The engine binary (`hatchet-local-engine`) serves an official SDK: the pinned Python
//! `hatchet-sdk` runs its interop worker and two client scenarios against the binary started
//! as its own process, configured only by the `export` lines the binary prints.
//!
//! The full interop suite, with checks of the engine's records, runs against the same engine
//! in-process (`tests/interop` of the workspace); this test proves the packaged binary is that
//! engine. Python comes from `HATCHET_PYTHON`, else the workspace's `.venv`, created on
//! first use by `scripts/python-venv`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failures should be loud

#[path = "../../tests/src/python.rs"]
mod python;

#[path = "../../tests/interop/process.rs"]
#[allow(dead_code)]
mod process;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::PyProcess;

fn workspace_root() -> PathBuf {
    // At run time: a build shared through one target directory by checkouts at other paths
    // must not point elsewhere.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    Path::new(&manifest_dir)
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn python() -> PathBuf {
    python::official_python_for("engine binary interop", &workspace_root())
}

/// Kills the binary when the test ends, however it ends.
struct Engine(std::process::Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free port and reads the `export NAME='value'` lines it prints.
fn start_engine() -> (Engine, Vec<(String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hatchet-local-engine"))
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the engine binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let engine = Engine(child);
    let mut vars = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("engine output");
        let Some(assignment) = line.strip_prefix("export ") else {
            break;
        };
        let (name, value) = assignment.split_once('=').expect("NAME=value");
        vars.push((
            name.to_owned(),
            value.trim_matches('\'').trim_matches('"').to_owned(),
        ));
        if vars.len() == 5 {
            break;
        }
    }
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "HATCHET_CLIENT_TOKEN",
        "HATCHET_CLIENT_HOST_PORT",
        "HATCHET_CLIENT_TLS_STRATEGY",
    ] {
        assert!(
            names.contains(&wanted),
            "the binary printed no {wanted}: {names:?}"
        );
    }
    (engine, vars)
}

#[tokio::test]
async fn official_python_sdk_runs_against_the_engine_binary() {
    let python = python();
    let (_engine, mut env) = start_engine();
    for (key, value) in [
        ("no_proxy", "127.0.0.1,localhost"),
        ("PYTHONUNBUFFERED", "1"),
        ("INTEROP_TIMEOUT_S", "60"),
    ] {
        env.push((key.to_owned(), value.to_owned()));
    }
    let dir = workspace_root().join("tests/interop/python");
    let mut worker = PyProcess::spawn("worker.py", &python, &dir, &["worker.py"], &env);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !worker.stdout().contains("WORKER READY") {
        assert!(
            worker.exited().is_none(),
            "worker.py exited before it was ready:\n{}",
            worker.report()
        );
        assert!(
            Instant::now() < deadline,
            "worker.py was not ready in 120 s:\n{}",
            worker.report()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for scenario in ["dag", "stream"] {
        let mut client = PyProcess::spawn(scenario, &python, &dir, &["client.py", scenario], &env);
        let status = client.wait(Duration::from_secs(100)).await;
        let passed = status.is_some_and(|s| s.success())
            && client
                .stdout()
                .lines()
                .any(|l| l.trim() == format!("PASS {scenario}"));
        if !passed {
            client.kill_all();
            worker.kill_all();
            panic!(
                "client.py {scenario} failed:\n{}\nworker:\n{}",
                client.report(),
                worker.report()
            );
        }
    }
    worker.terminate();
    let stopped = worker.wait(Duration::from_secs(30)).await;
    worker.kill_all();
    assert!(
        stopped.is_some_and(|s| s.success()),
        "worker.py did not stop cleanly:\n{}",
        worker.report()
    );
}
