//! The error type of every client call.

use std::fmt;

use crate::config::ConfigError;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to a Hatchet engine.
///
/// gRPC failures are sorted by their status code into the variants a caller usually wants to
/// tell apart; each keeps the engine's message. Anything else lands in [`Error::Status`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is unusable; the message says which setting to fix.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The engine could not be reached, or the connection broke.
    #[error("cannot reach the Hatchet engine: {message}")]
    Connection {
        /// What failed, including the transport's own message.
        message: String,
    },

    /// The engine rejected the API token (gRPC `UNAUTHENTICATED`).
    #[error(
        "the Hatchet engine rejected the API token: {0} (check HATCHET_CLIENT_TOKEN: it must be a token minted by this engine)"
    )]
    Unauthenticated(String),

    /// The engine does not know the named workflow, run, worker or task (gRPC `NOT_FOUND`).
    #[error("not found: {0}")]
    NotFound(String),

    /// The engine rejected the request as malformed (gRPC `INVALID_ARGUMENT`).
    #[error("the Hatchet engine rejected the request: {0}")]
    InvalidArgument(String),

    /// A limit was hit: rate limit, tenant quota (gRPC `RESOURCE_EXHAUSTED`).
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),

    /// The engine refused the request for this token or tenant (REST 403).
    #[error("forbidden: {0}")]
    Forbidden(String),

    /// A REST call failed with a status no other variant names.
    #[error("the Hatchet REST API answered {status}: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The method, path and the engine's description.
        message: String,
    },

    /// The request conflicts with existing state (gRPC `ALREADY_EXISTS`).
    #[error("already exists: {0}")]
    AlreadyExists(String),

    /// A worker's start-up or shutdown hook failed.
    #[error("the worker's {hook} hook failed: {message}")]
    WorkerHook {
        /// `on_start` or `on_shutdown`.
        hook: &'static str,
        /// The hook's error.
        message: String,
    },

    /// The run was cancelled (by a client, a concurrency strategy, a timeout while queued or
    /// a cancel condition) before it finished: it has no output.
    #[error("workflow run {run_id} was cancelled")]
    RunCancelled {
        /// The workflow run id.
        run_id: String,
    },

    /// The workflow's idempotency key is held by another run: no run was created
    /// (gRPC `ALREADY_EXISTS` with the engine's `IdempotencyCollisionError` detail).
    #[error(
        "idempotency key collision: run {existing_run_id} already holds this workflow's idempotency key; no new run was created"
    )]
    IdempotencyCollision {
        /// The run that holds the key.
        existing_run_id: String,
    },

    /// Some runs of a bulk trigger collided on their idempotency keys: those were not
    /// created; every other run was.
    #[error(
        "{} runs of the bulk trigger were not created: their idempotency keys are held by runs {existing_run_ids:?}; {} runs were created",
        existing_run_ids.len(),
        created_run_ids.len()
    )]
    IdempotencyCollisions {
        /// The runs that were created, in request order.
        created_run_ids: Vec<String>,
        /// The runs holding the keys of the requests that were skipped.
        existing_run_ids: Vec<String>,
    },

    /// A bulk trigger sent in several calls failed part way: the runs of the earlier calls
    /// exist. Retry only the requests after them, or the created runs are duplicated.
    #[error("a bulk trigger failed after creating {} runs: {source}", created_run_ids.len())]
    BulkTriggerIncomplete {
        /// The runs created before the failure, in request order.
        created_run_ids: Vec<String>,
        /// Why the next call failed.
        #[source]
        source: Box<Error>,
    },

    /// The call did not finish in time (gRPC `DEADLINE_EXCEEDED` or a client-side timeout).
    #[error("timed out: {0}")]
    Timeout(String),

    /// Any other gRPC status.
    #[error("the Hatchet engine answered {code:?}: {message}")]
    Status {
        /// The gRPC status code.
        code: tonic::Code,
        /// The engine's message.
        message: String,
    },

    /// A message is larger than the configured gRPC size limit; it was not sent.
    #[error(
        "{what} is {size} bytes, over the {limit}-byte message limit (raise HATCHET_CLIENT_GRPC_MAX_SEND_MESSAGE_LENGTH or send less)"
    )]
    PayloadTooLarge {
        /// What was being sent.
        what: &'static str,
        /// Its encoded size in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },

    /// A value could not be turned into the JSON the engine expects, or the engine's JSON
    /// could not be turned into the requested type.
    #[error("{context}: {source}")]
    Json {
        /// What was being encoded or decoded.
        context: String,
        /// The serde error, which names the offending field path where it can.
        #[source]
        source: serde_json::Error,
    },

    /// A payload had the wrong JSON shape (for example, an input that is not an object).
    #[error("{0}")]
    InvalidPayload(String),

    /// A workflow run finished with failed tasks.
    #[error("{0}")]
    RunFailed(RunFailure),

    /// The engine sent something this SDK cannot interpret.
    #[error("unexpected answer from the Hatchet engine: {0}")]
    Protocol(String),

    /// A durable task's replay diverged from its event log: this invocation made a different
    /// call (sleep, wait, memo) where the log records another. It fails the same way on every
    /// retry, so it is not retried.
    #[error("{0}")]
    NonDeterminism(String),

    /// The engine evicted this invocation of a durable task (a newer one exists); the reason
    /// is the engine's.
    #[error("the durable task invocation was evicted by the engine: {0}")]
    DurableEvicted(String),
}

