//! The worker as an operator sees it: slots, logs, context data, graceful shutdown and
//! surviving lost connections without losing results.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hatchet_rs::{Context, LabelValue, LogLevel, RunOptions, Task, TaskError, Workflow};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::harness::{Harness, WAIT, within};

fn standalone(task: Task<Value>) -> Workflow<Value, Value> {
    Workflow::standalone(task).build().expect("valid")
}

#[tokio::test]
async fn context_exposes_ids_metadata_and_input() {
    let inspect = Task::new("inspect", |input: Value, ctx: Context| async move {
        Ok::<_, TaskError>(json!({
            "input": ctx.input_json(),
            "typed_n": ctx.input::<Value>()?["n"],
            "run": ctx.workflow_run_id(),
            "task_run": ctx.task_run_id(),
            "task": ctx.task_name(),
            "retry_count": ctx.retry_count(),
            "tenant_metadata": ctx.metadata("team"),
            "all_metadata_has_team": ctx.all_metadata().contains_key("team"),
            "worker": ctx.worker_id(),
            "echo": input["n"],
        }))
    });
    let workflow = standalone(inspect);
    let h = Harness::start().await;
    let worker = h.worker("ctx-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(
        &h.client,
        &json!({"n": 3}),
        RunOptions::new().metadata("team", "core"),
    ))
    .await
    .expect("trigger");
    let out = within(run.result()).await.expect("result");
    assert_eq!(out["input"], json!({"n": 3}));
    assert_eq!(out["typed_n"], 3);
    assert_eq!(out["run"], json!(run.id()));
    assert_eq!(out["task"], "inspect");
    assert_eq!(out["retry_count"], 0);
    assert_eq!(out["tenant_metadata"], "core");
    assert_eq!(out["all_metadata_has_team"], true);
    assert_eq!(out["worker"], json!(worker.worker_id()));
    assert!(out["task_run"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn task_logs_reach_the_engine_in_order() {
    let chatty = Task::new("chatty", |_: Value, ctx: Context| async move {
        ctx.log("starting").await?;
        ctx.log_at(LogLevel::Warn, "almost out of coffee").await?;
        ctx.log("x".repeat(20_000)).await?;
        Ok::<_, TaskError>(json!({}))
    });
    let workflow = standalone(chatty);
    let h = Harness::start().await;
    h.worker("log-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(run.result()).await.expect("result");
    if let Some(engine) = h.local() {
        let task_id = engine.run(run.id()).expect("run").tasks[0].id.clone();
        let logs = engine.logs(&task_id);
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[0].message, "starting");
        assert_eq!(logs[0].level.as_deref(), Some("INFO"));
        assert_eq!(logs[1].level.as_deref(), Some("WARN"));
        assert_eq!(
            logs[2].message.len(),
            10_000,
            "long lines are cut at 10 000 characters"
        );
        assert_eq!(logs[0].retry_count, Some(0));
    }
}

#[tokio::test]
async fn slots_bound_how_many_tasks_run_at_once() {
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let busy = Task::new("busy", move |_: Value, _: Context| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, TaskError>(json!({}))
        }
    });
    let workflow = standalone(busy);
    let h = Harness::start().await;
    h.worker("slot-worker", |w| w.workflow(&workflow).slots(2))
        .await;
    let runs = within(workflow.run_many(&h.client, (0..6).map(|_| (json!({}), RunOptions::new()))))
        .await
        .expect("trigger");
    for run in runs {
        within(run.result()).await.expect("result");
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "two slots, never more than two at once"
    );
}

