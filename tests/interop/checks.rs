//! What the engine itself recorded for each scenario the Python client passed: the facts a
//! Python client cannot see (attempts, chunks as stored, parent links, the cancel reaching
//! the worker), and a clean worker shutdown.

use std::time::Duration;

use hatchet_rs::testing::{RunInfo, TaskInfo, TaskStatus, TestEngine};
use serde_json::json;

use crate::ClientRun;
use crate::process::PyProcess;

type Check = Result<(), String>;

fn ensure(condition: bool, message: impl FnOnce() -> String) -> Check {
    if condition { Ok(()) } else { Err(message()) }
}

fn runs_of(engine: &TestEngine, workflow: &str) -> Vec<RunInfo> {
    engine
        .runs()
        .into_iter()
        .filter(|r| r.workflow_name == workflow)
        .collect()
}

fn run_by_note(engine: &TestEngine, client: &ClientRun) -> Result<RunInfo, String> {
    let id = client
        .run_id()
        .ok_or("client.py printed no `INTEROP <scenario> run_id=` note")?;
    engine
        .run(&id)
        .ok_or_else(|| format!("the engine has no run {id}"))
}

fn only_task(run: &RunInfo) -> Result<&TaskInfo, String> {
    match run.tasks.as_slice() {
        [task] => Ok(task),
        tasks => Err(format!(
            "run {} has {} tasks, expected 1",
            run.id,
            tasks.len()
        )),
    }
}

/// The engine-side facts of one scenario.
pub(crate) async fn engine_side(
    engine: &TestEngine,
    worker: &PyProcess,
    worker_id: &str,
    client: &ClientRun,
) -> Check {
    match client.scenario {
        "dag" => dag(engine),
        "retry" => retry(engine, worker_id, client),
        "fail" => fail(engine),
        "event" => event(engine),
        "child" => child(engine),
        "cancel" => cancel(engine, worker, client).await,
        "stream" => stream(engine, client),
        "durable" => durable(engine),
        "batch" => batch(engine),
        "rest" => rest(engine),
        "rest-runs" => rest_runs(engine, client),
        "rest-admin" => rest_admin(engine, client),
        other => Err(format!("no engine-side checks for scenario {other}")),
    }
}

/// Two runs (`aio_run` and `run`), each with `second` fed by `first`'s output.
fn dag(engine: &TestEngine) -> Check {
    let runs = runs_of(engine, "interop-dag");
    ensure(runs.len() == 2, || {
        format!("{} interop-dag runs, expected 2", runs.len())
    })?;
    for run in &runs {
        ensure(run.status == TaskStatus::Completed, || {
            format!("run {} is {:?}", run.id, run.status)
        })?;
        let value = run.input["value"]
            .as_i64()
            .ok_or("a dag run without input.value")?;
        let second = run
            .task("second")
            .ok_or("a dag run without task `second`")?;
        let expected = json!({"from_first": value * 2, "sum": value * 2 + 1});
        ensure(second.output_json() == Some(expected.clone()), || {
            format!("second's output {:?}, expected {expected}", second.output)
        })?;
    }
    Ok(())
}

/// The first attempt failed with the Python error text, the second (retry_count 1)
/// completed, both on the Python worker.
fn retry(engine: &TestEngine, worker_id: &str, client: &ClientRun) -> Check {
    let run = run_by_note(engine, client)?;
    let task = only_task(&run)?;
    let [first, second] = task.attempts.as_slice() else {
        return Err(format!(
            "{} attempts, expected 2: {:?}",
            task.attempts.len(),
            task.attempts
        ));
    };
    ensure(
        first.status == TaskStatus::Failed && first.retry_count == 0,
        || format!("first attempt: {first:?}"),
    )?;
    let error = first.error.as_deref().unwrap_or_default();
    ensure(
        error.starts_with("RuntimeError: interop: planned failure on first attempt"),
        || format!("first attempt's error is not the Python exception: {error:?}"),
    )?;
    ensure(
        second.status == TaskStatus::Completed && second.retry_count == 1,
        || format!("second attempt: {second:?}"),
    )?;
    ensure(
        task.attempts.iter().all(|a| a.worker_id == worker_id),
        || {
            format!(
                "attempts ran elsewhere than {worker_id}: {:?}",
                task.attempts
            )
        },
    )
}

