use hatchet_rs::{task, BatchContext, Context, TaskError};

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct In {}
#[derive(serde::Serialize, serde::Deserialize)]
struct Out {}

#[task(batch(max_size = 10))]
async fn batch_with_plain_context(_i: Vec<In>, _c: Context) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task]
async fn plain_with_batch_context(_i: Vec<In>, _c: BatchContext) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task(batch(max_size = 10))]
async fn input_not_a_vec(_i: In, _c: BatchContext) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task(batch(max_size = 10))]
async fn output_not_a_vec(_i: Vec<In>, _c: BatchContext) -> Result<Out, TaskError> {
    Ok(Out {})
}

#[task(batch(max_interval = "1s"))]
async fn no_size(_i: Vec<In>, _c: BatchContext) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task(batch(max_size = 0, max_runs = 20000))]
async fn size_out_of_range(_i: Vec<In>, _c: BatchContext) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task(batch(max_size = 10), slots(default = 2))]
async fn batch_with_slots(_i: Vec<In>, _c: BatchContext) -> Result<Vec<Out>, TaskError> {
    Ok(Vec::new())
}

#[task(batch(max_size = 10, broadcast = true))]
async fn broadcast_with_value(_i: Vec<In>, _c: BatchContext) -> Result<Out, TaskError> {
    Ok(Out {})
}

fn main() {}
