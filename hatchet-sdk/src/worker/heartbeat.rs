//! Heartbeats, every 4 s, on a thread of their own: a task that blocks its thread or hogs a
//! small runtime (a `#[tokio::test]` runtime has one thread) cannot stall them, so the engine
//! never takes a busy worker for dead and hands its running tasks to another worker.

use std::time::{Duration, SystemTime};

use hatchet_rs_proto::HeartbeatRequest;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::payload;
use crate::transport::Transport;
use crate::worker::stats::Counters;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(4);
const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(5);
/// The engine may refuse heartbeats until a re-opened stream is marked active; tolerate that
/// briefly after connecting instead of tearing the new stream down.
const HEARTBEAT_GRACE: Duration = Duration::from_secs(5);

/// A thread with its own runtime and its own connection, running the worker's heartbeats.
/// Dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Heartbeater {
    runtime: tokio::runtime::Handle,
    transport: Transport,
    _stop: oneshot::Sender<()>,
}

impl Heartbeater {
    /// Starts the thread; its connection to the engine is separate from the worker's, so its
    /// I/O is driven by its own runtime.
    pub(crate) fn start(config: &ClientConfig) -> Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = config.clone();
        std::thread::Builder::new()
            .name("hatchet-heartbeat".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::Connection {
                            message: format!("cannot start the heartbeat runtime: {e}"),
                        }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let transport = Transport::connect_lazy(&config);
                    let _ =
                        ready_tx.send(transport.map(|t| (t, tokio::runtime::Handle::current())));
                    // Serve heartbeat tasks until the worker lets go.
                    let _ = stopped.await;
                });
            })
            .map_err(|e| Error::Connection {
                message: format!("cannot start the heartbeat thread: {e}"),
            })?;
        let (transport, runtime) = ready_rx.recv().map_err(|_| Error::Connection {
            message: "the heartbeat thread stopped while starting".to_owned(),
        })??;
        Ok(Self {
            runtime,
            transport,
            _stop: stop,
        })
    }

    /// Heartbeats for `worker_id` until a heartbeat fails; the task resolves to that error.
    pub(crate) fn spawn(&self, worker_id: String, counters: Arc<Counters>) -> JoinHandle<Error> {
        self.runtime
            .spawn(heartbeat(self.transport.clone(), worker_id, counters))
    }
}

/// Heartbeats every 4 s; returns the error that should end the connection. A
/// FAILED_PRECONDITION means the engine saw the stream close, so the stream is re-opened.
async fn heartbeat(transport: Transport, worker_id: String, counters: Arc<Counters>) -> Error {
    // Heartbeats are tiny: never worth compressing.
    let mut dispatcher = transport.dispatcher_for(0);
    let connected_at = std::time::Instant::now();
    let mut interval = tokio::time::interval(HEARTBEAT_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let request = HeartbeatRequest {
            worker_id: worker_id.clone(),
            heartbeat_at: Some(payload::timestamp(SystemTime::now())),
        };
        let call = dispatcher.heartbeat(request);
        match tokio::time::timeout(HEARTBEAT_DEADLINE, call).await {
            Ok(Ok(_)) => counters.heartbeat_accepted(),
            Ok(Err(status))
                if status.code() == tonic::Code::FailedPrecondition
                    && connected_at.elapsed() < HEARTBEAT_GRACE =>
            {
                // The new stream may not be marked active yet: try again shortly.
                tokio::time::sleep(Duration::from_millis(500)).await;
                interval.reset_immediately();
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                // An engine without heartbeats keeps workers alive through the stream.
                std::future::pending::<()>().await;
            }
            Ok(Err(status)) => return Error::from(status),
            Err(_) => return Error::Timeout("heartbeat took longer than 5 s".to_owned()),
        }
    }
}
