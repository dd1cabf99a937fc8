use hatchet_rs::{workflow, Context, TaskError};

struct W;

#[workflow]
impl W {
    #[task(retry = 3)]
    async fn a(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }
}

fn main() {}
