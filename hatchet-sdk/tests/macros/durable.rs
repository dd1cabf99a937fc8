//! Durable tasks written with the macros: `durable` with a `DurableContext`, and `eviction`.

use hatchet_rs::{DurableContext, TaskError, WorkflowDefinition, task};

#[task(durable, eviction(ttl = "1h", capacity = false, priority = 2))]
async fn patient(_input: serde_json::Value, ctx: DurableContext) -> Result<(), TaskError> {
    ctx.sleep_for("1m").await?;
    Ok(())
}

#[task(durable, eviction = "never")]
async fn stubborn(_input: serde_json::Value, ctx: DurableContext) -> Result<(), TaskError> {
    ctx.wait_for_event("go").await?;
    Ok(())
}

#[test]
fn durable_tasks_with_eviction_policies_define_workflows() {
    assert_eq!(patient::definition().expect("valid").name(), "patient");
    assert_eq!(stubborn::definition().expect("valid").name(), "stubborn");
}
