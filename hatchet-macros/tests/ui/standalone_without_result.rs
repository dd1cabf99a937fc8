use hatchet_rs::{task, Context};

#[task]
async fn a(_i: serde_json::Value, _c: Context) -> u32 {
    1
}

fn main() {}
