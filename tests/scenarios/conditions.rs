//! Task conditions, as a user writes them: wait for an event with a timeout, delay a task,
//! skip on a parent's output, cancel on an event, alternatives with `any`. Sleeps and events
//! are waited on by a task with a parent (from the parent's completion), as the engine
//! supports them. In-process they run on the manual clock; live, on real time with short
//! durations.

use std::time::Duration;

use hatchet_rs::testing::TaskStatus;
use hatchet_rs::{Context, Error, RunOptions, TaskError, WorkflowDefinition, workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::harness::{Harness, within};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    lines: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Done {
    ok: bool,
}

/// In-process: a manual clock the scenario moves. Live: the real engine and real time.
async fn harness() -> Harness {
    match Harness::with_manual_clock().await {
        Some(h) => h,
        None => Harness::start().await,
    }
}

/// Lets `duration` pass on the engine's clock.
async fn pass(h: &Harness, duration: Duration) {
    match h.local() {
        Some(engine) => engine.clock().advance(duration),
        None => tokio::time::sleep(duration).await,
    }
}

/// In-process: waits until the run's `start` task completed, so the waiting task's sleeps
/// count from a known point before the scenario moves the clock. Live: nothing to do.
async fn started(h: &Harness, run_id: &str) {
    let Some(engine) = h.local() else { return };
    within(async {
        loop {
            let done = engine.run(run_id).is_some_and(|run| {
                run.tasks
                    .iter()
                    .any(|t| t.name == "start" && t.status == TaskStatus::Completed)
            });
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Pushes `key` every 200 ms until `done` resolves: an event only counts once the task
/// waits, which a live engine sets up asynchronously after the trigger returns.
async fn push_until<T>(h: &Harness, key: &str, done: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(done);
    loop {
        h.client
            .events()
            .push(key, &json!({"ok": true}))
            .await
            .expect("push");
        tokio::select! {
            out = &mut done => return out,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

struct Shipping;

#[workflow(name = "cond-shipping")]
impl Shipping {
    #[task]
    async fn start(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    #[task(after = "start", wait_for_event(key = "cond:paid", timeout = "3s"))]
    async fn ship(order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done {
            ok: order.lines > 0,
        })
    }
}

#[tokio::test]
async fn wait_for_event_runs_when_the_event_comes_and_cancels_when_it_does_not() {
    let h = harness().await;
    h.worker("cond-ship-worker", |w| w.register::<Shipping>())
        .await;

    let paid = within(
        h.client
            .run_no_wait::<Shipping>(&Order { lines: 2 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    let done = within(push_until(&h, "cond:paid", paid.result()))
        .await
        .expect("runs once paid");
    assert_eq!(done.ship, Done { ok: true });

    let unpaid = within(
        h.client
            .run_no_wait::<Shipping>(&Order { lines: 2 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    started(&h, unpaid.id()).await;
    pass(&h, Duration::from_secs(4)).await;
    match within(unpaid.result()).await.map(|o| o.ship) {
        Err(Error::RunCancelled { run_id }) => assert_eq!(run_id, unpaid.id()),
        other => panic!("expected the unpaid run to be cancelled, got {other:?}"),
    }
    if let Some(engine) = h.local() {
        let run = engine.run(unpaid.id()).expect("run");
        let ship = run.tasks.iter().find(|t| t.name == "ship").expect("ship");
        assert!(ship.attempts.is_empty(), "the task never ran");
    }
}

struct Delayed;

#[workflow(name = "cond-delayed")]
impl Delayed {
    #[task]
    async fn start(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    #[task(after = "start", delay = "2s")]
    async fn later(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }
}

#[tokio::test]
async fn delay_holds_a_task_for_its_duration_after_its_parents() {
    let h = harness().await;
    h.worker("cond-delay-worker", |w| w.register::<Delayed>())
        .await;
    let started_at = std::time::Instant::now();
    let run = within(
        h.client
            .run_no_wait::<Delayed>(&Order { lines: 1 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    started(&h, run.id()).await;
    if h.local().is_some() {
        // Nothing runs before the clock moves.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), run.result())
                .await
                .is_err()
        );
    }
    pass(&h, Duration::from_secs(2)).await;
    assert_eq!(
        within(run.result()).await.expect("runs").later,
        Done { ok: true }
    );
    if h.local().is_none() {
        assert!(started_at.elapsed() >= Duration::from_secs(2));
    }
}

struct Fulfil;

#[workflow(name = "cond-fulfil")]
impl Fulfil {
    #[task]
    async fn count(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    #[task(after = "count", skip_if(parent = "count", expr = "output.lines == 0"))]
    async fn pack(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }

    /// Runs after `pack` only: skipped with it.
    #[task(after = "pack")]
    async fn label(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }

    /// Runs after both: runs even when `pack` was skipped, and sees it.
    #[task(after = ["count", "pack"])]
    async fn report(_order: Order, ctx: Context) -> Result<Done, TaskError> {
        Ok(Done {
            ok: !ctx.was_skipped("pack"),
        })
    }
}

#[tokio::test]
async fn skip_if_on_a_parent_output_skips_the_task_and_the_children_that_only_follow_it() {
    let h = Harness::start().await;
    h.worker("cond-fulfil-worker", |w| w.register::<Fulfil>())
        .await;
    let empty = within(h.client.run::<Fulfil>(&Order { lines: 0 }))
        .await
        .expect("run");
    // `FulfilOutput` is generated; tasks a skip can reach are options.
    assert_eq!(empty.pack, None);
    assert_eq!(empty.label, None);
    assert_eq!(empty.report, Done { ok: false });
    let full = within(h.client.run::<Fulfil>(&Order { lines: 3 }))
        .await
        .expect("run");
    assert_eq!(full.pack, Some(Done { ok: true }));
    assert_eq!(full.label, Some(Done { ok: true }));
    assert_eq!(full.report, Done { ok: true });
    assert_eq!(Fulfil::definition().expect("valid").task_names().len(), 4);
}

struct Abortable;

#[workflow(name = "cond-abortable")]
impl Abortable {
    #[task]
    async fn start(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    #[task(
        after = "start",
        wait_for(sleep = "60s"),
        cancel_if(event = "cond:abort")
    )]
    async fn work(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }
}

#[tokio::test]
async fn cancel_if_an_event_cancels_a_waiting_task() {
    let h = harness().await;
    h.worker("cond-abort-worker", |w| w.register::<Abortable>())
        .await;
    let run = within(
        h.client
            .run_no_wait::<Abortable>(&Order { lines: 1 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    match within(push_until(&h, "cond:abort", run.result()))
        .await
        .map(|o| o.work)
    {
        Err(Error::RunCancelled { .. }) => {}
        other => panic!("expected a cancelled run, got {other:?}"),
    }
}

struct Either;

#[workflow(name = "cond-either")]
impl Either {
    #[task]
    async fn start(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    #[task(after = "start", wait_for(any(event = "cond:go", sleep = "2s")))]
    async fn go(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }
}

#[tokio::test]
async fn any_of_an_event_or_a_sleep_lets_the_first_one_release_the_task() {
    let h = harness().await;
    h.worker("cond-either-worker", |w| w.register::<Either>())
        .await;
    // No event: the sleep releases it.
    let run = within(
        h.client
            .run_no_wait::<Either>(&Order { lines: 1 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    started(&h, run.id()).await;
    pass(&h, Duration::from_secs(2)).await;
    assert_eq!(
        within(run.result()).await.expect("runs").go,
        Done { ok: true }
    );
    // The event, long before the sleep (in-process the clock does not move at all).
    let run = within(
        h.client
            .run_no_wait::<Either>(&Order { lines: 1 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    let done = within(push_until(&h, "cond:go", run.result()))
        .await
        .expect("runs");
    assert_eq!(done.go, Done { ok: true });
}

struct Approval;

#[workflow(name = "cond-approval")]
impl Approval {
    #[task]
    async fn start(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    /// Only an approval whose payload says `ok` releases it.
    #[task(
        after = "start",
        wait_for(event = "cond:approved", expr = "input.ok == true")
    )]
    async fn act(_order: Order, _ctx: Context) -> Result<Done, TaskError> {
        Ok(Done { ok: true })
    }
}

#[tokio::test]
async fn an_event_condition_with_an_expression_takes_only_matching_events() {
    let h = harness().await;
    h.worker("cond-approval-worker", |w| w.register::<Approval>())
        .await;
    let run = within(
        h.client
            .run_no_wait::<Approval>(&Order { lines: 1 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    started(&h, run.id()).await;
    // Events whose payload does not satisfy the expression leave it waiting.
    let result = run.result();
    tokio::pin!(result);
    for _ in 0..5 {
        h.client
            .events()
            .push("cond:approved", &json!({"ok": false}))
            .await
            .expect("push");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut result)
                .await
                .is_err(),
            "a non-matching event released the task"
        );
    }
    let done = within(push_until(&h, "cond:approved", result))
        .await
        .expect("runs once approved");
    assert_eq!(done.act, Done { ok: true });
}
