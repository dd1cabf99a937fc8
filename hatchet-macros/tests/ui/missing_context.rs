use hatchet_rs::{workflow, TaskError};

struct W;

#[workflow]
impl W {
    #[task]
    async fn a(_i: serde_json::Value, _c: u32) -> Result<(), TaskError> {
        Ok(())
    }
}

fn main() {}
