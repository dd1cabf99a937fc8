//! Child workflows spawned from a task: linked to their parent, awaited, and not duplicated
//! when the parent retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hatchet_rs::{ChildOptions, Context, Task, TaskError, Workflow, WorkflowDefinition, task};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::harness::{Harness, within};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Square {
    n: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Squared {
    value: i64,
    parent_task: Option<String>,
}

#[task]
async fn square(input: Square, ctx: Context) -> Result<Squared, TaskError> {
    Ok(Squared {
        value: input.n * input.n,
        parent_task: ctx.parent_task_run_id().map(str::to_owned),
    })
}

#[tokio::test]
async fn a_task_spawns_children_and_uses_their_results() {
    let sum = Task::new("sum-of-squares", |input: Value, ctx: Context| async move {
        let mut total = 0;
        for n in input["ns"].as_array().cloned().unwrap_or_default() {
            let child = ctx
                .run_child("square", &json!({"n": n}), ChildOptions::new())
                .await?;
            let squared: Squared = child.task("square")?;
            assert_eq!(squared.parent_task.as_deref(), Some(ctx.task_run_id()));
            total += squared.value;
        }
        Ok::<_, TaskError>(json!({"total": total}))
    });
    let parent: Workflow<Value, Value> = Workflow::standalone(sum).build().expect("valid");
    let h = Harness::start().await;
    h.worker("child-worker", |w| {
        w.workflow(&parent).register::<square>().slots(4)
    })
    .await;
    let output = within(parent.run(&h.client, &json!({"ns": [1, 2, 3]})))
        .await
        .expect("run");
    assert_eq!(output, json!({"total": 14}));
    if let Some(engine) = h.local() {
        let children: Vec<_> = engine
            .runs()
            .into_iter()
            .filter(|r| r.parent_task_id.is_some())
            .collect();
        assert_eq!(children.len(), 3);
    }
    assert_eq!(square::definition().expect("valid").name(), "square");
}

#[tokio::test]
async fn a_retried_parent_gets_its_existing_child_back() {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let spawner = Task::new("spawner", move |_: Value, ctx: Context| {
        let counter = counter.clone();
        async move {
            let child = ctx
                .spawn_child("square", &json!({"n": 5}), ChildOptions::new())
                .await?;
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(TaskError::new("fail after spawning"));
            }
            Ok::<_, TaskError>(json!({"child": child.id()}))
        }
    })
    .retries(1);
    let parent: Workflow<Value, Value> = Workflow::standalone(spawner).build().expect("valid");
    let h = Harness::start().await;
    h.worker("child-worker", |w| w.workflow(&parent).register::<square>())
        .await;
    let output = within(parent.run(&h.client, &json!({})))
        .await
        .expect("run");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    if let Some(engine) = h.local() {
        let children: Vec<_> = engine
            .runs()
            .into_iter()
            .filter(|r| r.parent_task_id.is_some())
            .collect();
        assert_eq!(children.len(), 1, "the retry must not spawn a second child");
        assert_eq!(output["child"], json!(children[0].id));
    }
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Numbers {
    ns: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Total {
    total: i64,
}

/// Spawns typed children, then fails its first attempt: the retry must get the same
/// children back.
#[task(retries = 1)]
async fn sum_typed(input: Numbers, ctx: Context) -> Result<Total, TaskError> {
    let children = ctx
        .spawn_many::<square>(
            input
                .ns
                .iter()
                .map(|n| (Square { n: *n }, ChildOptions::new())),
        )
        .await?;
    let mut total = 0;
    for child in children {
        let squared: Squared = child.result().await?;
        total += squared.value;
    }
    let last = *input.ns.last().unwrap_or(&0);
    // The typed single-child form too.
    let again: Squared = ctx
        .run::<square>(&Square { n: last }, ChildOptions::new())
        .await?;
    total += again.value;
    if ctx.retry_count() == 0 {
        return Err(TaskError::new("failing once after spawning the children"));
    }
    Ok(Total { total })
}

#[tokio::test]
async fn typed_children_return_typed_outputs_and_are_not_duplicated_on_retry() {
    let h = Harness::start().await;
    h.worker("typed-child-worker", |w| {
        w.register::<sum_typed>().register::<square>().slots(8)
    })
    .await;
    let output = within(h.client.run::<sum_typed>(&Numbers { ns: vec![1, 2, 3] }))
        .await
        .expect("run");
    assert_eq!(output, Total { total: 14 + 9 });
    if let Some(engine) = h.local() {
        let children = engine
            .runs()
            .into_iter()
            .filter(|r| r.parent_task_id.is_some())
            .count();
        assert_eq!(children, 4, "the retry got its four children back");
    }
}