#[tokio::test]
async fn shutdown_drains_running_tasks_before_unsubscribing() {
    let started = Arc::new(Notify::new());
    let signal = started.clone();
    let slow = Task::new("slow", move |_: Value, _: Context| {
        let signal = signal.clone();
        async move {
            signal.notify_one();
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, TaskError>(json!({"drained": true}))
        }
    });
    let workflow = standalone(slow);
    let h = Harness::start().await;
    let worker = h.worker("drain-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(started.notified()).await;
    within(worker.shutdown()).await.expect("graceful shutdown");
    assert_eq!(worker.running_tasks(), 0);
    assert_eq!(
        within(run.result())
            .await
            .expect("the in-flight task finished"),
        json!({"drained": true})
    );
    if let Some(engine) = h.local() {
        let info = engine
            .workers()
            .into_iter()
            .find(|w| w.id == worker.worker_id())
            .expect("worker");
        assert!(info.unsubscribed);
    }
}

#[tokio::test]
async fn results_survive_the_engine_dropping_every_stream() {
    let Some(h) = Harness::in_process("fault injection needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let release = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let (gate, signal) = (release.clone(), started.clone());
    let gated = Task::new("gated", move |input: Value, _: Context| {
        let (gate, signal) = (gate.clone(), signal.clone());
        async move {
            signal.notify_one();
            gate.notified().await;
            Ok::<_, TaskError>(json!({"n": input["n"]}))
        }
    });
    let workflow = standalone(gated);
    h.worker("resilient-worker", |w| w.workflow(&workflow))
        .await;
    let run = within(workflow.run_no_wait(&h.client, &json!({"n": 1}), RunOptions::new()))
        .await
        .expect("trigger");
    within(started.notified()).await;

    engine.drop_all_streams();
    release.notify_one();
    assert_eq!(
        within(run.result())
            .await
            .expect("result delivered after reconnect"),
        json!({"n": 1})
    );

    // The worker is back on a fresh stream and keeps taking work.
    let second = within(workflow.run_no_wait(&h.client, &json!({"n": 2}), RunOptions::new()))
        .await
        .expect("trigger");
    within(started.notified()).await;
    release.notify_one();
    assert_eq!(
        within(second.result()).await.expect("second result"),
        json!({"n": 2})
    );
    let run = engine
        .wait_for_run(run.id(), WAIT)
        .await
        .expect("first run");
    assert_eq!(
        run.tasks[0].attempts.len(),
        1,
        "the attempt was reported once, not rerun"
    );
}

#[tokio::test]
async fn a_task_can_refresh_its_timeout_release_its_slot_and_label_its_worker() {
    let busy = Task::new("housekeeping", |_: Value, ctx: Context| async move {
        let deadline = ctx.refresh_timeout("30s").await?;
        ctx.release_slot().await?;
        ctx.upsert_worker_labels([("zone".to_owned(), LabelValue::from("b"))])
            .await?;
        Ok::<_, TaskError>(json!({"has_deadline": deadline.is_some()}))
    })
    .timeout("10s");
    let workflow = standalone(busy);
    let h = Harness::start().await;
    let worker = h
        .worker("house-worker", |w| w.workflow(&workflow).label("zone", "a"))
        .await;
    let out = within(workflow.run(&h.client, &json!({})))
        .await
        .expect("result");
    assert_eq!(out, json!({"has_deadline": true}));
    if let Some(engine) = h.local() {
        let info = engine
            .workers()
            .into_iter()
            .find(|w| w.id == worker.worker_id())
            .expect("worker");
        assert_eq!(
            info.labels.get("zone"),
            Some(&hatchet_rs::testing::LabelValue::Str("b".into()))
        );
    }
}

#[hatchet_rs::task]
async fn fire_and_forget(_input: Value, _ctx: Context) -> Result<(), TaskError> {
    Ok(())
}

#[tokio::test]
async fn a_task_returning_unit_runs_to_a_unit_result() {
    let h = Harness::start().await;
    h.worker("unit-worker", |w| w.register::<fire_and_forget>())
        .await;
    within(h.client.run::<fire_and_forget>(&json!({})))
        .await
        .expect("() decodes from {}");
}

/// In-process only: the engine there hands a released slot to the next task at once. A real
/// engine (v0.104.7) frees the slot in its database but was not seen to assign the slot to a
/// new task while the releasing task still ran, so live runs only check that the call works
/// (see `a_task_can_refresh_its_timeout_release_its_slot_and_label_its_worker`).
#[tokio::test]
async fn release_slot_lets_the_next_task_start_on_a_one_slot_worker() {
    let Some(h) = Harness::in_process("slot hand-over timing differs on a real engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let second_started = Arc::new(Notify::new());
    let (signal, wait) = (second_started.clone(), second_started.clone());
    let first = Arc::new(AtomicU32::new(0));
    let waiter = Task::new("waiter", move |_: Value, ctx: Context| {
        let (signal, wait, first) = (signal.clone(), wait.clone(), first.clone());
        async move {
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first run gives its slot back, then waits for the second run to start.
                ctx.release_slot().await?;
                wait.notified().await;
            } else {
                signal.notify_one();
            }
            Ok::<_, TaskError>(json!({}))
        }
    });
    let workflow = standalone(waiter);
    h.worker("one-slot-worker", |w| w.workflow(&workflow).slots(1))
        .await;
    let a = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("first");
    engine
        .wait_for("the first task to release its slot", WAIT, |e| {
            e.workers()
                .into_iter()
                .find(|w| w.used_slots.get("default") == Some(&0) && e.runs().len() == 1)
        })
        .await
        .expect("slot released");
    let b = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("second");
    within(b.result())
        .await
        .expect("the second run ran while the first held no slot");
    within(a.result())
        .await
        .expect("the first run finished after the second started");
}

#[tokio::test]
async fn worker_build_rejects_tasks_it_could_never_run() {
    let h = Harness::start().await;
    let gpu = standalone(
        Task::new("render", |_: Value, _: Context| async {
            Ok::<_, TaskError>(json!({}))
        })
        .slots("gpu", 1),
    );
    let err = hatchet_rs::Worker::builder(&h.client, "cpu-only")
        .workflow(&gpu)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("needs `gpu` slots, which worker `cpu-only` does not offer"),
        "{err}"
    );
    assert!(
        hatchet_rs::Worker::builder(&h.client, "gpu")
            .workflow(&gpu)
            .slot_type("gpu", 1)
            .build()
            .is_ok()
    );

    let lower: Workflow<Value, Value> = Workflow::builder("etl")
        .task(Task::new("load", |_: Value, _: Context| async {
            Ok::<_, TaskError>(json!({}))
        }))
        .build()
        .expect("valid");
    let upper: Workflow<Value, Value> = Workflow::builder("ETL")
        .task(Task::new("load", |_: Value, _: Context| async {
            Ok::<_, TaskError>(json!({}))
        }))
        .build()
        .expect("valid");
    let err = hatchet_rs::Worker::builder(&h.client, "w")
        .workflow(&lower)
        .workflow(&upper)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("differ only in case"), "{err}");

    // Within one workflow too: `Load` and `load` are one action to the engine.
    let noop = || |_: Value, _: Context| async { Ok::<_, TaskError>(json!({})) };
    let twins: Workflow<Value, Value> = Workflow::builder("twins")
        .task(Task::new("Load", noop()))
        .task(Task::new("load", noop()))
        .build()
        .expect("the definition itself is valid");
    let err = hatchet_rs::Worker::builder(&h.client, "w")
        .workflow(&twins)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("differ only in case"), "{err}");
}

