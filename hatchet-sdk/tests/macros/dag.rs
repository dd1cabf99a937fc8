//! A DAG workflow with typed parents: the generated definition and its task functions.

use hatchet_rs::{Context, TaskError, WorkflowDefinition, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Fetched {
    lines: u32,
}

#[derive(Serialize, Deserialize)]
struct Charged {
    cents: u64,
}

struct Checkout;

#[workflow(name = "checkout")]
impl Checkout {
    #[task(retries = 3)]
    async fn fetch(order: Order, _ctx: Context) -> Result<Fetched, TaskError> {
        Ok(Fetched {
            lines: order.id as u32,
        })
    }

    #[task(after = "fetch")]
    async fn charge(
        _order: Order,
        fetch: Fetched,
        _ctx: Context,
    ) -> Result<Charged, std::io::Error> {
        Ok(Charged {
            cents: u64::from(fetch.lines) * 100,
        })
    }

    /// Skipped when the order is empty; its child `receipt` is skipped with it.
    #[task(
        name = "ship-it",
        after = "charge",
        skip_if(parent = "charge", expr = "output.cents == 0")
    )]
    async fn ship(_order: Order, _ctx: Context) -> Result<(), TaskError> {
        Ok(())
    }

    #[task(after = "ship-it")]
    async fn receipt(_order: Order, _ctx: Context) -> Result<Charged, TaskError> {
        Ok(Charged { cents: 0 })
    }
}

#[test]
fn a_dag_with_typed_parents_defines_its_tasks_in_order() {
    let workflow: hatchet_rs::Workflow<Order, CheckoutOutput> =
        Checkout::definition().expect("valid");
    assert_eq!(workflow.name(), "checkout");
    assert_eq!(
        workflow.task_names(),
        ["fetch", "charge", "ship-it", "receipt"]
    );
    // The task functions stay plain associated functions.
    let _: fn(Order, Context) -> _ = Checkout::fetch;
}

#[test]
fn the_generated_output_has_a_typed_field_per_task() {
    let outputs = serde_json::json!({
        "fetch": { "lines": 2 },
        "charge": { "cents": 200 },
        "ship-it": {},
        "receipt": { "cents": 0 },
    });
    let output: CheckoutOutput = serde_json::from_value(outputs).expect("decodes");
    assert_eq!(output.fetch, Fetched { lines: 2 });
    assert_eq!(output.charge.cents, 200);
    // `ship-it` has a skip_if and `receipt` only runs after it: both may be skipped.
    assert_eq!(output.ship, Some(()));
    assert_eq!(output.receipt.map(|r| r.cents), Some(0));
}

#[test]
fn skipped_tasks_are_none_and_a_missing_or_wrong_output_names_the_task() {
    let skipped = serde_json::json!({
        "fetch": { "lines": 0 },
        "charge": { "cents": 0 },
        "ship-it": { "skipped": true },
        "receipt": { "skipped": true },
    });
    let output: CheckoutOutput = serde_json::from_value(skipped).expect("decodes");
    assert!(output.ship.is_none());
    assert!(output.receipt.is_none());

    let missing = serde_json::json!({ "fetch": { "lines": 0 } });
    let error = serde_json::from_value::<CheckoutOutput>(missing)
        .err()
        .expect("charge is missing");
    assert!(error.to_string().contains("task `charge`"), "{error}");

    let wrong = serde_json::json!({
        "fetch": { "lines": "two" },
        "charge": { "cents": 0 },
        "ship-it": {},
        "receipt": {},
    });
    let error = serde_json::from_value::<CheckoutOutput>(wrong)
        .err()
        .expect("fetch is wrong");
    assert!(error.to_string().contains("task `fetch`"), "{error}");

    // A task that cannot be skipped but reports skipped is an error, not a default.
    let odd = serde_json::json!({
        "fetch": { "skipped": true },
        "charge": { "cents": 0 },
        "ship-it": {},
        "receipt": {},
    });
    let error = serde_json::from_value::<CheckoutOutput>(odd)
        .err()
        .expect("fetch was skipped");
    assert!(error.to_string().contains("skipped"), "{error}");
}
