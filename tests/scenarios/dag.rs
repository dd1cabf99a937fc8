//! DAG workflows: parents run first, children read their typed outputs, runs return every
//! task's output.

use hatchet_rs::{Context, RunOptions, Task, TaskError, Workflow, WorkflowDefinition, workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::harness::{Harness, within};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    id: u64,
    items: Vec<u32>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Priced {
    cents: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Receipt {
    order_id: u64,
    total_cents: u64,
    customer: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct CheckoutOutput {
    price: Priced,
    charge: Receipt,
}

struct Checkout;

#[workflow(name = "checkout", output = CheckoutOutput)]
impl Checkout {
    #[task]
    async fn price(order: Order, _ctx: Context) -> Result<Priced, TaskError> {
        Ok(Priced {
            cents: order.items.iter().map(|c| u64::from(*c)).sum(),
        })
    }

    #[task(after = "price")]
    async fn charge(order: Order, price: Priced, ctx: Context) -> Result<Receipt, TaskError> {
        Ok(Receipt {
            order_id: order.id,
            total_cents: price.cents,
            customer: ctx
                .metadata("customer")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

#[tokio::test]
async fn dag_runs_parents_first_and_children_read_typed_outputs() {
    let h = Harness::start().await;
    h.worker("dag-worker", |w| w.register::<Checkout>()).await;
    let output = within(h.client.run::<Checkout>(&Order {
        id: 7,
        items: vec![250, 100],
    }))
    .await
    .expect("run succeeds");
    assert_eq!(
        output,
        CheckoutOutput {
            price: Priced { cents: 350 },
            charge: Receipt {
                order_id: 7,
                total_cents: 350,
                customer: None
            },
        }
    );
}

#[tokio::test]
async fn run_metadata_reaches_every_task() {
    let h = Harness::start().await;
    h.worker("dag-worker", |w| w.register::<Checkout>()).await;
    let workflow = Checkout::definition().expect("valid");
    let run = within(workflow.run_no_wait(
        &h.client,
        &Order {
            id: 1,
            items: vec![5],
        },
        RunOptions::new().metadata("customer", "acme"),
    ))
    .await
    .expect("trigger");
    let output = within(run.result()).await.expect("result");
    assert_eq!(output.charge.customer.as_deref(), Some("acme"));
}

#[tokio::test]
async fn builder_workflows_work_without_macros() {
    async fn fetch(input: Value, _: Context) -> Result<Value, TaskError> {
        Ok(json!({"rows": input["n"]}))
    }
    async fn double(_: Value, ctx: Context) -> Result<Value, TaskError> {
        let fetched: Value = ctx.parent_output("fetch")?;
        Ok(json!({"rows": fetched["rows"].as_i64().unwrap_or(0) * 2}))
    }
    async fn report(_: Value, ctx: Context) -> Result<Value, TaskError> {
        let doubled: Value = ctx.parent_output("double")?;
        let fetched: Value = ctx.parent_output("fetch")?;
        Ok(json!({"summary": format!("{} -> {}", fetched["rows"], doubled["rows"])}))
    }
    let etl: Workflow = Workflow::builder("etl")
        .task(Task::new("fetch", fetch))
        .task(Task::new("double", double).after(["fetch"]))
        .task(Task::new("report", report).after(["fetch", "double"]))
        .build()
        .expect("valid");
    let h = Harness::start().await;
    h.worker("etl-worker", |w| w.workflow(&etl)).await;
    let output = within(etl.run(&h.client, &json!({"n": 21})))
        .await
        .expect("run");
    assert_eq!(output.get("fetch"), Some(&json!({"rows": 21})));
    assert_eq!(output.get("double"), Some(&json!({"rows": 42})));
    assert_eq!(output.get("report"), Some(&json!({"summary": "21 -> 42"})));
}

#[tokio::test]
async fn many_runs_complete_independently() {
    let h = Harness::start().await;
    h.worker("dag-worker", |w| w.register::<Checkout>().slots(4))
        .await;
    let workflow = Checkout::definition().expect("valid");
    let runs = within(workflow.run_many(
        &h.client,
        (0..10).map(|i| {
            (
                Order {
                    id: i,
                    items: vec![u32::try_from(i).unwrap_or(0)],
                },
                RunOptions::new(),
            )
        }),
    ))
    .await
    .expect("bulk trigger");
    assert_eq!(runs.len(), 10);
    for (i, run) in runs.iter().enumerate() {
        let output = within(run.result()).await.expect("result");
        assert_eq!(output.charge.order_id, i as u64);
        assert_eq!(output.price.cents, i as u64);
    }
}