#[tokio::test]
async fn a_worker_the_engine_forgot_registers_again_and_keeps_serving() {
    let Some(h) = Harness::in_process("fault injection needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let echo = standalone(Task::new("echo", |input: Value, _: Context| async move {
        Ok::<_, TaskError>(json!({"echo": input["n"]}))
    }));
    let worker = h.worker("amnesia-worker", |w| w.workflow(&echo)).await;
    let first_id = worker.worker_id();
    assert_eq!(
        within(echo.run(&h.client, &json!({"n": 1})))
            .await
            .expect("before"),
        json!({"echo": 1})
    );

    engine.forget_worker(&first_id);
    within(async {
        while worker.worker_id() == first_id {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        within(echo.run(&h.client, &json!({"n": 2})))
            .await
            .expect("after"),
        json!({"echo": 2})
    );
    let registered: Vec<_> = engine
        .workers()
        .into_iter()
        .filter(|w| w.name == "amnesia-worker")
        .collect();
    assert_eq!(registered.len(), 2, "the worker registered a second time");
}

#[tokio::test]
async fn a_duplicated_delivery_runs_and_reports_the_attempt_once() {
    let Some(h) = Harness::in_process("fault injection needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let once = standalone(Task::new("once", move |input: Value, _: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, TaskError>(json!({"n": input["n"]}))
        }
    }));
    h.worker("dedupe-worker", |w| w.workflow(&once)).await;
    engine.duplicate_deliveries(true);
    for n in 0..3 {
        let run = within(once.run_no_wait(&h.client, &json!({"n": n}), RunOptions::new()))
            .await
            .expect("trigger");
        assert_eq!(within(run.result()).await.expect("result"), json!({"n": n}));
        let info = engine.wait_for_run(run.id(), WAIT).await.expect("run");
        assert_eq!(info.tasks[0].attempts.len(), 1);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "each attempt ran once although delivered twice"
    );
}

#[tokio::test]
async fn a_worker_started_while_the_engine_is_unreachable_waits_for_it() {
    let Some(h) = Harness::in_process("refusing connections needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let workflow = standalone(Task::new("patient", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({"ok": true}))
    }));
    engine.refuse_connections_for(Duration::from_secs(2));
    let started = std::time::Instant::now();
    h.worker("early-riser", |w| w.workflow(&workflow)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "start waited for the engine ({:?})",
        started.elapsed()
    );
    let output = within(workflow.run(&h.client, &json!({})))
        .await
        .expect("the worker serves once the engine is back");
    assert_eq!(output, json!({"ok": true}));
}

