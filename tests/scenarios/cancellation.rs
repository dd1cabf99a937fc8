//! Cancellation: a run cancelled from the client stops its running task, whose cancellation
//! token fires; a task that ignores it is aborted after the grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hatchet_rs::{Context, Error, RunOptions, RunStatus, Task, TaskError, Workflow};
use serde_json::{Value, json};

use crate::harness::{Harness, WAIT, within};

async fn wait_until_done(h: &Harness, run_id: &str) -> hatchet_rs::RunDetails {
    within(async {
        loop {
            let details = h.client.runs().details(run_id).await.expect("details");
            if details.done {
                return details;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

async fn wait_until_set(flag: &AtomicBool) {
    within(async {
        while !flag.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn wait_until_running(h: &Harness, run_id: &str) {
    within(async {
        loop {
            let details = h.client.runs().details(run_id).await.expect("details");
            if details
                .tasks
                .values()
                .any(|t| t.status == RunStatus::Running)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn cancelling_a_run_fires_the_task_cancellation_token() {
    let observed = Arc::new(AtomicBool::new(false));
    let seen = observed.clone();
    let long = Task::new("long", move |_: Value, ctx: Context| {
        let seen = seen.clone();
        async move {
            tokio::select! {
                () = ctx.cancelled() => {
                    seen.store(true, Ordering::SeqCst);
                    Err(TaskError::new("stopped"))
                }
                () = tokio::time::sleep(Duration::from_secs(60)) => Ok(json!({"finished": true})),
            }
        }
    });
    let workflow: Workflow<Value, Value> = Workflow::standalone(long).build().expect("valid");
    let h = Harness::start().await;
    h.worker("cancel-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    wait_until_running(&h, run.id()).await;

    let cancelled = within(h.client.runs().cancel(run.untyped()))
        .await
        .expect("cancel");
    assert!(!cancelled.is_empty());
    wait_until_set(&observed).await;
    let details = wait_until_done(&h, run.id()).await;
    assert_eq!(details.status, RunStatus::Cancelled);
    let err = within(run.result()).await.unwrap_err();
    assert!(
        matches!(&err, Error::RunCancelled { run_id } if run_id == run.id()),
        "a cancelled run has no output: {err:?}"
    );
}

#[tokio::test]
async fn a_task_that_ignores_cancellation_is_aborted_after_the_grace_period() {
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let stubborn = Task::new("stubborn", move |_: Value, _: Context| {
        let done = done.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            done.store(true, Ordering::SeqCst);
            Ok::<_, TaskError>(json!({}))
        }
    });
    let workflow: Workflow<Value, Value> = Workflow::standalone(stubborn).build().expect("valid");
    let h = Harness::start().await;
    let worker = h
        .worker("cancel-worker", |w| {
            w.workflow(&workflow)
                .cancel_grace_period(Duration::from_millis(100))
        })
        .await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    wait_until_running(&h, run.id()).await;
    within(h.client.runs().cancel(run.untyped()))
        .await
        .expect("cancel");
    within(async {
        while worker.running_tasks() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the task was aborted before it finished"
    );
    if let Some(engine) = h.local() {
        let run = engine.wait_for_run(run.id(), WAIT).await.expect("run ends");
        assert!(run.status.is_final());
    }
}

#[tokio::test]
async fn a_task_can_cancel_its_own_run() {
    let quitter = Task::new("quitter", |_: Value, ctx: Context| async move {
        ctx.cancel_run().await?;
        ctx.cancelled().await;
        Ok::<_, TaskError>(json!({}))
    });
    let workflow: Workflow<Value, Value> = Workflow::standalone(quitter).build().expect("valid");
    let h = Harness::start().await;
    h.worker("cancel-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    let details = wait_until_done(&h, run.id()).await;
    assert_eq!(details.status, RunStatus::Cancelled);
}

static MACRO_CANCEL_SEEN: AtomicBool = AtomicBool::new(false);

/// Runs until cancelled.
#[hatchet_rs::task(timeout = "10m")]
async fn watch_forever(_input: Value, ctx: Context) -> Result<Value, TaskError> {
    ctx.cancelled().await;
    MACRO_CANCEL_SEEN.store(true, Ordering::SeqCst);
    Err(TaskError::new("cancelled"))
}

#[tokio::test]
async fn macro_declared_tasks_see_cancellation() {
    let h = Harness::start().await;
    h.worker("watch-worker", |w| w.register::<watch_forever>())
        .await;
    let run = within(
        h.client
            .run_no_wait::<watch_forever>(&json!({}), RunOptions::new()),
    )
    .await
    .expect("trigger");
    wait_until_running(&h, run.id()).await;
    within(h.client.runs().cancel(run.untyped()))
        .await
        .expect("cancel");
    wait_until_set(&MACRO_CANCEL_SEEN).await;
    let details = wait_until_done(&h, run.id()).await;
    assert_eq!(details.status, RunStatus::Cancelled);
}
