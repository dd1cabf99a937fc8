//! One pooled `SubscribeToWorkflowRuns` stream shared by every waiter of a client.
//!
//! Waiters hand their run id to a background task that owns the stream. The task sends each
//! new id once, resolves every waiter of a run when its `WorkflowRunEvent` arrives, and on
//! stream loss reconnects with backoff and re-subscribes every pending run (reference §5,
//! "Triggering and results").

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hatchet_rs_proto::{SubscribeToWorkflowRunsRequest, WorkflowRunEvent};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::transport::Transport;

/// After the stream has been down for the policy's limit, pending waiters get the error.
const POLICY: RetryPolicy = RetryPolicy::RUN_RESULTS;
/// A stream that lived this long counts as healthy: its loss starts a fresh failure count.
const HEALTHY_AFTER: Duration = Duration::from_secs(5);

type Reply = oneshot::Sender<Result<WorkflowRunEvent>>;

struct Watch {
    run_id: String,
    reply: Reply,
}

/// Handle on the background task; dropping the last one ends the task.
#[derive(Debug)]
pub(crate) struct ResultStream {
    watches: mpsc::UnboundedSender<Watch>,
}

impl ResultStream {
    pub(crate) fn spawn(transport: Transport) -> Self {
        let (watches, commands) = mpsc::unbounded_channel();
        tokio::spawn(serve(transport, commands));
        Self { watches }
    }

    /// Waits until the run finishes and returns its event.
    pub(crate) async fn wait(&self, run_id: &str) -> Result<WorkflowRunEvent> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Connection {
            message: "the run-result listener has stopped".to_owned(),
        };
        self.watches
            .send(Watch {
                run_id: run_id.to_owned(),
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[derive(Default)]
struct Pending(HashMap<String, Vec<Reply>>);

impl Pending {
    /// Records the waiter; true if the run id is new and must be sent to the engine.
    fn add(&mut self, watch: Watch) -> bool {
        // Waiters that gave up (a caller's timeout) are dropped here, so a long-lived client
        // does not accumulate them.
        if self.0.len() % 64 == 63 {
            self.prune();
        }
        let waiters = self.0.entry(watch.run_id).or_default();
        waiters.push(watch.reply);
        waiters.len() == 1
    }

    fn resolve(&mut self, event: WorkflowRunEvent) {
        if let Some(waiters) = self.0.remove(&event.workflow_run_id) {
            for waiter in waiters {
                let _ = waiter.send(Ok(event.clone()));
            }
        }
    }

    fn fail_all(&mut self, status: &tonic::Status) {
        for (_, waiters) in self.0.drain() {
            for waiter in waiters {
                let _ = waiter.send(Err(Error::from(status.clone())));
            }
        }
    }

    /// Forgets waiters that gave up (their future was dropped).
    fn prune(&mut self) {
        self.0.retain(|_, waiters| {
            waiters.retain(|w| !w.is_closed());
            !waiters.is_empty()
        });
    }
}

async fn serve(transport: Transport, mut commands: mpsc::UnboundedReceiver<Watch>) {
    let mut pending = Pending::default();
    let mut failures = 0u32;
    let mut down_since: Option<Instant> = None;
    loop {
        pending.prune();
        if pending.0.is_empty() {
            match commands.recv().await {
                Some(watch) => {
                    pending.add(watch);
                }
                None => return,
            }
        }

        let (requests, request_stream) = mpsc::unbounded_channel();
        for run_id in pending.0.keys() {
            let _ = requests.send(SubscribeToWorkflowRunsRequest {
                workflow_run_id: run_id.clone(),
            });
        }
        let (events, mut incoming) = mpsc::channel(64);
        let mut dispatcher = transport.dispatcher();
        // The call runs in its own task so new watches are accepted while it connects: an
        // engine may hold back response headers until the first run finishes.
        let call = tokio::spawn(async move {
            let result = dispatcher
                .subscribe_to_workflow_runs(UnboundedReceiverStream::new(request_stream))
                .await;
            let mut stream = match result {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    let _ = events.send(Err(status)).await;
                    return;
                }
            };
            loop {
                let item = match stream.message().await {
                    Ok(Some(event)) => Ok(event),
                    Ok(None) => Err(tonic::Status::unavailable("the engine closed the stream")),
                    Err(status) => Err(status),
                };
                let end = item.is_err();
                if events.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        let connected_at = Instant::now();

        let lost = loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(watch) => {
                        let run_id = watch.run_id.clone();
                        if pending.add(watch) {
                            let _ = requests.send(SubscribeToWorkflowRunsRequest { workflow_run_id: run_id });
                        }
                    }
                    None => {
                        call.abort();
                        return;
                    }
                },
                item = incoming.recv() => match item {
                    Some(Ok(event)) => {
                        failures = 0;
                        down_since = None;
                        pending.resolve(event);
                    }
                    Some(Err(status)) => break status,
                    None => break tonic::Status::unavailable("the run-result stream ended"),
                },
            }
        };
        call.abort();

        if connected_at.elapsed() >= HEALTHY_AFTER {
            failures = 0;
            down_since = None;
        }
        failures += 1;
        let down_for = down_since.get_or_insert_with(Instant::now).elapsed();
        tracing::debug!(failures, status = %lost, "run-result stream lost; reconnecting");
        // A refused token or request will not get better; an unreachable engine may.
        let hopeless = matches!(
            lost.code(),
            tonic::Code::Unauthenticated
                | tonic::Code::PermissionDenied
                | tonic::Code::InvalidArgument
                | tonic::Code::Unimplemented
        );
        if hopeless || POLICY.gives_up(down_for) {
            let status = tonic::Status::new(
                lost.code(),
                format!(
                    "lost the run-result stream for {}s: {}",
                    down_for.as_secs(),
                    lost.message()
                ),
            );
            pending.fail_all(&status);
            failures = 0;
            down_since = None;
            continue;
        }
        tokio::time::sleep(POLICY.delay(failures)).await;
    }
}
