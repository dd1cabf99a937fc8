//! Workflow definitions: a DAG of tasks plus triggers and options, validated when built.
//!
//! Everything the `#[workflow]` and `#[task]` macros generate goes through this builder API.

mod backoff;
pub(crate) mod conditions;
mod definition;
pub(crate) mod duration;
pub(crate) mod options;
pub(crate) mod proto;
mod run;
mod task_def;
pub(crate) mod validate;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

pub use backoff::Backoff;
pub use conditions::Condition;
pub use definition::WorkflowDefinition;
pub use duration::{DurationError, EngineDuration, IntoEngineDuration};
pub use options::{
    Concurrency, ConcurrencyStrategy, DefaultFilter, Idempotency, IdempotencyMethod, RateLimit,
    StickyStrategy,
};
pub use run::{FromRunOutput, TypedRunRef};
pub(crate) use task_def::TaskDef;
pub use task_def::{DEFAULT_SLOT, DURABLE_SLOT, Task};

use crate::priority::Priority;
use crate::runs::RunOutput;

/// A definition mistake, naming the workflow (and task) and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    workflow: Option<String>,
    task: Option<String>,
    message: String,
}

impl DefinitionError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            workflow: None,
            task: None,
            message: message.into(),
        }
    }

    pub(crate) fn in_workflow(mut self, workflow: &str) -> Self {
        self.workflow.get_or_insert_with(|| workflow.to_owned());
        self
    }

    pub(crate) fn in_task(mut self, task: &str) -> Self {
        self.task.get_or_insert_with(|| task.to_owned());
        self
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.workflow, &self.task) {
            (Some(w), Some(t)) => write!(f, "workflow `{w}`, task `{t}`: {}", self.message),
            (Some(w), None) => write!(f, "workflow `{w}`: {}", self.message),
            (None, Some(t)) => write!(f, "task `{t}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DefinitionError {}

impl From<DefinitionError> for crate::Error {
    fn from(error: DefinitionError) -> Self {
        crate::Error::InvalidPayload(error.to_string())
    }
}

/// The validated, type-erased definition shared by every handle on a workflow.
#[derive(Debug)]
pub(crate) struct WorkflowDef {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) version: String,
    pub(crate) on_events: Vec<String>,
    pub(crate) on_crons: Vec<String>,
    pub(crate) cron_input: Option<Value>,
    pub(crate) concurrency: Vec<Concurrency>,
    pub(crate) sticky: Option<StickyStrategy>,
    pub(crate) default_priority: Option<Priority>,
    pub(crate) idempotency: Option<Idempotency>,
    pub(crate) default_filters: Vec<DefaultFilter>,
    pub(crate) tasks: Vec<TaskDef>,
    pub(crate) on_failure: Option<TaskDef>,
    pub(crate) on_success: Option<TaskDef>,
    pub(crate) input_schema: Option<Value>,
    /// For a standalone task: runs return this task's output rather than the map of outputs.
    pub(crate) output_task: Option<String>,
}

impl WorkflowDef {
    /// Every task the worker runs for this workflow, with its action-id task name.
    pub(crate) fn all_tasks(&self) -> impl Iterator<Item = &TaskDef> {
        self.tasks
            .iter()
            .chain(self.on_failure.as_ref())
            .chain(self.on_success.as_ref())
    }
}

/// A validated workflow with input `I` and output `O`. Register it on a worker; run it with
/// [`Workflow::run`]. Cheap to clone.
///
/// `O` is what a run returns: by default [`RunOutput`] (every task's output by name); any
/// `Deserialize` type whose fields are task names also works, and for a standalone task
/// ([`Workflow::standalone`]) `O` is that task's output.
pub struct Workflow<I = Value, O = RunOutput> {
    pub(crate) def: Arc<WorkflowDef>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> Clone for Workflow<I, O> {
    fn clone(&self) -> Self {
        Self {
            def: self.def.clone(),
            _types: PhantomData,
        }
    }
}

impl<I, O> fmt::Debug for Workflow<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workflow")
            .field("name", &self.def.name)
            .field(
                "tasks",
                &self.def.all_tasks().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<I, O> Workflow<I, O> {
    /// The workflow's name (without namespace).
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The workflow's task names, in definition order.
    pub fn task_names(&self) -> Vec<&str> {
        self.def.all_tasks().map(|t| t.name.as_str()).collect()
    }
}

impl<I: JsonSchema, O> Workflow<I, O> {
    /// Starts defining a workflow named `name`.
    ///
    /// ```
    /// use hatchet_rs::{Context, Task, TaskError, Workflow};
    /// use serde_json::{json, Value};
    ///
    /// async fn fetch(_: Value, _: Context) -> Result<Value, TaskError> { Ok(json!({"rows": 3})) }
    /// async fn load(_: Value, ctx: Context) -> Result<Value, TaskError> {
    ///     let fetched: Value = ctx.parent_output("fetch")?;
    ///     Ok(json!({"loaded": fetched["rows"]}))
    /// }
    ///
    /// let etl: Workflow = Workflow::builder("etl")
    ///     .on_cron("0 * * * *")
    ///     .task(Task::new("fetch", fetch).retries(3))
    ///     .task(Task::new("load", load).after(["fetch"]))
    ///     .build()?;
    /// # Ok::<(), hatchet_rs::DefinitionError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> WorkflowBuilder<I, O> {
        WorkflowBuilder::new(name.into())
    }

    /// A workflow made of the single task `task`, named after it; runs return the task's
    /// output.
    pub fn standalone(task: Task<I>) -> WorkflowBuilder<I, O> {
        let mut builder = WorkflowBuilder::new(task.def.name.clone());
        builder.output_task = Some(task.def.name.clone());
        builder.task(task)
    }
}

/// Builds a [`Workflow`]; see [`Workflow::builder`].
#[must_use = "call .build() to validate the workflow"]
pub struct WorkflowBuilder<I, O> {
    name: String,
    description: String,
    version: String,
    on_events: Vec<String>,
    on_crons: Vec<String>,
    cron_input: Option<Result<Value, String>>,
    concurrency: Vec<Concurrency>,
    sticky: Option<StickyStrategy>,
    default_priority: Option<Priority>,
    idempotency: Option<Idempotency>,
    default_filters: Vec<DefaultFilter>,
    tasks: Vec<TaskDef>,
    on_failure: Option<TaskDef>,
    on_success: Option<TaskDef>,
    output_task: Option<String>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> fmt::Debug for WorkflowBuilder<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<I: JsonSchema, O> WorkflowBuilder<I, O> {
    fn new(name: String) -> Self {
        Self {
            name,
            description: String::new(),
            version: String::new(),
            on_events: Vec::new(),
            on_crons: Vec::new(),
            cron_input: None,
            concurrency: Vec::new(),
            sticky: None,
            default_priority: None,
            idempotency: None,
            default_filters: Vec::new(),
            tasks: Vec::new(),
            on_failure: None,
            on_success: None,
            output_task: None,
            _types: PhantomData,
        }
    }

    /// A description shown in the dashboard.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// A version label for this definition.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Runs the workflow whenever an event with `key` is pushed; the event payload is the
    /// input.
    pub fn on_event(mut self, key: impl Into<String>) -> Self {
        self.on_events.push(key.into());
        self
    }

    /// Runs the workflow on a cron schedule in UTC: five fields (`"*/15 * * * *"`), or six with
    /// seconds first.
    pub fn on_cron(mut self, expression: impl Into<String>) -> Self {
        self.on_crons.push(expression.into());
        self
    }

    /// The input of cron-triggered runs.
    pub fn cron_input(mut self, input: &impl Serialize) -> Self {
        self.cron_input = Some(serde_json::to_value(input).map_err(|e| e.to_string()));
        self
    }

    /// Limits concurrent runs of the workflow (several limits all apply).
    pub fn concurrency(mut self, concurrency: Concurrency) -> Self {
        self.concurrency.push(concurrency);
        self
    }

    /// Keeps a run's tasks on one worker.
    pub fn sticky(mut self, strategy: StickyStrategy) -> Self {
        self.sticky = Some(strategy);
        self
    }

    /// The priority of runs that do not set one.
    pub fn default_priority(mut self, priority: Priority) -> Self {
        self.default_priority = Some(priority);
        self
    }

    /// Rejects duplicate triggers.
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = Some(idempotency);
        self
    }

    /// An event filter created with the workflow.
    pub fn default_filter(mut self, filter: DefaultFilter) -> Self {
        self.default_filters.push(filter);
        self
    }

    /// Adds a task.
    pub fn task(mut self, task: Task<I>) -> Self {
        self.tasks.push(task.def);
        self
    }

    /// The task that runs when the workflow fails; [`crate::Context::task_errors`] says why.
    pub fn on_failure(mut self, task: Task<I>) -> Self {
        self.on_failure = Some(task.def);
        self
    }

    /// The task that runs after every other task has succeeded.
    pub fn on_success(mut self, task: Task<I>) -> Self {
        self.on_success = Some(task.def);
        self
    }

    /// Validates the definition: names, parents, cycles, durations, crons and ranges.
    pub fn build(self) -> Result<Workflow<I, O>, DefinitionError> {
        let name = self.name.clone();
        let cron_input = match self.cron_input {
            None => None,
            Some(Ok(value)) => Some(value),
            Some(Err(e)) => {
                return Err(DefinitionError::new(format!(
                    "cron input cannot be encoded as JSON: {e}"
                ))
                .in_workflow(&name));
            }
        };
        let schema = serde_json::to_value(schemars::schema_for!(I)).map_err(|e| {
            DefinitionError::new(format!("input schema cannot be encoded: {e}")).in_workflow(&name)
        })?;
        let mut tasks = self.tasks;
        let mut on_success = self.on_success;
        if let Some(task) = on_success.as_mut() {
            // The engine has no on-success slot: it is a task after every leaf (reference §5).
            task.parents = validate::leaves(&tasks);
        }
        if self.output_task.is_some() && tasks.len() != 1 {
            return Err(
                DefinitionError::new("a standalone task workflow has exactly one task")
                    .in_workflow(&name),
            );
        }
        for task in &mut tasks {
            let mut seen = std::collections::HashSet::new();
            task.parents.retain(|p| seen.insert(p.clone()));
        }
        let def = WorkflowDef {
            name,
            description: self.description,
            version: self.version,
            on_events: self.on_events,
            on_crons: self.on_crons,
            cron_input,
            concurrency: self.concurrency,
            sticky: self.sticky,
            default_priority: self.default_priority,
            idempotency: self.idempotency,
            default_filters: self.default_filters,
            tasks,
            on_failure: self.on_failure,
            on_success,
            input_schema: Some(schema),
            output_task: self.output_task,
        };
        validate::workflow(&def).map_err(|e| e.in_workflow(&def.name))?;
        Ok(Workflow {
            def: Arc::new(def),
            _types: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests;