/// Both runs failed once (no retries) with the error text the worker sent, verbatim.
fn fail(engine: &TestEngine) -> Check {
    let runs = runs_of(engine, "interop-fail");
    ensure(runs.len() == 2, || {
        format!("{} interop-fail runs, expected 2", runs.len())
    })?;
    for run in &runs {
        let task = only_task(run)?;
        ensure(
            run.status == TaskStatus::Failed && task.attempts.len() == 1,
            || {
                format!(
                    "run {}: {:?} after {} attempts",
                    run.id,
                    run.status,
                    task.attempts.len()
                )
            },
        )?;
        let error = task.error.as_deref().unwrap_or_default();
        ensure(
            error.starts_with("ValueError: interop: permanent failure")
                && error.contains("Traceback")
                && error.contains("__hatchet_error_metadata__"),
            || format!("error not stored verbatim: {error:?}"),
        )?;
    }
    Ok(())
}

/// One pushed event started exactly one run, which carries the event's metadata.
fn event(engine: &TestEngine) -> Check {
    let events: Vec<_> = engine
        .events()
        .into_iter()
        .filter(|e| e.key == "interop:order-created")
        .collect();
    let [event] = events.as_slice() else {
        return Err(format!(
            "{} interop:order-created events, expected 1",
            events.len()
        ));
    };
    let [run_id] = event.triggered_runs.as_slice() else {
        return Err(format!(
            "the event started {:?}, expected one run",
            event.triggered_runs
        ));
    };
    let run = engine.run(run_id).ok_or("the triggered run is unknown")?;
    ensure(
        run.workflow_name == "interop-event" && run.origin == "event",
        || format!("triggered run: {} from {}", run.workflow_name, run.origin),
    )?;
    ensure(run.status == TaskStatus::Completed, || {
        format!("run is {:?}", run.status)
    })?;
    ensure(run.metadata.contains_key("interop_nonce"), || {
        format!("run metadata lacks the event's: {:?}", run.metadata)
    })
}

/// The child run is linked to the parent's task and finished before it.
fn child(engine: &TestEngine) -> Check {
    let parents = runs_of(engine, "interop-parent");
    let children = runs_of(engine, "interop-child");
    let ([parent], [child]) = (parents.as_slice(), children.as_slice()) else {
        return Err(format!(
            "{} parent and {} child runs, expected 1 each",
            parents.len(),
            children.len()
        ));
    };
    let parent_task = only_task(parent)?;
    ensure(
        child.origin == "child" && child.parent_task_id.as_deref() == Some(&parent_task.id),
        || {
            format!(
                "child run from {} with parent task {:?}, expected {}",
                child.origin, child.parent_task_id, parent_task.id
            )
        },
    )?;
    ensure(
        child.status == TaskStatus::Completed && parent.status == TaskStatus::Completed,
        || format!("child {:?}, parent {:?}", child.status, parent.status),
    )?;
    ensure(child.finished_at <= parent.finished_at, || {
        "the parent finished before its child".to_owned()
    })
}

/// The task was cancelled by the REST call, and the worker saw CANCEL_STEP_RUN for it.
async fn cancel(engine: &TestEngine, worker: &PyProcess, client: &ClientRun) -> Check {
    let run = run_by_note(engine, client)?;
    let task = only_task(&run)?;
    ensure(task.status == TaskStatus::Cancelled, || {
        format!("task is {:?}", task.status)
    })?;
    ensure(
        task.cancel_reason.as_deref() == Some("cancelled by a client"),
        || format!("cancel reason {:?}", task.cancel_reason),
    )?;
    let line = format!("INTEROP CANCEL OBSERVED task_run_id={}", task.id);
    ensure(
        worker.wait_for_stdout(&line, Duration::from_secs(10)).await,
        || format!("the worker never printed `{line}`"),
    )
}

/// The three chunks were stored in order with their indexes, and the task completed.
fn stream(engine: &TestEngine, client: &ClientRun) -> Check {
    let run = run_by_note(engine, client)?;
    let task = only_task(&run)?;
    let chunks: Vec<(Option<i64>, String)> = engine
        .stream_chunks(&task.id)
        .into_iter()
        .map(|c| (c.index, String::from_utf8_lossy(&c.data).into_owned()))
        .collect();
    let expected: Vec<(Option<i64>, String)> =
        (0..3).map(|i| (Some(i), format!("chunk-{i}"))).collect();
    ensure(chunks == expected, || {
        format!("chunks {chunks:?}, expected {expected:?}")
    })?;
    ensure(task.status == TaskStatus::Completed, || {
        format!("task is {:?}", task.status)
    })
}

/// SIGTERM: the worker pauses itself over REST, unsubscribes and exits 0.
pub(crate) async fn clean_shutdown(
    engine: &TestEngine,
    worker: &mut PyProcess,
    worker_id: &str,
) -> Check {
    worker.terminate();
    let status = worker.wait(crate::SHUTDOWN_TIMEOUT).await.ok_or_else(|| {
        format!(
            "worker.py did not exit within {:?} of SIGTERM (a task still running delays it)",
            crate::SHUTDOWN_TIMEOUT
        )
    })?;
    ensure(status.success(), || {
        format!("worker.py exited with {status}")
    })?;
    let info = engine
        .workers()
        .into_iter()
        .find(|w| w.id == worker_id)
        .ok_or("the engine forgot the worker")?;
    ensure(info.paused, || {
        "the worker did not pause itself (PATCH /api/v1/workers/{id})".to_owned()
    })?;
    ensure(info.unsubscribed && !info.listening, || {
        format!(
            "after exit: unsubscribed={}, listening={}",
            info.unsubscribed, info.listening
        )
    })
}