#[tokio::test]
async fn a_worker_gives_up_starting_after_its_startup_timeout() {
    let Some(h) = Harness::in_process("refusing connections needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let workflow = standalone(Task::new("impatient", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({}))
    }));
    engine.refuse_connections_for(Duration::from_secs(10));
    let worker = hatchet_rs::Worker::builder(&h.client, "impatient")
        .workflow(&workflow)
        .startup_timeout(Duration::from_millis(800))
        .build()
        .expect("worker");
    match within(worker.start()).await {
        Err(hatchet_rs::Error::Connection { .. }) => {}
        Err(other) => panic!("expected a connection error, got {other:?}"),
        Ok(_) => panic!("the worker started while the engine refused connections"),
    }
}

/// Not a `#[tokio::test]`: the worker runs on a one-thread runtime that its task blocks, and
/// the engine on a runtime of its own, as it would run elsewhere.
#[test]
fn a_task_blocking_its_runtime_does_not_stop_the_workers_heartbeats() {
    if crate::harness::live() {
        eprintln!("in-process only: the engine's heartbeat records are read directly");
        return;
    }
    const BLOCK: Duration = Duration::from_secs(10);
    let (config_tx, config_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let engine_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("engine runtime");
        runtime.block_on(async move {
            let engine = hatchet_rs::testing::TestEngine::start()
                .await
                .expect("engine");
            config_tx.send(engine.client_config()).expect("config");
            // The oldest heartbeat seen on a listening worker, sampled until the test ends.
            let mut oldest = Duration::ZERO;
            while done_rx.try_recv().is_err() {
                for worker in engine.workers().iter().filter(|w| w.listening) {
                    let age = std::time::SystemTime::now()
                        .duration_since(worker.last_heartbeat)
                        .unwrap_or_default();
                    oldest = oldest.max(age);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            oldest
        })
    });
    let config = config_rx.recv().expect("engine started");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("worker runtime");
    runtime.block_on(async move {
        let client = hatchet_rs::Client::new(config).expect("client");
        let workflow = standalone(Task::new(
            "blocks-its-thread",
            |_: Value, _: Context| async {
                std::thread::sleep(BLOCK);
                Ok::<_, TaskError>(json!({"done": true}))
            },
        ));
        let worker = hatchet_rs::Worker::builder(&client, "busy")
            .workflow(&workflow)
            .build()
            .expect("worker")
            .start()
            .await
            .expect("worker starts");
        let output = tokio::time::timeout(WAIT, workflow.run(&client, &json!({})))
            .await
            .expect("in time")
            .expect("the run completes");
        assert_eq!(output, json!({"done": true}));
        worker.shutdown().await.expect("shutdown");
    });
    done_tx.send(()).expect("engine thread alive");
    let oldest = engine_thread.join().expect("engine thread");
    assert!(
        oldest < Duration::from_millis(6500),
        "a heartbeat went {oldest:?} stale while the task blocked its runtime for {BLOCK:?}"
    );
}

#[tokio::test]
async fn labels_a_task_sets_survive_the_worker_registering_again() {
    let Some(h) = Harness::in_process("fault injection needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let label = standalone(Task::new("label-me", |_: Value, ctx: Context| async move {
        ctx.upsert_worker_labels([("gpu".to_owned(), LabelValue::Int(1))])
            .await?;
        Ok::<_, TaskError>(json!({}))
    }));
    let worker = h
        .worker("labelled-worker", |w| w.label("env", "a").workflow(&label))
        .await;
    let first_id = worker.worker_id();
    within(label.run(&h.client, &json!({})))
        .await
        .expect("labels set");
    engine.forget_worker(&first_id);
    within(async {
        while worker.worker_id() == first_id {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let current = engine
        .workers()
        .into_iter()
        .find(|w| w.id == worker.worker_id())
        .expect("the new registration");
    assert_eq!(
        current.labels.get("gpu"),
        Some(&hatchet_rs::testing::LabelValue::Int(1)),
        "{:?}",
        current.labels
    );
    assert_eq!(
        current.labels.get("env"),
        Some(&hatchet_rs::testing::LabelValue::Str("a".into()))
    );
    // A task after the re-registration labels the worker under its new id.
    within(label.run(&h.client, &json!({})))
        .await
        .expect("labels set again");
}

#[tokio::test]
async fn a_task_past_its_timeout_is_stopped_even_if_the_engines_cancel_is_lost() {
    let Some(h) = Harness::with_manual_clock().await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let started = Arc::new(Notify::new());
    let cancelled = Arc::new(AtomicU32::new(0));
    let (start_signal, seen) = (started.clone(), cancelled.clone());
    let workflow = standalone(
        Task::new("overrun", move |_: Value, ctx: Context| {
            let (start_signal, seen) = (start_signal.clone(), seen.clone());
            async move {
                start_signal.notify_one();
                tokio::select! {
                    () = ctx.cancelled() => { seen.fetch_add(1, Ordering::SeqCst); }
                    () = tokio::time::sleep(Duration::from_secs(120)) => {}
                }
                Ok::<_, TaskError>(json!({}))
            }
        })
        .timeout("1s"),
    );
    let worker = h.worker("overrun-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(started.notified()).await;
    // The engine times the task out while the worker's stream is down: its
    // CANCEL_STEP_RUN has nowhere to go.
    engine.drop_all_streams();
    engine.clock().advance(Duration::from_secs(2));
    let err = within(run.result())
        .await
        .expect_err("the attempt timed out");
    assert!(err.to_string().contains("timeout"), "{err}");
    within(async {
        while worker.running_tasks() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        1,
        "the task saw its cancellation"
    );
}

#[tokio::test]
async fn a_worker_refused_for_good_tells_every_waiter_why() {
    let Some(h) = Harness::in_process("revoking tokens needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let workflow = standalone(Task::new("soon-refused", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({}))
    }));
    let worker = h.worker("refused-worker", |w| w.workflow(&workflow)).await;
    engine.revoke_tokens();
    engine.drop_all_streams();
    let (first, second) = within(async { tokio::join!(worker.wait(), worker.wait()) }).await;
    for stopped in [first, second] {
        assert!(
            matches!(stopped, Err(hatchet_rs::Error::Unauthenticated(_))),
            "{stopped:?}"
        );
    }
}

#[tokio::test]
async fn a_task_still_running_at_the_shutdown_deadline_goes_back_to_the_engine_without_spending_a_retry()
 {
    let Some(h) = Harness::with_manual_clock().await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let started = Arc::new(Notify::new());
    let attempts = Arc::new(AtomicU32::new(0));
    let (signal, count) = (started.clone(), attempts.clone());
    // No retries: a failure report at shutdown would fail the run for good.
    let workflow = standalone(Task::new("stubborn", move |_: Value, _: Context| {
        let (signal, count) = (signal.clone(), count.clone());
        async move {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                signal.notify_one();
                // Ignores its cancellation token: only the deadline stops it.
                tokio::time::sleep(Duration::from_secs(120)).await;
            }
            Ok::<_, TaskError>(json!({"done": true}))
        }
    }));
    let first = hatchet_rs::Worker::builder(&h.client, "deploy-old")
        .workflow(&workflow)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .expect("worker")
        .start()
        .await
        .expect("worker starts");
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(started.notified()).await;
    within(first.shutdown()).await.expect("shutdown");
    assert_eq!(first.stats().handed_back, 1);
    let task = engine
        .run(run.id())
        .and_then(|r| r.tasks.first().cloned())
        .expect("the task");
    assert_eq!(
        task.status,
        hatchet_rs::testing::TaskStatus::Running,
        "nothing was reported for the attempt the worker gave back: {task:?}"
    );
    // The new version of the worker starts; the engine reassigns the task once the old one
    // has been silent for 30 s.
    h.worker("deploy-new", |w| w.workflow(&workflow)).await;
    engine.clock().advance(Duration::from_secs(31));
    let output = within(run.result()).await.expect("the run completes");
    assert_eq!(output, json!({"done": true}));
    let attempts = engine.task(&task.id).expect("task").attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[0].status,
        hatchet_rs::testing::TaskStatus::Cancelled,
        "the first attempt was reassigned, not failed: {attempts:?}"
    );
    assert_eq!(attempts[1].retry_count, 1);
}

