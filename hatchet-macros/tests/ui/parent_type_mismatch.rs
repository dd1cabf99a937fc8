use hatchet_rs::{workflow, Context, TaskError};

#[derive(serde::Serialize, serde::Deserialize)]
struct Fetched {
    lines: u32,
}

struct W;

#[workflow]
impl W {
    #[task]
    async fn fetch(_i: serde_json::Value, _c: Context) -> Result<Fetched, TaskError> {
        Ok(Fetched { lines: 1 })
    }

    #[task(after = "fetch")]
    async fn load(_i: serde_json::Value, fetch: String, _c: Context) -> Result<(), TaskError> {
        let _ = fetch;
        Ok(())
    }
}

fn main() {}
