//! Scheduling rules a user relies on: concurrency limits and strategies, rate limits,
//! priority, worker labels, sticky children and idempotent triggers. Each scenario runs on
//! the in-process engine and, with `HATCHET_LIVE_TEST=1`, on a real engine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hatchet_rs::{
    ChildOptions, Concurrency, ConcurrencyStrategy, Context, DesiredLabel, Error, Priority,
    RateLimit, RateLimitDuration, RunOptions, RunStatus, StickyStrategy, Task, TaskError, Workflow,
    WorkflowDefinition, task,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use hatchet_rs::testing::TaskStatus;

use crate::harness::{Harness, within};

/// Counts tasks running at once, overall and per group, and the most seen.
#[derive(Default)]
struct Overlap {
    now: Mutex<HashMap<String, i32>>,
    max: Mutex<HashMap<String, i32>>,
    total_now: AtomicI32,
    total_max: AtomicI32,
}

impl Overlap {
    fn enter(&self, group: &str) {
        let mut now = self.now.lock().expect("overlap");
        let n = now.entry(group.to_owned()).or_default();
        *n += 1;
        let mut max = self.max.lock().expect("overlap");
        let m = max.entry(group.to_owned()).or_default();
        *m = (*m).max(*n);
        let total = self.total_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.total_max.fetch_max(total, Ordering::SeqCst);
    }

    fn leave(&self, group: &str) {
        *self
            .now
            .lock()
            .expect("overlap")
            .entry(group.to_owned())
            .or_default() -= 1;
        self.total_now.fetch_sub(1, Ordering::SeqCst);
    }

    fn max_of(&self, group: &str) -> i32 {
        self.max
            .lock()
            .expect("overlap")
            .get(group)
            .copied()
            .unwrap_or(0)
    }
}

/// A task that holds its slot for `hold`, recording overlap per `input.group`.
fn overlapping(name: &str, overlap: Arc<Overlap>, hold: Duration) -> Task<Value> {
    Task::new(name, move |input: Value, _: Context| {
        let overlap = overlap.clone();
        async move {
            let group = input["group"].as_str().unwrap_or("").to_owned();
            overlap.enter(&group);
            tokio::time::sleep(hold).await;
            overlap.leave(&group);
            Ok::<_, TaskError>(json!({"group": group}))
        }
    })
}

#[tokio::test]
async fn a_concurrency_limit_keeps_at_most_n_tasks_running() {
    let overlap = Arc::new(Overlap::default());
    let task = overlapping("limited", overlap.clone(), Duration::from_millis(300)).concurrency(
        Concurrency::new("'all'")
            .max_runs(2)
            .strategy(ConcurrencyStrategy::GroupRoundRobin),
    );
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    let h = Harness::start().await;
    h.worker("limit-worker", |w| w.slots(10).workflow(&workflow))
        .await;
    let runs = within(workflow.run_many(
        &h.client,
        (0..6).map(|_| (json!({"group": "g"}), RunOptions::new())),
    ))
    .await
    .expect("triggered");
    for run in runs {
        within(run.result()).await.expect("every run completes");
    }
    assert_eq!(
        overlap.max_of("g"),
        2,
        "at most two at once, and two did overlap"
    );
}

#[tokio::test]
async fn round_robin_limits_each_group_on_its_own() {
    let overlap = Arc::new(Overlap::default());
    let task = overlapping("per-group", overlap.clone(), Duration::from_millis(300)).concurrency(
        Concurrency::new("input.group")
            .max_runs(1)
            .strategy(ConcurrencyStrategy::GroupRoundRobin),
    );
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    let h = Harness::start().await;
    h.worker("rr-worker", |w| w.slots(10).workflow(&workflow))
        .await;
    let inputs = ["a", "b", "a", "b", "a", "b"]
        .into_iter()
        .map(|g| (json!({"group": g}), RunOptions::new()));
    let runs = within(workflow.run_many(&h.client, inputs))
        .await
        .expect("triggered");
    for run in runs {
        within(run.result()).await.expect("every run completes");
    }
    assert_eq!(overlap.max_of("a"), 1);
    assert_eq!(overlap.max_of("b"), 1);
    assert_eq!(
        overlap.total_max.load(Ordering::SeqCst),
        2,
        "the two groups ran side by side"
    );
}

