//! Typed runs of a defined workflow: the input type is checked by the compiler and the result
//! decodes into the workflow's output type.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::Result;
use crate::payload;
use crate::runs::{RunOptions, RunOutput, TriggerRequest, WorkflowRunRef};
use crate::workflow::Workflow;

/// A started run whose [`result`](TypedRunRef::result) decodes as `O`.
#[derive(Debug, Clone)]
pub struct TypedRunRef<O> {
    run: WorkflowRunRef,
    output_task: Option<String>,
    _output: PhantomData<fn() -> O>,
}

impl<O: FromRunOutput> TypedRunRef<O> {
    /// The workflow run id.
    pub fn id(&self) -> &str {
        self.run.id()
    }

    /// The untyped handle.
    pub fn untyped(&self) -> &WorkflowRunRef {
        &self.run
    }

    /// Waits for the run to finish and decodes its output.
    pub async fn result(&self) -> Result<O> {
        let output = self.run.result().await?;
        O::from_run_output(output, self.output_task.as_deref())
    }
}

/// How a run's outputs become a workflow's output type. Implemented for [`RunOutput`] itself
/// and for every `Deserialize` type.
pub trait FromRunOutput: Sized {
    /// Decodes `output`; `task` names the single task of a standalone workflow.
    fn from_run_output(output: RunOutput, task: Option<&str>) -> Result<Self>;
}

impl<T: DeserializeOwned> FromRunOutput for T {
    fn from_run_output(output: RunOutput, task: Option<&str>) -> Result<Self> {
        match task {
            Some(task) => output.task(task),
            None => {
                let map: serde_json::Map<String, serde_json::Value> =
                    output.tasks().clone().into_iter().collect();
                payload::decode("the workflow output", serde_json::Value::Object(map))
            }
        }
    }
}

impl FromRunOutput for RunOutput {
    fn from_run_output(output: RunOutput, _task: Option<&str>) -> Result<Self> {
        Ok(output)
    }
}

impl<I: Serialize, O: FromRunOutput> Workflow<I, O> {
    /// Runs the workflow and waits for its output.
    pub async fn run(&self, client: &Client, input: &I) -> Result<O> {
        self.run_no_wait(client, input, RunOptions::new())
            .await?
            .result()
            .await
    }

    /// Starts a run with `options` and returns a handle to wait on.
    pub async fn run_no_wait(
        &self,
        client: &Client,
        input: &I,
        options: RunOptions,
    ) -> Result<TypedRunRef<O>> {
        let run = client
            .runs()
            .trigger_request(TriggerRequest::new(self.def.name.clone(), input)?.options(options))
            .await?;
        Ok(self.typed(run))
    }

    /// Starts one run per input in as few calls as possible.
    pub async fn run_many(
        &self,
        client: &Client,
        inputs: impl IntoIterator<Item = (I, RunOptions)>,
    ) -> Result<Vec<TypedRunRef<O>>> {
        let requests = inputs
            .into_iter()
            .map(|(input, options)| {
                Ok(TriggerRequest::new(self.def.name.clone(), &input)?.options(options))
            })
            .collect::<Result<Vec<_>>>()?;
        let runs = client.runs().bulk_trigger(requests).await?;
        Ok(runs.into_iter().map(|run| self.typed(run)).collect())
    }

    pub(crate) fn typed(&self, run: WorkflowRunRef) -> TypedRunRef<O> {
        TypedRunRef {
            run,
            output_task: self.def.output_task.clone(),
            _output: PhantomData,
        }
    }
}
