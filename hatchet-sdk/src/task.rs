//! Task functions: plain `async fn(Input, Context) -> Result<Output, E>`, type-erased so a
//! workflow can hold tasks with different output types.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::payload;

/// A task's failure. Any error converts into it with `?`; wrap one in [`NonRetryable`] (or use
/// [`TaskError::non_retryable`]) to stop the engine from retrying the task.
///
/// Like `anyhow::Error`, this type deliberately does not implement `std::error::Error`, so
/// that every error type converts into it.
#[derive(Clone)]
pub struct TaskError {
    message: String,
    retryable: bool,
}

impl TaskError {
    /// A retryable failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that the engine must not retry.
    pub fn non_retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    pub(crate) fn from_parts(message: String, retryable: bool) -> Self {
        Self { message, retryable }
    }

    /// Whether the engine may retry the task after this failure.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The failure message reported to the engine.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("message", &self.message)
            .field("retryable", &self.retryable)
            .finish()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E> From<E> for TaskError
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + 'static,
{
    fn from(error: E) -> Self {
        // `anyhow::Error` hides the type of the error it wraps once boxed (the box holds
        // anyhow's own wrapper, and its `source()` starts below the wrapped error), so its
        // chain is read through anyhow itself.
        #[cfg(feature = "anyhow")]
        let anyhow_stops = (&error as &dyn std::any::Any)
            .downcast_ref::<anyhow::Error>()
            .is_some_and(|e| e.chain().any(stops_here));
        #[cfg(not(feature = "anyhow"))]
        let anyhow_stops = false;
        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
        let retryable = !(anyhow_stops || stops_retries(error.as_ref()));
        // The message keeps the whole chain of causes, as a log line would.
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { message, retryable }
    }
}

/// Whether `error`, or any error in its chain of causes, says retrying cannot help: a
/// [`NonRetryable`], or an SDK error about a payload that will not decode on a retry either.
fn stops_retries(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if stops_here(e) {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether this one error says retrying cannot help.
fn stops_here(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<NonRetryable>() {
        return true;
    }
    e.downcast_ref::<crate::Error>()
        .is_some_and(crate::Error::is_permanent)
}

/// An error that tells the engine not to retry the task.
///
/// ```
/// use hatchet_rs::{NonRetryable, TaskError};
/// fn check(amount: i64) -> Result<(), TaskError> {
///     if amount < 0 {
///         return Err(NonRetryable::new("amount must not be negative").into());
///     }
///     Ok(())
/// }
/// assert!(!check(-1).unwrap_err().is_retryable());
/// ```
#[derive(Debug)]
pub struct NonRetryable(String);

impl NonRetryable {
    /// Wraps `message` (or any error's text).
    pub fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for NonRetryable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NonRetryable {}

pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// A task body with its input decoding and output encoding, ready for the worker.
#[derive(Clone)]
pub(crate) struct ErasedTask(Arc<dyn Fn(Value, Context) -> TaskFuture + Send + Sync>);

impl fmt::Debug for ErasedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErasedTask")
    }
}

impl ErasedTask {
    pub(crate) fn new<I, O, E, F, Fut>(task_name: String, function: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(I, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let task_name: Arc<str> = task_name.into();
        let function = Arc::new(function);
        Self(Arc::new(move |input: Value, context: Context| {
            let task_name = task_name.clone();
            let function = function.clone();
            Box::pin(async move {
                // A payload that does not decode will not decode on a retry either.
                let input: I = payload::decode(&format!("the input of task `{task_name}`"), input)
                    .map_err(|e| TaskError::non_retryable(e.to_string()))?;
                let output = function(input, context).await.map_err(Into::into)?;
                encode_output(&task_name, &output)
            })
        }))
    }

    pub(crate) fn call(&self, input: Value, context: Context) -> TaskFuture {
        (self.0)(input, context)
    }
}

/// Task outputs must be JSON objects (the engine stores them as such, reference §3.1); `()`
/// and `None` become `{}`.
pub(crate) fn encode_output<O: Serialize>(task_name: &str, output: &O) -> Result<Value, TaskError> {
    let value = serde_json::to_value(output).map_err(|e| {
        TaskError::non_retryable(format!(
            "cannot encode the output of task `{task_name}` as JSON: {e}"
        ))
    })?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Default::default())),
        other => Err(TaskError::non_retryable(format!(
            "task `{task_name}` returned {}, but task outputs must be JSON objects: return a struct or a map",
            match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an array",
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("loading failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn any_error_converts_keeping_its_causes() {
        let err: TaskError = Outer(std::io::Error::other("disk full")).into();
        assert_eq!(err.message(), "loading failed: disk full");
        assert!(err.is_retryable());
        let err: TaskError = "plain text".into();
        assert_eq!(err.message(), "plain text");
    }

    #[test]
    fn non_retryable_is_found_anywhere_in_the_chain() {
        #[derive(Debug)]
        struct Wrapper(NonRetryable);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("charging failed")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err: TaskError = Wrapper(NonRetryable::new("card declined")).into();
        assert!(!err.is_retryable());
        assert_eq!(err.message(), "charging failed: card declined");
        let decode = crate::Error::InvalidPayload("parent `a` was skipped".into());
        assert!(!TaskError::from(decode).is_retryable());
        let network = crate::Error::Connection {
            message: "down".into(),
        };
        assert!(TaskError::from(network).is_retryable());
    }

    #[test]
    #[cfg(feature = "anyhow")]
    fn non_retryable_is_found_through_anyhow() {
        let plain: TaskError = anyhow::Error::new(NonRetryable::new("card declined")).into();
        assert!(!plain.is_retryable(), "{plain:?}");
        let with_context: TaskError = anyhow::Error::new(NonRetryable::new("card declined"))
            .context("charging order 7")
            .into();
        assert!(!with_context.is_retryable(), "{with_context:?}");
        assert_eq!(with_context.message(), "charging order 7: card declined");
        let nested: TaskError = anyhow::Error::new(NonRetryable::new("gone"))
            .context("inner")
            .context("outer")
            .into();
        assert!(!nested.is_retryable(), "{nested:?}");
        let decode: TaskError = anyhow::Error::new(crate::Error::InvalidPayload("bad".into()))
            .context("reading the parent")
            .into();
        assert!(!decode.is_retryable(), "{decode:?}");
        let question_mark = || -> Result<(), TaskError> {
            let step = || -> anyhow::Result<()> {
                Err(NonRetryable::new("no such customer"))?;
                Ok(())
            };
            step()?;
            Ok(())
        };
        assert!(!question_mark().unwrap_err().is_retryable());
        let retryable: TaskError = anyhow::anyhow!("timeout").context("calling the API").into();
        assert!(retryable.is_retryable());
        let too_large = crate::Error::PayloadTooLarge {
            what: "the event",
            size: 5,
            limit: 4,
        };
        assert!(!TaskError::from(too_large).is_retryable());
        let rejected = crate::Error::InvalidArgument("priority must be between 1 and 3".into());
        assert!(!TaskError::from(rejected).is_retryable());
    }

    #[test]
    fn non_retryable_survives_conversion() {
        let err: TaskError = NonRetryable::new("bad input").into();
        assert!(!err.is_retryable());
        assert_eq!(err.message(), "bad input");
        assert!(!TaskError::non_retryable("x").is_retryable());
    }

    #[test]
    fn outputs_must_be_objects() {
        assert_eq!(
            encode_output("t", &serde_json::json!({"a": 1})).expect("object"),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            encode_output("t", &()).expect("unit"),
            serde_json::json!({})
        );
        let err = encode_output("t", &5).unwrap_err();
        assert!(!err.is_retryable());
        assert!(
            err.message().contains("task `t` returned a number"),
            "{}",
            err.message()
        );
    }
}
