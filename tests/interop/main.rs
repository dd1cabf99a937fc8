//! Interop: the official Python SDK (`hatchet-sdk`, pinned in `tests/python/requirements.txt`)
//! runs a worker and a client against the in-process engine, a client nobody here wrote.
//!
//! The engine lives in this test process and serves real sockets (gRPC and, on the same
//! port, the REST endpoints the Python client uses to cancel runs). `tests/interop/python/
//! worker.py` registers its workflows and listens; `client.py <scenario>` drives one scenario
//! and prints `PASS <scenario>`. The scenarios run side by side against the one worker; then
//! the engine's own records are checked for each (attempts, chunks, cancellation reaching the
//! worker, parent links), and the worker must stop cleanly on SIGTERM.
//!
//! Python comes from `HATCHET_PYTHON`, else the workspace's `.venv` (`scripts/python-venv`).
//! Without one, the venv is created on first use (`scripts/python-venv`).

mod checks;
mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hatchet_rs::testing::TestEngine;
use hatchet_tests::{official_python, workspace_root};

use process::PyProcess;

/// The scenarios of `client.py`, all run against one worker.
const SCENARIOS: &[&str] = &[
    "dag",
    "retry",
    "fail",
    "event",
    "child",
    "cancel",
    "stream",
    "durable",
    "batch",
    "rest",
    "rest-runs",
    "rest-admin",
];
/// The name `worker.py` registers with.
const WORKER_NAME: &str = "interop-worker";
/// Python start-up, `PutWorkflow` ×12, `Register` and `ListenV2` on a busy two-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole of one `client.py` run; the script gives up on its own after 60 s.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(100);
/// SIGTERM to exit: pause over REST, drain, close `ListenV2`, `Unsubscribe`.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

fn python() -> PathBuf {
    official_python("python interop")
}

/// What both scripts need: the engine's `HATCHET_CLIENT_*` variables, no proxy for the
/// loopback address (gRPC honours `http_proxy`), unbuffered output.
fn script_env(engine: &TestEngine) -> Vec<(String, String)> {
    let mut env = engine.env_vars();
    for (key, value) in [
        ("no_proxy", "127.0.0.1,localhost"),
        ("NO_PROXY", "127.0.0.1,localhost"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("INTEROP_TIMEOUT_S", "60"),
    ] {
        env.push((key.to_owned(), value.to_owned()));
    }
    env
}

/// One finished `client.py` run.
pub(crate) struct ClientRun {
    pub(crate) scenario: &'static str,
    pub(crate) process: PyProcess,
    pub(crate) passed: Result<(), String>,
    pub(crate) took: Duration,
}

impl ClientRun {
    /// The value of `INTEROP <scenario> run_id=<id>`, the note `client.py` prints on stderr.
    pub(crate) fn run_id(&self) -> Option<String> {
        let prefix = format!("INTEROP {} run_id=", self.scenario);
        self.process
            .stderr()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|id| id.trim().to_owned()))
    }
}

async fn run_client(
    scenario: &'static str,
    python: &Path,
    dir: &Path,
    env: &[(String, String)],
) -> ClientRun {
    let started = Instant::now();
    let name = format!("client.py {scenario}");
    let mut process = PyProcess::spawn(&name, python, dir, &["client.py", scenario], env);
    let passed = match process.wait(CLIENT_TIMEOUT).await {
        None => {
            process.kill_all();
            Err(format!("no exit within {CLIENT_TIMEOUT:?}"))
        }
        Some(status) if !status.success() => Err(format!("exited with {status}")),
        Some(_) => {
            let line = format!("PASS {scenario}");
            if process.stdout().lines().any(|l| l.trim() == line) {
                Ok(())
            } else {
                Err(format!("exited 0 without printing `{line}`"))
            }
        }
    };
    ClientRun {
        scenario,
        process,
        passed,
        took: started.elapsed(),
    }
}

/// Waits until the engine has the Python worker registered with an open `ListenV2`.
async fn wait_until_listening(engine: &TestEngine, worker: &mut PyProcess) -> String {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let listening = engine
            .workers()
            .into_iter()
            .find(|w| w.name == WORKER_NAME && w.listening);
        if let Some(found) = listening {
            return found.id;
        }
        if let Some(status) = worker.exited() {
            panic!(
                "worker.py exited ({status}) before it was listening\n{}",
                worker.report()
            );
        }
        if Instant::now() >= deadline {
            panic!(
                "worker.py was not registered and listening within {READY_TIMEOUT:?}\n{}",
                worker.report()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_worker_and_client_run_every_scenario() {
    let python = python();
    let started = Instant::now();
    let engine = TestEngine::start().await.expect("the engine starts");
    let env = script_env(&engine);
    let dir = workspace_root().join("tests/interop/python");

    let mut worker = PyProcess::spawn("worker.py", &python, &dir, &["worker.py"], &env);
    let worker_id = wait_until_listening(&engine, &mut worker).await;
    eprintln!(
        "interop: worker {worker_id} listening after {:.1?}",
        started.elapsed()
    );

    let clients = futures::future::join_all(
        SCENARIOS
            .iter()
            .map(|scenario| run_client(scenario, &python, &dir, &env)),
    )
    .await;

    let mut failures = Vec::new();
    for client in &clients {
        let mut outcome = client.passed.clone();
        if outcome.is_ok() {
            outcome = checks::engine_side(&engine, &worker, &worker_id, client).await;
        }
        match &outcome {
            Ok(()) => eprintln!("interop: PASS {} ({:.1?})", client.scenario, client.took),
            Err(why) => {
                eprintln!(
                    "interop: FAIL {} ({:.1?}): {why}",
                    client.scenario, client.took
                );
                failures.push((client.scenario, why.clone()));
            }
        }
    }

    if let Err(why) = checks::clean_shutdown(&engine, &mut worker, &worker_id).await {
        eprintln!("interop: FAIL worker shutdown: {why}");
        failures.push(("worker shutdown", why));
    }
    eprintln!("interop: finished in {:.1?}", started.elapsed());

    if !failures.is_empty() {
        let mut report = worker.report();
        for mut client in clients {
            if client.passed.is_err() || failures.iter().any(|(s, _)| *s == client.scenario) {
                report.push_str(&client.process.report());
            }
        }
        let summary: Vec<String> = failures
            .iter()
            .map(|(scenario, why)| format!("{scenario}: {why}"))
            .collect();
        panic!(
            "python interop failed:\n  {}\n{report}",
            summary.join("\n  ")
        );
    }
}
