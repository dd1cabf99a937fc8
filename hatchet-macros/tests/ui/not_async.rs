use hatchet_rs::{task, Context, TaskError};

#[task]
fn a(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
    Ok(())
}

fn main() {}
