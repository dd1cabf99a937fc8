use hatchet_rs::{workflow, Context, TaskError};

struct W;

#[workflow(on_crons = ["61 * * * *"])]
impl W {
    #[task]
    async fn a(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }
}

fn main() {}
