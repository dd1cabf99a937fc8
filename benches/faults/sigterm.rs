//! SIGTERM to a worker process with tasks in flight, some longer than its drain deadline:
//! every task either finishes or is left running on the engine, unreported, for the engine
//! to reassign (none is failed, which would spend a retry).

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{Client, Context, RunOptions, Task, TaskError, TriggerRequest, Worker, Workflow};
use serde_json::{Value, json};

use crate::Outcome;

const NAME: &str = "sigterm";
/// Run as the worker process.
pub(crate) const CHILD_FLAG: &str = "--sigterm-worker";
const WORKFLOW: &str = "faults-sigterm";
/// The child's drain deadline: the 2 s and 4 s tasks outlive it and are handed back.
const DRAIN: Duration = Duration::from_millis(1500);
/// With a second signal the drain deadline is long: the second signal must cut it short.
const LONG_DRAIN: Duration = Duration::from_secs(60);
const DRAIN_ENV: &str = "HATCHET_FAULTS_DRAIN_MS";
const DURATIONS_MS: [u64; 4] = [200, 1000, 2000, 4000];

fn workflow() -> Result<Workflow<Value, Value>, hatchet_rs::DefinitionError> {
    Workflow::standalone(Task::new(WORKFLOW, |input: Value, _: Context| async move {
        let ms = input["ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, TaskError>(json!({"slept_ms": ms}))
    }))
    .build()
}

/// The worker process: serves until SIGTERM, then drains.
pub(crate) fn child_main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(_) => return ExitCode::FAILURE,
    };
    let served = runtime.block_on(async {
        let client = Client::from_env()?;
        let worker = Worker::builder(&client, "faults-sigterm")
            .slots(1000)
            .shutdown_timeout(
                std::env::var(DRAIN_ENV)
                    .ok()
                    .and_then(|ms| ms.parse().ok())
                    .map_or(DRAIN, Duration::from_millis),
            )
            .workflow(&workflow().map_err(|e| hatchet_rs::Error::InvalidPayload(e.to_string()))?)
            .build()?;
        worker.run().await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigterm worker: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn run(in_flight: usize) -> Outcome {
    check(in_flight, false).await.unwrap_or_else(|e| Outcome {
        name: NAME,
        passed: false,
        figures: format!("error: {e}"),
    })
}

/// A second SIGTERM during a long drain stops the worker at once, handing back what it runs.
pub(crate) async fn run_twice(in_flight: usize) -> Outcome {
    check(in_flight, true).await.unwrap_or_else(|e| Outcome {
        name: NAME_TWICE,
        passed: false,
        figures: format!("error: {e}"),
    })
}

const NAME_TWICE: &str = "second sigterm";

/// Kills the child if the check ends early.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn check(in_flight: usize, twice: bool) -> Result<Outcome, Box<dyn std::error::Error>> {
    let engine = TestEngine::start().await?;
    let drain = if twice { LONG_DRAIN } else { DRAIN };
    let mut child = Child(
        Command::new(std::env::current_exe()?)
            .arg(CHILD_FLAG)
            .envs(engine.env_vars())
            .env(DRAIN_ENV, drain.as_millis().to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    engine
        .wait_for(
            "the worker process to listen",
            Duration::from_secs(60),
            |e| e.workers().iter().any(|w| w.listening).then_some(()),
        )
        .await?;
    let client = engine.client();
    let requests = (0..in_flight)
        .map(|i| {
            TriggerRequest::new(
                WORKFLOW,
                &json!({"ms": DURATIONS_MS[i % DURATIONS_MS.len()]}),
            )
            .map(|r| r.options(RunOptions::new()))
        })
        .collect::<hatchet_rs::Result<Vec<_>>>()?;
    client.runs().bulk_trigger(requests).await?;
    engine
        .wait_for("every task started", Duration::from_secs(60), |e| {
            // STARTED reported: the worker process holds every task.
            let started = e
                .runs()
                .iter()
                .filter_map(|r| r.tasks.first())
                .filter(|t| t.attempts.last().is_some_and(|a| a.started_at.is_some()))
                .count();
            (started == in_flight).then_some(())
        })
        .await?;
    let signalled = Instant::now();
    let term = |pid: u32| -> Result<(), Box<dyn std::error::Error>> {
        if Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?
            .success()
        {
            Ok(())
        } else {
            Err("kill -TERM failed".into())
        }
    };
    term(child.0.id())?;
    if twice {
        // Let the drain begin (the short tasks finish), then signal again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        term(child.0.id())?;
    }
    let exit = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(60) {
            return Err("the worker process did not exit within 60 s of SIGTERM".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exited_after = signalled.elapsed();
    let runs = engine.runs();
    let mut finished = 0;
    let mut handed_back = 0;
    let mut failed = 0;
    for run in &runs {
        let Some(task) = run.tasks.first() else {
            continue;
        };
        match task.status {
            TaskStatus::Completed => finished += 1,
            // Left on the engine: it reassigns the task once the worker has been silent for
            // 30 s (the rolling-deploy check follows such tasks to their end).
            TaskStatus::Running => handed_back += 1,
            _ => failed += 1,
        }
    }
    // A second signal must cut the 60 s drain short: out well before the longest task ends.
    let prompt = !twice || exited_after < Duration::from_secs(3);
    Ok(Outcome {
        name: if twice { NAME_TWICE } else { NAME },
        passed: exit.success() && failed == 0 && finished + handed_back == in_flight && prompt,
        figures: format!(
            "{in_flight} tasks in flight (0.2-4 s, drain deadline {:.1} s{}): {finished} finished, {handed_back} handed back unreported, {failed} failed; exited {} after {:.1} s",
            drain.as_secs_f64(),
            if twice {
                ", second SIGTERM after 0.5 s"
            } else {
                ""
            },
            if exit.success() {
                "cleanly"
            } else {
                "with an error"
            },
            exited_after.as_secs_f64()
        ),
    })
}
