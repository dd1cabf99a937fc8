//! The action stream: a `ListenV2` stream kept alive by heartbeats (see
//! [`heartbeat`](super::heartbeat)), every action handed to the
//! [`executor`](super::executor), re-opened with capped, jittered backoff whenever it ends,
//! and the worker registered again (see [`registration`](super::registration)) when the
//! engine no longer knows it (reference §5 steps 3-4).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hatchet_rs_proto::WorkerListenRequest;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::transport::Transport;
use crate::worker::executor::Executor;
use crate::worker::heartbeat::Heartbeater;
use crate::worker::registration::{Registration, register};

const POLICY: RetryPolicy = RetryPolicy::RECONNECT;
/// A stream that lived this long was healthy: its loss starts a fresh backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(5);

/// Errors after which retrying cannot help: the worker stops and reports them.
fn is_fatal(error: &Error) -> bool {
    matches!(error, Error::Unauthenticated(_) | Error::InvalidArgument(_))
        || matches!(
            error,
            Error::Status { code, .. }
                if matches!(code, tonic::Code::PermissionDenied | tonic::Code::Unimplemented)
        )
}

/// Why a connection ended.
enum Ended {
    Shutdown,
    /// The engine forgot the worker: register again.
    Unknown,
    /// Retrying cannot help (bad token, rejected worker).
    Fatal(Error),
    /// Anything else: reconnect after backoff.
    Lost {
        reason: String,
        /// The stream delivered at least one action before it ended.
        delivered: bool,
    },
}

/// Keeps the worker connected until `shutdown` fires, handing every action to `executor`.
/// Returns the error that stopped it, if retrying could not help.
pub(crate) async fn run(
    transport: Transport,
    heartbeater: Heartbeater,
    registration: Registration,
    worker_id: Arc<RwLock<String>>,
    executor: Arc<Executor>,
    shutdown: CancellationToken,
) -> Option<Error> {
    let mut failures = 0u32;
    let mut registered = true;
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        if !registered {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => return None,
                attempt = register(&transport, &registration) => attempt,
            };
            match attempt {
                Err(error) if is_fatal(&error) => {
                    tracing::error!(%error, "the engine refused the worker; stopping");
                    return Some(error);
                }
                Ok(id) => {
                    tracing::info!(worker_id = %id, "worker registered again");
                    if let Ok(mut current) = worker_id.write() {
                        *current = id;
                    }
                    registered = true;
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, failures, "worker registration failed");
                    if sleep_or_shutdown(POLICY.delay(failures), &shutdown).await {
                        return None;
                    }
                    continue;
                }
            }
        }
        let id = worker_id.read().map(|id| id.clone()).unwrap_or_default();
        let connected_at = Instant::now();
        match connection(&transport, &heartbeater, &id, &executor, &shutdown).await {
            Ended::Shutdown => return None,
            Ended::Fatal(error) => {
                tracing::error!(worker_id = %id, %error, "the engine refused the worker; stopping");
                return Some(error);
            }
            Ended::Unknown => {
                tracing::info!(worker_id = %id, "the engine no longer knows this worker");
                registered = false;
                // Back off here too, so an engine that keeps forgetting the worker is not
                // flooded with registrations.
                failures += 1;
                if sleep_or_shutdown(POLICY.delay(failures), &shutdown).await {
                    return None;
                }
            }
            Ended::Lost { reason, delivered } => {
                executor
                    .counters
                    .reconnects
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                failures = failures_after_loss(failures, delivered, connected_at.elapsed());
                tracing::info!(worker_id = %id, failures, %reason, "action stream lost; reconnecting");
                if sleep_or_shutdown(POLICY.delay(failures), &shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// The failure count that sets the delay before reconnecting after a stream ended. A stream
/// that lived a while, or that delivered work, was healthy: the worker reconnects promptly
/// instead of letting a flapping connection pile up backoff while work waits.
fn failures_after_loss(failures: u32, delivered: bool, lived: Duration) -> u32 {
    if delivered || lived >= HEALTHY_AFTER {
        1
    } else {
        failures.saturating_add(1)
    }
}

/// Sleeps; true if shutdown fired first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = shutdown.cancelled() => true,
    }
}

/// One `ListenV2` stream with its heartbeats.
async fn connection(
    transport: &Transport,
    heartbeater: &Heartbeater,
    worker_id: &str,
    executor: &Arc<Executor>,
    shutdown: &CancellationToken,
) -> Ended {
    // Heartbeats start before the stream is read: an engine may send the stream's headers
    // only with the first action, and it assigns nothing to a worker without fresh
    // heartbeats.
    let mut heartbeats = heartbeater.spawn(worker_id.to_owned(), executor.counters.clone());
    let mut dispatcher = transport.dispatcher();
    let open = dispatcher.listen_v2(WorkerListenRequest {
        worker_id: worker_id.to_owned(),
    });
    let mut delivered = false;
    let lost = |reason: String, delivered: bool| Ended::Lost { reason, delivered };
    let ended = tokio::select! {
        () = shutdown.cancelled() => Ended::Shutdown,
        beat = &mut heartbeats => heartbeat_ended(beat, false),
        opened = open => match opened {
            Err(status) if status.code() == tonic::Code::NotFound => Ended::Unknown,
            Err(status) => match Error::from(status) {
                error if is_fatal(&error) => Ended::Fatal(error),
                error => lost(error.to_string(), false),
            },
            Ok(response) => {
                executor.counters.listening.store(true, std::sync::atomic::Ordering::Relaxed);
                let mut stream = response.into_inner();
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break Ended::Shutdown,
                        beat = &mut heartbeats => break heartbeat_ended(beat, delivered),
                        message = stream.message() => match message {
                            Ok(Some(action)) => {
                                delivered = true;
                                executor.handle(action);
                            }
                            Ok(None) => break lost("the engine closed the stream".to_owned(), delivered),
                            Err(status) => break lost(status.to_string(), delivered),
                        },
                    }
                }
            }
        },
    };
    heartbeats.abort();
    executor
        .counters
        .listening
        .store(false, std::sync::atomic::Ordering::Relaxed);
    ended
}

fn heartbeat_ended(
    result: std::result::Result<Error, tokio::task::JoinError>,
    delivered: bool,
) -> Ended {
    let reason = match result {
        Ok(Error::NotFound(_)) => return Ended::Unknown,
        Ok(error) if is_fatal(&error) => return Ended::Fatal(error),
        Ok(error) => format!("heartbeat failed: {error}"),
        Err(e) => format!("heartbeat task ended: {e}"),
    };
    Ended::Lost { reason, delivered }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_delivered_work_reconnects_at_the_first_delay() {
        let short = Duration::from_millis(50);
        assert_eq!(failures_after_loss(7, true, short), 1);
        assert_eq!(failures_after_loss(7, false, HEALTHY_AFTER), 1);
        assert_eq!(failures_after_loss(7, false, short), 8);
        assert!(POLICY.delay(failures_after_loss(7, true, short)) <= Duration::from_millis(200));
    }
}
