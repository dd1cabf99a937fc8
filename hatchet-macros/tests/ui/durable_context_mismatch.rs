use hatchet_rs::{task, Context, DurableContext, TaskError};

#[task(durable)]
async fn durable_with_plain_context(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
    Ok(())
}

#[task]
async fn plain_with_durable_context(_i: serde_json::Value, _c: DurableContext) -> Result<(), TaskError> {
    Ok(())
}

fn main() {}
