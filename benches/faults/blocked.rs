//! A task that blocks the only thread of its worker's runtime.

use std::time::{Duration, SystemTime};

use hatchet_rs::testing::TestEngine;
use hatchet_rs::{Client, Context, Task, TaskError, Worker, Workflow};
use serde_json::{Value, json};

use crate::Outcome;

const NAME: &str = "blocked runtime";
/// The in-process engine counts a heartbeat fresh for 5 s; heartbeats are sent every 4 s.
const STALE_AFTER: Duration = Duration::from_millis(6500);

pub(crate) fn run(block: Duration) -> Outcome {
    check(block).unwrap_or_else(|e| Outcome {
        name: NAME,
        passed: false,
        figures: format!("error: {e}"),
    })
}

fn check(block: Duration) -> Result<Outcome, Box<dyn std::error::Error>> {
    let (config_tx, config_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // The engine runs on a runtime of its own, as it would elsewhere.
    let engine_thread = std::thread::spawn(move || -> Result<(Duration, usize), String> {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let engine = TestEngine::start().await.map_err(|e| e.to_string())?;
            config_tx
                .send(engine.client_config())
                .map_err(|e| e.to_string())?;
            let mut oldest = Duration::ZERO;
            while done_rx.try_recv().is_err() {
                for worker in engine.workers().iter().filter(|w| w.listening) {
                    let age = SystemTime::now()
                        .duration_since(worker.last_heartbeat)
                        .unwrap_or_default();
                    oldest = oldest.max(age);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let attempts = engine
                .runs()
                .iter()
                .flat_map(|r| r.tasks.iter().map(|t| t.attempts.len()))
                .sum();
            Ok((oldest, attempts))
        })
    });
    let config = config_rx.recv()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(async move {
        let client = Client::new(config)?;
        let workflow: Workflow<Value, Value> = Workflow::standalone(
            Task::new("blocks", move |_: Value, _: Context| async move {
                std::thread::sleep(block);
                Ok::<_, TaskError>(json!({"done": true}))
            })
            .timeout(block + Duration::from_secs(30)),
        )
        .build()
        .map_err(|e| hatchet_rs::Error::InvalidPayload(e.to_string()))?;
        let worker = Worker::builder(&client, "faults-blocked")
            .workflow(&workflow)
            .build()?
            .start()
            .await?;
        let output = workflow.run(&client, &json!({})).await;
        let _ = worker.shutdown().await;
        output
    });
    let _ = done_tx.send(());
    let (oldest, attempts) = engine_thread
        .join()
        .map_err(|_| "the engine thread panicked")??;
    let completed = output.is_ok();
    Ok(Outcome {
        name: NAME,
        passed: completed && oldest < STALE_AFTER && attempts == 1,
        figures: format!(
            "a task blocked its worker's only runtime thread for {} s: oldest heartbeat {:.1} s, {attempts} attempt(s), run {}",
            block.as_secs(),
            oldest.as_secs_f64(),
            if completed {
                "completed"
            } else {
                "did not complete"
            }
        ),
    })
}
