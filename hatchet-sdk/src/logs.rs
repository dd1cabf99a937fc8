//! Task logs travel to the engine from a queue, in order, so `ctx.log` never waits on the
//! network: one background task per client sends `PutLog` calls one at a time, retrying
//! blips, and a flush marker lets the worker make sure a task's lines are in before its
//! result.

use std::time::{Duration, Instant};

use hatchet_rs_proto::PutLogRequest;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::transport::Transport;

const POLICY: RetryPolicy = RetryPolicy::LOG_LINE;

enum Item {
    Line(PutLogRequest),
    Flush(oneshot::Sender<()>),
}

/// Handle on the log queue; dropping the last one ends the background task once the queue
/// is empty.
#[derive(Debug)]
pub(crate) struct LogShipper {
    queue: mpsc::UnboundedSender<Item>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Line(line) => write!(f, "Line({})", line.task_run_external_id),
            Item::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl LogShipper {
    pub(crate) fn spawn(transport: Transport) -> Self {
        let (queue, items) = mpsc::unbounded_channel();
        tokio::spawn(ship(transport, items));
        Self { queue }
    }

    /// Queues a line; it is sent after every line queued before it.
    pub(crate) fn send(&self, line: PutLogRequest) -> Result<()> {
        self.queue
            .send(Item::Line(line))
            .map_err(|_| Error::Connection {
                message: "the log queue has stopped (its runtime shut down)".to_owned(),
            })
    }

    /// Waits until every line queued so far was sent (or given up on), at most `limit`.
    pub(crate) async fn flush(&self, limit: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(limit, flushed).await;
        }
    }
}

async fn ship(transport: Transport, mut items: mpsc::UnboundedReceiver<Item>) {
    while let Some(item) = items.recv().await {
        match item {
            Item::Flush(done) => {
                let _ = done.send(());
            }
            Item::Line(line) => deliver(&transport, line).await,
        }
    }
}

async fn deliver(transport: &Transport, line: PutLogRequest) {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let size = prost::Message::encoded_len(&line);
        let sent = transport.events_for(size).put_log(line.clone()).await;
        let error = match sent {
            Ok(_) => return,
            Err(status) => Error::from(status),
        };
        let transient = matches!(error, Error::Connection { .. } | Error::Timeout(_));
        if !transient || POLICY.gives_up(started.elapsed()) {
            tracing::warn!(task_run_id = %line.task_run_external_id, %error, "dropping a task log line");
            return;
        }
        attempt += 1;
        tokio::time::sleep(POLICY.delay(attempt)).await;
    }
}