impl Error {
    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            context: context.into(),
            source,
        }
    }

    /// Whether the same call, or a task retried after this error, would fail the same way:
    /// a payload that does not decode or is too large, a request the engine rejects as
    /// malformed, bad configuration. Connection problems and timeouts are not permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Json { .. }
            | Error::InvalidPayload(_)
            | Error::PayloadTooLarge { .. }
            | Error::InvalidArgument(_)
            | Error::Config(_)
            | Error::NonDeterminism(_) => true,
            Error::BulkTriggerIncomplete { source, .. } => source.is_permanent(),
            _ => false,
        }
    }

    /// The gRPC status code behind this error, if it came from the engine.
    pub fn code(&self) -> Option<tonic::Code> {
        Some(match self {
            Error::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Error::ResourceExhausted(_) => tonic::Code::ResourceExhausted,
            Error::AlreadyExists(_)
            | Error::IdempotencyCollision { .. }
            | Error::IdempotencyCollisions { .. } => tonic::Code::AlreadyExists,
            Error::BulkTriggerIncomplete { source, .. } => return source.code(),
            Error::Timeout(_) => tonic::Code::DeadlineExceeded,
            Error::Connection { .. } => tonic::Code::Unavailable,
            Error::Status { code, .. } => *code,
            _ => return None,
        })
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        // The channel's own deadline (see `ClientConfigBuilder::request_timeout`) surfaces
        // as CANCELLED with `TimeoutExpired`'s text, and no source to downcast.
        let expired = status.code() == tonic::Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string();
        if expired {
            return Error::Timeout(
                "the engine did not answer within the request timeout".to_owned(),
            );
        }
        match status.code() {
            tonic::Code::Unauthenticated => Error::Unauthenticated(message),
            tonic::Code::NotFound => Error::NotFound(message),
            tonic::Code::InvalidArgument => Error::InvalidArgument(message),
            tonic::Code::ResourceExhausted => Error::ResourceExhausted(message),
            tonic::Code::AlreadyExists => {
                collision_detail(status.details()).unwrap_or(Error::AlreadyExists(message))
            }
            tonic::Code::DeadlineExceeded => Error::Timeout(message),
            // CANCELLED on the client side is the connection closing under the call
            // (hyper's "operation was canceled"): as transient as UNAVAILABLE.
            tonic::Code::Unavailable | tonic::Code::Cancelled => Error::Connection { message },
            code => Error::Status { code, message },
        }
    }
}

/// The idempotency collision an ALREADY_EXISTS status describes, if it has the engine's
/// detail (single or bulk trigger).
fn collision_detail(details: &[u8]) -> Option<Error> {
    use hatchet_rs_proto::{rpc, v1};
    if let Some(bulk) = rpc::find_detail::<v1::BulkTriggerIdempotencyCollisionError>(
        details,
        "v1.BulkTriggerIdempotencyCollisionError",
    ) {
        return Some(Error::IdempotencyCollisions {
            created_run_ids: bulk.successful_workflow_run_external_ids,
            existing_run_ids: bulk
                .collisions
                .into_iter()
                .map(|c| c.existing_run_external_id)
                .collect(),
        });
    }
    rpc::find_detail::<v1::IdempotencyCollisionError>(details, "v1.IdempotencyCollisionError").map(
        |single| Error::IdempotencyCollision {
            existing_run_id: single.existing_run_external_id,
        },
    )
}

/// The failed tasks of a finished workflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// The workflow run id.
    pub run_id: String,
    /// `(task name, error text)` for every task that failed.
    pub errors: Vec<(String, String)>,
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workflow run {} failed", self.run_id)?;
        for (task, error) in &self.errors {
            write!(f, "; task {task}: {error}")?;
        }
        Ok(())
    }
}
