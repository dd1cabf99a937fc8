//! Fault injection: streams that break, connections that are refused, workers that hang.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tonic::Status;

use super::shared::Shared;
use super::state::State;

impl State {
    /// Ends every `ListenV2`, `SubscribeToWorkflowRuns` and `SubscribeToWorkflowEvents`
    /// stream with UNAVAILABLE.
    pub(crate) fn drop_all_streams(&mut self) {
        let dropped = || Status::unavailable("stream dropped by the test engine (injected fault)");
        for worker in self.workers.values_mut() {
            if let Some(listener) = worker.listener.take() {
                let _ = listener.sender.send(Err(dropped()));
            }
        }
        for sub in self.run_subs.drain(..) {
            let _ = sub.sender.send(Err(dropped()));
        }
        for sub in self.event_subs.drain(..) {
            let _ = sub.sender.send(Err(dropped()));
        }
    }

    /// Forgets a worker, as an engine that lost its worker rows would: its stream ends and
    /// every later call for it answers NOT_FOUND.
    pub(crate) fn forget_worker(&mut self, worker_id: &str) {
        if let Some(worker) = self.workers.get_mut(worker_id) {
            worker.forgotten = true;
            if let Some(listener) = worker.listener.take() {
                let _ = listener.sender.send(Err(Status::unavailable(
                    "worker forgotten by the test engine",
                )));
            }
        }
    }

    /// Ends every stream quietly, for shutdown.
    pub(crate) fn close_all_streams(&mut self) {
        for worker in self.workers.values_mut() {
            worker.listener = None;
        }
        self.run_subs.clear();
        self.event_subs.clear();
    }
}

impl Shared {
    pub(crate) fn refuse_for(&self, duration: Duration) {
        *self
            .refuse_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + duration);
    }
}

/// Accepted connections, minus those that arrive while the engine refuses connections
/// (they are closed at once, which a client sees as UNAVAILABLE).
pub(crate) fn incoming(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> impl Stream<Item = Result<TcpStream, std::io::Error>> {
    futures::stream::unfold((listener, shared), |(listener, shared)| async move {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    if shared.refusing() {
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    return Some((Ok(stream), (listener, shared)));
                }
                // Out of file descriptors and the like: wait a little and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
}

/// Binds the engine's listener.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
