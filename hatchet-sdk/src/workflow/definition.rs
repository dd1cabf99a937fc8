//! Workflows known by type: what `#[workflow]` and `#[task]` implement.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::Result;
use crate::runs::RunOptions;
use crate::workflow::run::FromRunOutput;
use crate::workflow::{DefinitionError, TypedRunRef, Workflow};

/// A workflow type: its input, its output and how to build its definition.
///
/// `#[workflow]` and `#[task]` implement it; implement it by hand to give a builder-made
/// workflow a type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Hatchet workflow",
    note = "put #[workflow] on an `impl {Self}` block of #[task] functions, or #[task] on an async fn"
)]
pub trait WorkflowDefinition {
    /// The workflow's input.
    type Input: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    /// What a run returns.
    type Output: FromRunOutput;

    /// Builds and validates the definition.
    fn definition() -> std::result::Result<Workflow<Self::Input, Self::Output>, DefinitionError>;
}

impl Client {
    /// Runs the workflow `W` and waits for its typed output.
    ///
    /// ```no_run
    /// # use hatchet_rs::{task, Client, Context, TaskError};
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Signup { email: String }
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Sent { id: String }
    /// #[task(retries = 3)]
    /// async fn send_welcome(input: Signup, _ctx: Context) -> Result<Sent, TaskError> {
    ///     Ok(Sent { id: format!("mail-to-{}", input.email) })
    /// }
    /// # async fn demo(client: Client) -> hatchet_rs::Result<()> {
    /// let sent = client.run::<send_welcome>(&Signup { email: "a@b.c".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<W: WorkflowDefinition>(&self, input: &W::Input) -> Result<W::Output> {
        W::definition()?.run(self, input).await
    }

    /// Starts the workflow `W` and returns a handle whose `result()` waits for the output.
    pub async fn run_no_wait<W: WorkflowDefinition>(
        &self,
        input: &W::Input,
        options: RunOptions,
    ) -> Result<TypedRunRef<W::Output>> {
        W::definition()?.run_no_wait(self, input, options).await
    }
}