/// A task that runs until cancelled or released, saying when it started.
fn blocking(name: &str, started: Arc<AtomicU32>, release: Arc<tokio::sync::Notify>) -> Task<Value> {
    Task::new(name, move |input: Value, ctx: Context| {
        let (started, release) = (started.clone(), release.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::select! {
                () = ctx.cancelled() => Err(TaskError::new("cancelled")),
                () = release.notified() => Ok(json!({"n": input["n"]})),
            }
        }
    })
}

async fn wait_for_count(counter: &AtomicU32, n: u32) {
    within(async {
        while counter.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn final_status(h: &Harness, run_id: &str) -> RunStatus {
    within(async {
        loop {
            let details = h.client.runs().details(run_id).await.expect("details");
            if details.done {
                return details.status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Two runs of a one-at-a-time workflow under `strategy`: the first is running when the
/// second is triggered.
struct Contest {
    h: Harness,
    started: Arc<AtomicU32>,
    release: Arc<tokio::sync::Notify>,
    first: hatchet_rs::TypedRunRef<Value>,
    second: hatchet_rs::TypedRunRef<Value>,
}

async fn contest(name: &str, strategy: ConcurrencyStrategy) -> Contest {
    let started = Arc::new(AtomicU32::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let task = blocking(name, started.clone(), release.clone())
        .concurrency(Concurrency::new("'k'").max_runs(1).strategy(strategy));
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    let h = Harness::start().await;
    h.worker(&format!("{name}-worker"), |w| {
        w.slots(5).workflow(&workflow)
    })
    .await;
    let first = within(workflow.run_no_wait(&h.client, &json!({"n": 1}), RunOptions::new()))
        .await
        .expect("first");
    wait_for_count(&started, 1).await;
    let second = within(workflow.run_no_wait(&h.client, &json!({"n": 2}), RunOptions::new()))
        .await
        .expect("second");
    Contest {
        h,
        started,
        release,
        first,
        second,
    }
}

#[tokio::test]
async fn cancel_in_progress_cancels_the_running_run_for_the_newest() {
    let c = contest("latest-wins", ConcurrencyStrategy::CancelInProgress).await;
    assert_eq!(final_status(&c.h, c.first.id()).await, RunStatus::Cancelled);
    wait_for_count(&c.started, 2).await;
    c.release.notify_one();
    let output = within(c.second.result())
        .await
        .expect("the newest completes");
    assert_eq!(output, json!({"n": 2}));
}

#[tokio::test]
async fn cancel_newest_cancels_the_newcomer_and_keeps_the_running_run() {
    let c = contest("first-wins", ConcurrencyStrategy::CancelNewest).await;
    assert_eq!(
        final_status(&c.h, c.second.id()).await,
        RunStatus::Cancelled
    );
    c.release.notify_one();
    let output = within(c.first.result()).await.expect("the first completes");
    assert_eq!(output, json!({"n": 1}));
    assert_eq!(
        c.started.load(Ordering::SeqCst),
        1,
        "the newcomer never ran"
    );
}

#[tokio::test]
async fn a_rate_limit_runs_what_fits_and_the_rest_when_the_window_refills() {
    let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = starts.clone();
    let key = format!("scenario-rl-{}", unique());
    let task = Task::new("rate-limited", move |_: Value, _: Context| {
        let seen = seen.clone();
        async move {
            seen.lock().expect("starts").push(Instant::now());
            Ok::<_, TaskError>(json!({}))
        }
    })
    .rate_limit(RateLimit::fixed(key.clone(), 1));
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    let h = Harness::start().await;
    within(
        h.client
            .rate_limits()
            .put(&key, 2, RateLimitDuration::Second),
    )
    .await
    .expect("rate limit created");
    h.worker("rl-worker", |w| w.slots(10).workflow(&workflow))
        .await;
    let runs = within(workflow.run_many(&h.client, (0..4).map(|_| (json!({}), RunOptions::new()))))
        .await
        .expect("triggered");
    for run in runs {
        within(run.result())
            .await
            .expect("every run completes in time");
    }
    let mut starts = starts.lock().expect("starts").clone();
    starts.sort();
    assert_eq!(starts.len(), 4);
    // Two units a second: the third run waits for the next window.
    let gap = starts[2].duration_since(starts[0]);
    assert!(
        gap >= Duration::from_millis(900),
        "third run started after {gap:?}"
    );
}

#[tokio::test]
async fn an_exhausted_rate_limit_leaves_tasks_queued_until_the_clock_refills_it() {
    let Some(h) = Harness::with_manual_clock().await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let ran = Arc::new(AtomicU32::new(0));
    let counter = ran.clone();
    let task = Task::new("metered", move |_: Value, _: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, TaskError>(json!({}))
        }
    })
    .rate_limit(RateLimit::fixed("metered-key", 2));
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    h.client
        .rate_limits()
        .put("metered-key", 4, RateLimitDuration::Minute)
        .await
        .expect("rate limit");
    h.worker("metered-worker", |w| w.slots(10).workflow(&workflow))
        .await;
    let runs = within(workflow.run_many(&h.client, (0..3).map(|_| (json!({}), RunOptions::new()))))
        .await
        .expect("triggered");
    let count = |status| {
        move |e: &hatchet_rs::testing::Engine| {
            let n = e.runs().into_iter().filter(|r| r.status == status).count();
            (n == 2).then_some(n)
        }
    };
    engine
        .wait_for(
            "two runs completed",
            Duration::from_secs(10),
            count(TaskStatus::Completed),
        )
        .await
        .expect("two runs fit the budget");
    assert_eq!(engine.rate_limit_remaining("metered-key"), Some(0));
    let queued = engine
        .runs()
        .into_iter()
        .filter(|r| r.status == TaskStatus::Queued)
        .count();
    assert_eq!(queued, 1, "the third run waits for units");
    engine.clock().advance(Duration::from_secs(60));
    for run in runs {
        within(run.result())
            .await
            .expect("completes after the refill");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn higher_priority_runs_go_first_on_a_busy_worker() {
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(AtomicU32::new(0));
    let (seen, gate, count) = (order.clone(), release.clone(), started.clone());
    let task = Task::new("prioritised", move |input: Value, _: Context| {
        let (seen, gate, count) = (seen.clone(), gate.clone(), count.clone());
        async move {
            let name = input["name"].as_str().unwrap_or("").to_owned();
            count.fetch_add(1, Ordering::SeqCst);
            if name == "blocker" {
                gate.notified().await;
            }
            seen.lock().expect("order").push(name);
            Ok::<_, TaskError>(json!({}))
        }
    });
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build().expect("valid");
    let h = Harness::start().await;
    h.worker("one-slot", |w| w.slots(1).workflow(&workflow))
        .await;
    let blocker =
        within(workflow.run_no_wait(&h.client, &json!({"name": "blocker"}), RunOptions::new()))
            .await
            .expect("blocker");
    wait_for_count(&started, 1).await;
    let mut runs = Vec::new();
    for (name, priority) in [
        ("low", Priority::Low),
        ("high", Priority::High),
        ("medium", Priority::Medium),
    ] {
        let options = RunOptions::new().priority(priority);
        runs.push(
            within(workflow.run_no_wait(&h.client, &json!({"name": name}), options))
                .await
                .expect("queued"),
        );
    }
    // Let the engine see all three queued before the slot frees up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    release.notify_one();
    within(blocker.result()).await.expect("blocker");
    for run in runs {
        within(run.result()).await.expect("completes");
    }
    assert_eq!(
        *order.lock().expect("order"),
        ["blocker", "high", "medium", "low"]
    );
}

/// A workflow whose task reports which worker ran it.
fn reporting(
    name: &str,
    worker_tag: &'static str,
    label: Option<DesiredLabel>,
) -> Workflow<Value, Value> {
    let mut task = Task::new(name, move |_: Value, _: Context| async move {
        Ok::<_, TaskError>(json!({"worker": worker_tag}))
    });
    if let Some(label) = label {
        task = task.desired_label(label);
    }
    Workflow::standalone(task).build().expect("valid")
}

#[tokio::test]
async fn a_required_label_steers_every_run_to_the_matching_worker() {
    let wanted = || Some(DesiredLabel::new("env", "prod").required());
    let on_staging = reporting("labelled", "staging", wanted());
    let on_prod = reporting("labelled", "prod", wanted());
    let h = Harness::start().await;
    h.worker("staging-worker", |w| {
        w.label("env", "staging").workflow(&on_staging)
    })
    .await;
    h.worker("prod-worker", |w| w.label("env", "prod").workflow(&on_prod))
        .await;
    let runs = within(on_prod.run_many(&h.client, (0..4).map(|_| (json!({}), RunOptions::new()))))
        .await
        .expect("triggered");
    for run in runs {
        let output = within(run.result()).await.expect("completes");
        assert_eq!(output["worker"], "prod");
    }
}

#[tokio::test]
async fn sticky_children_run_on_their_parents_worker() {
    let child_name = "sticky-child";
    let make = |tag: &'static str| {
        let child: Workflow<Value, Value> = Workflow::standalone(Task::new(
            child_name,
            move |_: Value, ctx: Context| async move {
                Ok::<_, TaskError>(json!({"worker": tag, "worker_id": ctx.worker_id()}))
            },
        ))
        .sticky(StickyStrategy::Hard)
        .build()
        .expect("valid");
        let parent: Workflow<Value, Value> = Workflow::standalone(Task::new(
            "sticky-parent",
            move |_: Value, ctx: Context| async move {
                let mut children = Vec::new();
                for _ in 0..3 {
                    let out = ctx
                        .run_child(child_name, &json!({}), ChildOptions::new().sticky())
                        .await
                        .map_err(|e| TaskError::new(e.to_string()))?;
                    children.push(out.get(child_name).cloned().unwrap_or(Value::Null));
                }
                Ok::<_, TaskError>(json!({"worker": tag, "children": children}))
            },
        ))
        .build()
        .expect("valid");
        (parent, child)
    };
    let (parent_a, child_a) = make("a");
    let (parent_b, child_b) = make("b");
    let h = Harness::start().await;
    h.worker("sticky-a", |w| {
        w.slots(5).workflow(&parent_a).workflow(&child_a)
    })
    .await;
    h.worker("sticky-b", |w| {
        w.slots(5).workflow(&parent_b).workflow(&child_b)
    })
    .await;
    for _ in 0..3 {
        let output = within(parent_a.run(&h.client, &json!({})))
            .await
            .expect("parent completes");
        let parent_worker = output["worker"].as_str().expect("worker tag").to_owned();
        for child in output["children"].as_array().expect("children") {
            assert_eq!(child["worker"], parent_worker.as_str(), "{output}");
        }
    }
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    order_id: String,
}

#[task(
    name = "charge-once",
    idempotency(expression = "input.order_id", ttl = "1h")
)]
async fn charge_once(order: Order, _ctx: Context) -> Result<Value, TaskError> {
    Ok(json!({"charged": order.order_id}))
}

#[tokio::test]
async fn a_second_trigger_with_the_same_idempotency_key_creates_nothing() {
    let workflow = charge_once::definition().expect("valid");
    let h = Harness::start().await;
    h.worker("idempotent-worker", |w| w.workflow(&workflow))
        .await;
    let order = Order {
        order_id: format!("order-{}", unique()),
    };
    let first = within(workflow.run_no_wait(&h.client, &order, RunOptions::new()))
        .await
        .expect("first trigger");
    let second = within(workflow.run_no_wait(&h.client, &order, RunOptions::new())).await;
    match second {
        Err(Error::IdempotencyCollision { existing_run_id }) => {
            assert_eq!(existing_run_id, first.id());
        }
        Err(other) => panic!("expected an idempotency collision, got {other:?}"),
        Ok(run) => panic!("the second trigger created run {}", run.id()),
    }
    let other = Order {
        order_id: format!("order-{}-other", unique()),
    };
    within(workflow.run(&h.client, &other))
        .await
        .expect("another key runs");
    within(first.result())
        .await
        .expect("the first run completes");
}

#[tokio::test]
async fn a_bulk_trigger_skips_only_the_runs_whose_key_is_held() {
    let workflow = charge_once::definition().expect("valid");
    let h = Harness::start().await;
    h.worker("idempotent-bulk-worker", |w| w.workflow(&workflow))
        .await;
    let held = Order {
        order_id: format!("bulk-{}-held", unique()),
    };
    let first = within(workflow.run_no_wait(&h.client, &held, RunOptions::new()))
        .await
        .expect("first trigger");
    let fresh = Order {
        order_id: format!("bulk-{}-fresh", unique()),
    };
    let both = vec![(held, RunOptions::new()), (fresh, RunOptions::new())];
    match within(workflow.run_many(&h.client, both)).await {
        Err(Error::IdempotencyCollisions {
            created_run_ids,
            existing_run_ids,
        }) => {
            assert_eq!(existing_run_ids, [first.id().to_owned()]);
            assert_eq!(
                created_run_ids.len(),
                1,
                "the fresh order's run was created"
            );
            let output = within(h.client.runs().result(&created_run_ids[0]))
                .await
                .expect("the created run completes");
            assert!(output.get("charge-once").is_some(), "{output:?}");
        }
        Err(other) => panic!("expected collisions, got {other:?}"),
        Ok(runs) => panic!("{} runs created, none skipped", runs.len()),
    }
}

/// Unique per test run, so keys held on a long-lived live engine never collide.
fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
