//! What happens to a task after assignment, one submodule per concern: what workers report
//! (STARTED, COMPLETED, FAILED, CANCELLED, timeout refreshes, slot releases), completion
//! with DAG progression, the on-failure task and the end of a run, retries with backoff,
//! cancellation, replay, and the results clients read back.

pub(crate) mod batches;
mod cancel;
mod completion;
pub(crate) mod conditions;
pub(crate) mod pause;
mod replay;
mod results;
mod retries;
mod selection;
mod worker_events;