#[tokio::test]
async fn a_draining_worker_is_paused_keeps_its_stream_and_finishes_what_it_runs() {
    let Some(h) =
        Harness::in_process("the worker's pause and stream are read from the engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (signal, go) = (started.clone(), release.clone());
    let workflow = standalone(Task::new("draining", move |input: Value, _: Context| {
        let (signal, go) = (signal.clone(), go.clone());
        async move {
            if input["wait"] == json!(true) {
                signal.notify_one();
                go.notified().await;
            }
            Ok::<_, TaskError>(json!({"done": true}))
        }
    }));
    let worker = hatchet_rs::Worker::builder(&h.client, "draining-worker")
        .workflow(&workflow)
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .expect("worker")
        .start()
        .await
        .expect("worker starts");
    let running =
        within(workflow.run_no_wait(&h.client, &json!({"wait": true}), RunOptions::new()))
            .await
            .expect("trigger");
    within(started.notified()).await;
    let shutdown = tokio::spawn({
        let worker = worker.clone();
        async move { worker.shutdown().await }
    });
    let id = worker.worker_id();
    let state = engine
        .wait_for("the worker to be paused", WAIT, |e| {
            e.workers().into_iter().find(|w| w.id == id && w.paused)
        })
        .await
        .expect("paused while draining");
    assert!(
        state.listening,
        "the stream (and with it the heartbeats) stays open while draining"
    );
    // A paused worker gets no new task.
    let waiting = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = engine.run(waiting.id()).expect("run");
    assert!(
        queued.tasks.iter().all(|t| t.attempts.is_empty()),
        "nothing assigned to the draining worker: {queued:?}"
    );
    assert!(
        !shutdown.is_finished(),
        "the drain waits for the running task"
    );
    release.notify_one();
    within(shutdown).await.expect("joined").expect("shutdown");
    assert_eq!(
        within(running.result()).await.expect("completed"),
        json!({"done": true})
    );
    assert_eq!(worker.stats().handed_back, 0);
    h.worker("next-worker", |w| w.workflow(&workflow)).await;
    within(waiting.result())
        .await
        .expect("the queued run goes to the next worker");
}

#[tokio::test]
async fn a_worker_registers_its_workflow_through_the_engines_conflict_answers() {
    let Some(h) = Harness::in_process("failing registrations needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    // The real engine answers INTERNAL to all but one of the workers of a deploy that
    // register a new workflow at the same moment.
    engine.fail_workflow_registrations(2);
    let workflow = standalone(Task::new("raced", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({"ok": true}))
    }));
    h.worker("raced-worker", |w| w.workflow(&workflow)).await;
    let output = within(workflow.run(&h.client, &json!({})))
        .await
        .expect("runs");
    assert_eq!(output, json!({"ok": true}));
}

