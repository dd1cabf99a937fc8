//! A DAG workflow with typed parents: the generated definition and its task functions.

use hatchet_rs::{Context, RunOutput, TaskError, WorkflowDefinition, workflow};
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
}

#[test]
fn a_dag_with_typed_parents_defines_its_tasks_in_order() {
    let workflow: hatchet_rs::Workflow<Order, RunOutput> = Checkout::definition().expect("valid");
    assert_eq!(workflow.name(), "checkout");
    assert_eq!(workflow.task_names(), ["fetch", "charge"]);
    // The task functions stay plain associated functions.
    let _: fn(Order, Context) -> _ = Checkout::fetch;
}
