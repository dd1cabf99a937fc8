use hatchet_rs::{workflow, Context, TaskError};

#[derive(serde::Serialize)]
struct Report {
    lines: u32,
}

struct Nightly;

#[workflow]
impl Nightly {
    #[task]
    async fn report(_i: serde_json::Value, _c: Context) -> Result<Report, TaskError> {
        Ok(Report { lines: 1 })
    }
}

fn main() {}