#[tokio::test]
async fn a_second_signal_lets_a_running_shutdown_hook_finish() {
    let h = Harness::start().await;
    let workflow = standalone(Task::new("hooked", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({}))
    }));
    let hook_started = Arc::new(Notify::new());
    let hook_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started, done) = (hook_started.clone(), hook_done.clone());
    let worker = hatchet_rs::Worker::builder(&h.client, "hooked-worker")
        .workflow(&workflow)
        .on_shutdown(move || async move {
            started.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            done.store(true, Ordering::SeqCst);
            Ok(())
        })
        .build()
        .expect("worker")
        .start()
        .await
        .expect("worker starts");
    // What `run` does on a second signal: the graceful shutdown is dropped half-way and
    // `shutdown_now` takes over.
    tokio::select! {
        _ = worker.shutdown() => panic!("the hook sleeps: shutdown cannot end first"),
        () = within(hook_started.notified()) => {}
    }
    within(worker.shutdown_now()).await.expect("stopped");
    assert!(
        hook_done.load(Ordering::SeqCst),
        "the hook that was running ran to its end"
    );
}

#[tokio::test]
async fn a_result_is_not_held_behind_an_outage_of_the_log_path() {
    let Some(h) = Harness::in_process("refusing log lines needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let workflow = standalone(Task::new(
        "logs-down",
        |_: Value, ctx: Context| async move {
            ctx.log("written while the log path is down").await?;
            Ok::<_, TaskError>(json!({"done": true}))
        },
    ));
    h.worker("logs-down-worker", |w| w.workflow(&workflow))
        .await;
    engine.refuse_logs_for(Duration::from_secs(6));
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    // The worker used to wait 5 s for the line before sending the result.
    let output = tokio::time::timeout(Duration::from_secs(4), run.result())
        .await
        .expect("the result does not wait for the log line")
        .expect("completed");
    assert_eq!(output, json!({"done": true}));
    let task = engine
        .run(run.id())
        .and_then(|r| r.tasks.first().cloned())
        .expect("task");
    engine
        .wait_for("the line once the log path is back", WAIT, |e| {
            e.logs(&task.id)
                .iter()
                .any(|l| l.message == "written while the log path is down")
                .then_some(())
        })
        .await
        .expect("the line is delivered late, not lost");
}

