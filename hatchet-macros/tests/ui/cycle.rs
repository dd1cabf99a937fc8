use hatchet_rs::{workflow, Context, TaskError};

struct W;

#[workflow]
impl W {
    #[task(after = "b")]
    async fn a(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }

    #[task(after = "a")]
    async fn b(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }
}

fn main() {}
