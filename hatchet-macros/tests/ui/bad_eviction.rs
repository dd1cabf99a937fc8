use hatchet_rs::{task, DurableContext, TaskError};

#[task(durable, eviction = "sometimes")]
async fn waits(_i: serde_json::Value, _c: DurableContext) -> Result<(), TaskError> {
    Ok(())
}

fn main() {}
