use hatchet_rs::{workflow, Context, TaskError};

struct W;

#[workflow]
impl W {
    #[task]
    async fn fetch(_i: serde_json::Value, _c: Context) -> Result<(), TaskError> {
        Ok(())
    }

    #[task]
    async fn load(_i: serde_json::Value, fetch: (), _c: Context) -> Result<(), TaskError> {
        let _ = fetch;
        Ok(())
    }
}

fn main() {}
