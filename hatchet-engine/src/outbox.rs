//! What the engine sends down a client's stream (actions to a worker, run results, workflow
//! events, durable responses), bounded by what the client has not read yet: a client that
//! stops reading gets, after [`OUTBOX_LIMIT`] unread messages, a RESOURCE_EXHAUSTED that
//! says so, and its stream ends; the engine never holds unbounded memory for it. The engine
//! treats that stream as gone, as it treats one whose client left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tonic::Status;

/// Unread messages a stream may hold before it is closed.
pub(crate) const OUTBOX_LIMIT: usize = 10_000;

/// The sending half; clones share the count.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    sender: mpsc::UnboundedSender<Result<T, Status>>,
    shared: Arc<Count>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            shared: self.shared.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Count {
    unread: AtomicUsize,
    /// Latched once the limit was reached.
    closed: AtomicBool,
    limit: usize,
}

/// The stream closed (its client left, or read too slowly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// The receiving half, polled by the response stream.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    receiver: mpsc::UnboundedReceiver<Result<T, Status>>,
    shared: Arc<Count>,
}

/// A new outbox and its inbox, holding at most [`OUTBOX_LIMIT`] unread messages.
pub(crate) fn outbox<T>() -> (Outbox<T>, Inbox<T>) {
    with_limit(OUTBOX_LIMIT)
}

pub(crate) fn with_limit<T>(limit: usize) -> (Outbox<T>, Inbox<T>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Count {
        limit: limit.max(2),
        ..Count::default()
    });
    (
        Outbox {
            sender,
            shared: shared.clone(),
        },
        Inbox { receiver, shared },
    )
}

impl<T> Outbox<T> {
    /// Queues `item`; `Err(Closed)` if the client left or has too much unread (then the last
    /// message it reads is the RESOURCE_EXHAUSTED saying so).
    pub(crate) fn send(&self, item: Result<T, Status>) -> Result<(), Closed> {
        let count = &self.shared;
        if count.closed.load(Ordering::SeqCst) {
            return Err(Closed);
        }
        let unread = count.unread.fetch_add(1, Ordering::SeqCst) + 1;
        if unread >= count.limit {
            if !count.closed.swap(true, Ordering::SeqCst) {
                let _ = self.sender.send(Err(Status::resource_exhausted(format!(
                    "the stream's reader fell {} messages behind; the engine closed it (open it again and read faster)",
                    count.limit - 1
                ))));
            }
            return Err(Closed);
        }
        self.sender.send(item).map_err(|_| Closed)
    }

    /// Whether the client left or the stream was closed for reading too slowly.
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed() || self.shared.closed.load(Ordering::SeqCst)
    }
}

impl<T> Inbox<T> {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let polled = self.receiver.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            let _ = self
                .shared
                .unread
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
        polled
    }

    /// The next message, for code that awaits it.
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<Result<T, Status>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_falls_behind_gets_a_clear_error_and_nothing_more() {
        let (outbox, mut inbox) = with_limit::<u32>(4);
        assert!(outbox.send(Ok(1)).is_ok());
        assert!(outbox.send(Ok(2)).is_ok());
        assert!(outbox.send(Ok(3)).is_ok());
        assert_eq!(
            outbox.send(Ok(4)),
            Err(Closed),
            "the fourth unread message closes it"
        );
        assert!(outbox.is_closed());
        // Reading does not reopen it.
        assert_eq!(inbox.recv().await.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(outbox.send(Ok(5)), Err(Closed));
        assert_eq!(inbox.recv().await.map(|r| r.ok()), Some(Some(2)));
        assert_eq!(inbox.recv().await.map(|r| r.ok()), Some(Some(3)));
        let error = inbox.recv().await.expect("the error").unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert!(
            error.message().contains("fell 3 messages behind"),
            "{}",
            error.message()
        );
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_is_never_closed() {
        let (outbox, mut inbox) = with_limit::<u32>(3);
        for n in 0..100 {
            assert!(outbox.send(Ok(n)).is_ok());
            assert_eq!(inbox.recv().await.map(|r| r.ok()), Some(Some(n)));
        }
    }
}