#[tokio::test]
async fn a_stream_chunk_the_engine_took_but_answered_late_is_not_sent_twice() {
    let Some(h) = Harness::in_process("late answers need the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let client = hatchet_rs::Client::new(
        hatchet_rs::ClientConfig::builder()
            .token(engine.token().to_owned())
            .host_port(engine.host_port())
            .tls_strategy(hatchet_rs::TlsStrategy::None)
            .request_timeout(Duration::from_millis(300))
            .build()
            .expect("config"),
    )
    .expect("client");
    let workflow = standalone(Task::new(
        "late-chunks",
        |_: Value, ctx: Context| async move {
            let first = ctx.put_stream("a").await;
            ctx.put_stream("b").await?;
            Ok::<_, TaskError>(
                json!({"first_timed_out": matches!(first, Err(hatchet_rs::Error::Timeout(_)))}),
            )
        },
    ));
    let worker = hatchet_rs::Worker::builder(&client, "late-chunks-worker")
        .workflow(&workflow)
        .build()
        .expect("worker")
        .start()
        .await
        .expect("worker starts");
    engine.answer_stream_events_late(1, Duration::from_secs(1));
    let run = within(workflow.run_no_wait(&client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    let output = within(run.result()).await.expect("completed");
    assert_eq!(output, json!({"first_timed_out": true}));
    let task = engine
        .run(run.id())
        .and_then(|r| r.tasks.first().cloned())
        .expect("task");
    let chunks: Vec<Vec<u8>> = engine
        .stream_chunks(&task.id)
        .into_iter()
        .map(|c| c.data)
        .collect();
    assert_eq!(chunks, vec![b"a".to_vec(), b"b".to_vec()]);
    within(worker.shutdown()).await.expect("shutdown");
}

#[tokio::test]
async fn log_lines_are_queued_through_a_blip_and_arrive_in_order_before_the_result() {
    let Some(h) = Harness::in_process("refusing connections needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let first_logged = Arc::new(Notify::new());
    let go_on = Arc::new(Notify::new());
    let (logged, go) = (first_logged.clone(), go_on.clone());
    let workflow = standalone(Task::new("chatty", move |_: Value, ctx: Context| {
        let (logged, go) = (logged.clone(), go.clone());
        async move {
            ctx.log("one").await?;
            logged.notify_one();
            go.notified().await;
            // The engine refuses connections now: the lines wait in the queue.
            ctx.log("two").await?;
            ctx.log_at(LogLevel::Warn, "three").await?;
            Ok::<_, TaskError>(json!({}))
        }
    }));
    h.worker("chatty-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(first_logged.notified()).await;
    engine.refuse_connections_for(Duration::from_millis(700));
    go_on.notify_one();
    within(run.result()).await.expect("the run completes");
    let lines: Vec<String> = engine
        .logs(run.id())
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(lines, ["one", "two", "three"]);
}

#[tokio::test]
async fn run_until_serves_until_its_future_resolves_then_drains() {
    // In-process: the test waits for the worker's registration through the engine's records
    // (run_until gives no handle to wait on).
    let Some(h) = Harness::in_process("waits on the engine's worker records").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let workflow = standalone(Task::new("until", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({"served": true}))
    }));
    let worker = hatchet_rs::Worker::builder(&h.client, "until-worker")
        .workflow(&workflow)
        .build()
        .expect("worker");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));
    engine
        .wait_for("the worker to listen", WAIT, |e| {
            e.workers()
                .iter()
                .any(|w| w.name == "until-worker" && w.listening)
                .then_some(())
        })
        .await
        .expect("registered");
    let output = within(workflow.run(&h.client, &json!({})))
        .await
        .expect("served while running");
    assert_eq!(output, json!({"served": true}));
    assert!(!serving.is_finished());
    stop.send(()).expect("still serving");
    within(serving)
        .await
        .expect("joined")
        .expect("a clean shutdown");
}

/// State a worker shares with its tasks, as a pool or a client would be.
#[derive(Debug, Default)]
struct Visits(AtomicU32);

#[tokio::test]
async fn tasks_read_the_state_their_worker_shares() {
    let h = Harness::start().await;
    let counter = standalone(Task::new(
        "count-visits",
        |_: Value, ctx: Context| async move {
            let visits = ctx.data::<Visits>()?;
            let n = visits.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, TaskError>(json!({"visit": n}))
        },
    ));
    h.worker("stateful", |w| w.data(Visits::default()).workflow(&counter))
        .await;
    for expected in 1..=2 {
        let output = within(counter.run(&h.client, &json!({})))
            .await
            .expect("state found");
        assert_eq!(output, json!({"visit": expected}));
    }
}

