//! Live only: the real engine is restarted in the middle of a run (`scripts/live-engine
//! restart`); the worker must be back within 5 s of the engine and every run must complete.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hatchet_rs::{
    Client, ClientConfigBuilder, Context, RunOptions, Task, TaskError, Worker, Workflow,
};
use serde_json::{Value, json};

use crate::Outcome;

const NAME: &str = "engine restart (live)";
const BACK_WITHIN: Duration = Duration::from_secs(5);
/// 200 runs of 250 ms on 4 slots: about 12 s of work around the restart.
const RUNS: usize = 200;

pub(crate) async fn run() -> Outcome {
    check(RUNS).await.unwrap_or_else(|e| Outcome {
        name: NAME,
        passed: false,
        figures: format!("error: {e}"),
    })
}

fn script() -> PathBuf {
    std::env::var_os("HATCHET_LIVE_SCRIPT").map_or_else(
        || crate::manifest_dir().join("../scripts/live-engine"),
        PathBuf::from,
    )
}

async fn check(tasks: usize) -> Result<Outcome, Box<dyn std::error::Error>> {
    // A namespace of its own keeps this run apart from anything else on the engine.
    let namespace = format!("faults{}", std::process::id());
    let client = Client::new(
        ClientConfigBuilder::from_env()
            .namespace(namespace)
            .build()?,
    )?;
    let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = starts.clone();
    let workflow: Workflow<Value, Value> = Workflow::standalone(
        Task::new("restart-survivor", move |_: Value, _: Context| {
            let seen = seen.clone();
            async move {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                Ok::<_, TaskError>(json!({}))
            }
        })
        .retries(3),
    )
    .build()?;
    let worker = Worker::builder(&client, "faults-restart")
        // Few slots and slow tasks: the work outlasts the restart.
        .slots(4)
        .workflow(&workflow)
        .build()?
        .start()
        .await?;
    let runs = workflow
        .run_many(&client, (0..tasks).map(|_| (json!({}), RunOptions::new())))
        .await?;
    // Let some work happen, then restart the engine under it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::task::spawn_blocking(|| {
        std::process::Command::new(script())
            .arg("restart")
            .stdout(std::process::Stdio::null())
            .status()
    })
    .await??;
    if !status.success() {
        return Err("scripts/live-engine restart failed".into());
    }
    let engine_back = Instant::now();
    let results = tokio::time::timeout(
        Duration::from_secs(300),
        futures::future::join_all(runs.iter().map(|r| r.result())),
    )
    .await?;
    let _ = worker.shutdown().await;
    let completed = results.iter().filter(|r| r.is_ok()).count();
    let first_after = starts
        .lock()
        .map_err(|_| "lock")?
        .iter()
        .filter(|t| **t >= engine_back)
        .min()
        .copied();
    let back_after = first_after.map(|t| t.duration_since(engine_back));
    let passed = completed == tasks && back_after.is_some_and(|d| d <= BACK_WITHIN);
    Ok(Outcome {
        name: NAME,
        passed,
        figures: format!(
            "{tasks} runs, engine restarted mid-run: {completed} completed; first task started {} after the engine was back",
            back_after.map_or("never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
        ),
    })
}
