//! The gRPC services. One type, [`EngineService`], implements every service the engine
//! serves; each file holds one service's methods. Authentication runs before any of them in
//! [`AuthCheck`].

mod admin;
mod dispatcher;
mod events;
mod workflows;

use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::shared::Shared;

/// Implements `Dispatcher`, `EventsService`, `WorkflowService`, `v1.AdminService` and
/// `v1.V1Dispatcher` over the shared engine state.
#[derive(Debug, Clone)]
pub(crate) struct EngineService {
    pub(crate) shared: Arc<Shared>,
}

/// Rejects calls without a valid token of this engine, and every call while the test
/// injects a refusal.
#[derive(Debug, Clone)]
pub(crate) struct AuthCheck {
    pub(crate) shared: Arc<Shared>,
}

impl Interceptor for AuthCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.shared.refusing() {
            return Err(Status::unavailable(
                "the test engine is refusing connections (injected fault)",
            ));
        }
        self.shared
            .auth
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .check(&request)?;
        Ok(request)
    }
}

/// A server stream fed by a channel, which runs `on_drop` when the client goes away or the
/// engine ends it.
pub(crate) struct Guarded<T> {
    receiver: crate::outbox::Inbox<T>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl<T> std::fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<T> Guarded<T> {
    pub(crate) fn new(
        receiver: crate::outbox::Inbox<T>,
        on_drop: impl FnOnce() + Send + 'static,
    ) -> Self {
        Self {
            receiver,
            on_drop: Some(Box::new(on_drop)),
        }
    }

    pub(crate) fn plain(receiver: crate::outbox::Inbox<T>) -> Self {
        Self {
            receiver,
            on_drop: None,
        }
    }
}

impl<T> Stream for Guarded<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// The boxed stream type tonic's generated servers expect.
pub(crate) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