#[tokio::test]
async fn a_task_asking_for_state_nobody_registered_fails_naming_the_type() {
    let h = Harness::start().await;
    let lonely = standalone(
        Task::new("no-state", |_: Value, ctx: Context| async move {
            ctx.data::<Visits>()?;
            Ok::<_, TaskError>(json!({}))
        })
        .retries(3),
    );
    h.worker("stateless", |w| w.workflow(&lonely)).await;
    let err = within(lonely.run(&h.client, &json!({}))).await.unwrap_err();
    let hatchet_rs::Error::RunFailed(failure) = err else {
        panic!("{err:?}")
    };
    assert!(
        failure.errors[0].1.contains("Visits")
            && failure.errors[0].1.contains("WorkerBuilder::data"),
        "{failure}"
    );
    if let Some(engine) = h.local() {
        let run = engine.run(&failure.run_id).expect("run");
        assert_eq!(
            run.tasks[0].attempts.len(),
            1,
            "not retried: a retry would not find it either"
        );
    }
}

#[tokio::test]
async fn start_and_shutdown_hooks_run_around_the_worker() {
    let h = Harness::start().await;
    let events = Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let (on_start, on_task, on_stop) = (events.clone(), events.clone(), events.clone());
    let workflow = standalone(Task::new("hooked", move |_: Value, _: Context| {
        let on_task = on_task.clone();
        async move {
            on_task.lock().expect("events").push("task");
            Ok::<_, TaskError>(json!({}))
        }
    }));
    let worker = hatchet_rs::Worker::builder(&h.client, "hooked-worker")
        .workflow(&workflow)
        .on_start(move || async move {
            on_start.lock().expect("events").push("start");
            Ok(())
        })
        .on_shutdown(move || async move {
            on_stop.lock().expect("events").push("shutdown");
            Ok(())
        })
        .build()
        .expect("worker")
        .start()
        .await
        .expect("starts");
    within(workflow.run(&h.client, &json!({})))
        .await
        .expect("runs");
    worker.shutdown().await.expect("clean shutdown");
    let _ = worker.shutdown().await;
    assert_eq!(
        *events.lock().expect("events"),
        ["start", "task", "shutdown"],
        "each hook ran once, in order"
    );

    let failing = hatchet_rs::Worker::builder(&h.client, "unready")
        .workflow(&workflow)
        .on_start(|| async { Err("the database is unreachable".into()) })
        .build()
        .expect("worker");
    match within(failing.start()).await {
        Err(hatchet_rs::Error::WorkerHook { hook, message }) => {
            assert_eq!(hook, "on_start");
            assert!(message.contains("database is unreachable"), "{message}");
        }
        Err(other) => panic!("expected the hook's error, got {other:?}"),
        Ok(_) => panic!("the worker started although its on_start hook failed"),
    }
}

/// One HTTP/1.1 GET on the health endpoint: (status code, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", addr.port()))
        .await
        .expect("connect to the health endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_health_endpoint_reports_liveness_readiness_and_metrics() {
    let h = Harness::start().await;
    let workflow = standalone(Task::new("measured", |_: Value, _: Context| async {
        Ok::<_, TaskError>(json!({}))
    }));
    let worker = h
        .worker("measured-worker", |w| {
            w.slots(7).healthcheck(0).workflow(&workflow)
        })
        .await;
    let addr = worker.healthcheck_addr().expect("the endpoint listens");
    within(workflow.run(&h.client, &json!({})))
        .await
        .expect("runs");
    let stats = worker.stats();
    assert_eq!(
        (stats.slots, stats.completed, stats.failed),
        (7, 1, 0),
        "{stats:?}"
    );
    // Ready once the first heartbeat is answered, which a busy machine may not have done
    // by the time the run finished.
    within(async {
        while !worker.stats().is_ready() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(within(http_get(addr, "/health")).await.0, 200);
    assert_eq!(within(http_get(addr, "/ready")).await.0, 200);
    let (status, metrics) = within(http_get(addr, "/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        "hatchet_worker_slots 7",
        "hatchet_worker_completed_total 1",
        "hatchet_worker_ready 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    worker.shutdown().await.expect("shutdown");
    assert!(worker.is_stopped());
    assert!(!worker.stats().listening);
}