/// One durable run, completed with the event's payload; its task ran as durable.
fn durable(engine: &TestEngine) -> Check {
    let runs = runs_of(engine, "interop-durable");
    ensure(runs.len() == 1, || {
        format!("{} interop-durable runs, expected 1", runs.len())
    })?;
    let run = &runs[0];
    ensure(run.status == TaskStatus::Completed, || {
        format!("run {} is {:?}", run.id, run.status)
    })?;
    let task = run.tasks.first().ok_or("a durable run without its task")?;
    let expected = json!({"slept_s": 1.0, "event": {"go": true}});
    ensure(task.output_json() == Some(expected.clone()), || {
        format!(
            "the durable task's output {:?}, expected {expected}",
            task.output
        )
    })
}

/// Four batch runs in two keys: each ran once, in a batch of two with the other run of its
/// key, and completed with its own output.
fn batch(engine: &TestEngine) -> Check {
    let runs = runs_of(engine, "interop-batch");
    ensure(runs.len() == 4, || {
        format!("{} interop-batch runs, expected 4", runs.len())
    })?;
    let mut batches: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for run in &runs {
        ensure(run.status == TaskStatus::Completed, || {
            format!("run {} is {:?}", run.id, run.status)
        })?;
        let task = run.tasks.first().ok_or("a batch run without its task")?;
        ensure(task.attempts.len() == 1, || {
            format!("run {} took {} attempts", run.id, task.attempts.len())
        })?;
        let batch_id = task.attempts[0]
            .batch_id
            .clone()
            .ok_or_else(|| format!("run {} did not run in a batch", run.id))?;
        let word = run.input["word"].as_str().unwrap_or_default();
        let expected = json!({"upper": word.to_uppercase(), "batch_size": 2});
        ensure(task.output_json() == Some(expected.clone()), || {
            format!(
                "run {}: output {:?}, expected {expected}",
                run.id, task.output
            )
        })?;
        let group = run.input["group"].as_str().unwrap_or_default().to_owned();
        batches.entry(batch_id).or_default().push(group);
    }
    ensure(
        batches.len() == 2 && batches.values().all(|g| g.len() == 2 && g[0] == g[1]),
        || format!("batches by group: {batches:?}, expected two batches of one group each"),
    )
}

/// The REST scenario's cron and scheduled run were deleted before they fired: no run came
/// from a cron or a schedule (the `fail` scenario's two runs came from the client).
fn rest(engine: &TestEngine) -> Check {
    let fired: Vec<String> = engine
        .runs()
        .into_iter()
        .filter(|r| r.workflow_name == "interop-fail")
        .filter(|r| matches!(r.origin, "cron" | "schedule") || r.metadata.get("from").is_some())
        .map(|r| format!("{} ({})", r.id, r.origin))
        .collect();
    ensure(fired.is_empty(), || {
        format!("runs from the REST scenario's cron or schedule: {fired:?}")
    })
}

/// The run replayed by a filter ran twice; the waiting run cancelled by a filter ended
/// cancelled.
fn rest_runs(engine: &TestEngine, client: &ClientRun) -> Check {
    let run = run_by_note(engine, client)?;
    let task = only_task(&run)?;
    let completed = task
        .attempts
        .iter()
        .filter(|a| a.status == TaskStatus::Completed)
        .count();
    ensure(completed == 2, || {
        format!(
            "the replayed task completed {completed} times: {:?}",
            task.attempts
        )
    })?;
    let waits = runs_of(engine, "interop-rest-wait");
    ensure(
        waits.len() == 1 && waits[0].status == TaskStatus::Cancelled,
        || format!("interop-rest-wait runs: {waits:?}"),
    )
}

/// The run created over REST carries its metadata and completed on the worker; the
/// webhook the scenario created is gone again.
fn rest_admin(engine: &TestEngine, client: &ClientRun) -> Check {
    let run = run_by_note(engine, client)?;
    ensure(run.status == TaskStatus::Completed, || {
        format!("the run created over REST is {:?}", run.status)
    })?;
    ensure(run.metadata.get("via") == Some(&json!("rest")), || {
        format!("the run's metadata: {:?}", run.metadata)
    })?;
    ensure(run.input == json!({"n": 11}), || {
        format!("the run's input: {}", run.input)
    })
}
