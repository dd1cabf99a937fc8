use hatchet_rs::{workflow, Context, TaskError};

struct W;

#[workflow]
impl W {
    #[task]
    async fn fetch(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }

    #[task(after = "fetc")]
    async fn load(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }
}

fn main() {}
