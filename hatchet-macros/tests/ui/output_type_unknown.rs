use hatchet_rs::{workflow, Context, TaskError};

type Outcome = Result<(), TaskError>;

struct Nightly;

#[workflow]
impl Nightly {
    #[task]
    async fn report(_i: serde_json::Value, _c: Context) -> Outcome {
        Ok(())
    }
}

fn main() {}
