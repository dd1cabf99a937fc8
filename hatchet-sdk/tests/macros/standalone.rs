//! A standalone task: a one-task workflow named after the function.

use hatchet_rs::{Context, NonRetryable, TaskError, WorkflowDefinition, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Signup {
    email: String,
}

#[derive(Serialize, Deserialize)]
struct Sent {
    id: String,
}

#[task(retries = 2, timeout = "10s", on_events = ["user:signup"], default_priority = 2)]
async fn send_welcome(input: Signup, _ctx: Context) -> Result<Sent, TaskError> {
    if input.email.is_empty() {
        return Err(NonRetryable::new("no email").into());
    }
    Ok(Sent { id: input.email })
}

#[test]
fn a_standalone_task_is_a_workflow_named_after_it() {
    let workflow = send_welcome::definition().expect("valid");
    assert_eq!(workflow.name(), "send_welcome");
    let _typed: hatchet_rs::Workflow<Signup, Sent> = workflow;
}
