//! Task logs travel to the engine from a bounded queue, so `ctx.log` never waits on the
//! network: one background task per client sends up to [`IN_FLIGHT`] `PutLog` calls at once
//! (the engine has no batched log call), retrying blips, and a flush marker lets the worker
//! make sure a task's lines are in before its result.
//!
//! Bounds: at most [`MAX_QUEUED_LOG_LINES`] lines and [`MAX_QUEUED_LOG_BYTES`] bytes wait for
//! the engine; a line beyond either is dropped and counted
//! ([`WorkerStats::log_lines_dropped`](crate::WorkerStats::log_lines_dropped)). A task's
//! result waits for its lines through a blip, but never behind an outage of the log path:
//! once the engine has refused lines for [`OUTAGE_GRACE`], a flush returns at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hatchet_rs_proto::PutLogRequest;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::transport::Transport;

const POLICY: RetryPolicy = RetryPolicy::LOG_LINE;

/// Most task log lines a client keeps waiting for the engine; later lines are dropped and
/// counted until the queue drains.
pub const MAX_QUEUED_LOG_LINES: usize = 10_000;
/// Most bytes of task log messages a client keeps waiting for the engine.
pub const MAX_QUEUED_LOG_BYTES: usize = 8 * 1024 * 1024;
/// `PutLog` calls in flight at once. The engine orders a task's lines by their creation
/// time, which each line carries, so lines sent side by side still read back in order.
const IN_FLIGHT: usize = 8;
/// How long a failing log path may hold a task's result back.
const OUTAGE_GRACE: Duration = Duration::from_secs(2);

enum Item {
    Line(PutLogRequest),
    Flush(oneshot::Sender<()>),
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Line(line) => write!(f, "Line({})", line.task_run_external_id),
            Item::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// What the queue's two ends share: its size, what it dropped, and whether the engine is
/// taking lines now.
#[derive(Debug, Default)]
struct Gauges {
    lines: AtomicUsize,
    bytes: AtomicUsize,
    dropped: AtomicU64,
    /// Unix milliseconds when the engine stopped taking lines (0: it takes them).
    outage_since: AtomicU64,
}

impl Gauges {
    /// Takes room for a line of `bytes`; false if the queue is full.
    fn reserve(&self, bytes: usize) -> bool {
        if self.lines.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED_LOG_LINES {
            self.lines.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let before = self.bytes.fetch_add(bytes, Ordering::SeqCst);
        if before.saturating_add(bytes) > MAX_QUEUED_LOG_BYTES {
            self.bytes.fetch_sub(bytes, Ordering::SeqCst);
            self.lines.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
        self.lines.fetch_sub(1, Ordering::SeqCst);
    }

    fn failing(&self) {
        let _ = self.outage_since.compare_exchange(
            0,
            unix_millis().max(1),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    fn working(&self) {
        self.outage_since.store(0, Ordering::SeqCst);
    }

    /// Whether the log path has been failing for longer than [`OUTAGE_GRACE`].
    fn in_outage(&self) -> bool {
        let since = self.outage_since.load(Ordering::SeqCst);
        let grace = u64::try_from(OUTAGE_GRACE.as_millis()).unwrap_or(u64::MAX);
        since != 0 && unix_millis().saturating_sub(since) >= grace
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Handle on the log queue; dropping the last one ends the background task once the queue
/// is empty.
#[derive(Debug)]
pub(crate) struct LogShipper {
    queue: mpsc::UnboundedSender<Item>,
    gauges: Arc<Gauges>,
}

impl LogShipper {
    pub(crate) fn spawn(transport: Transport) -> Self {
        let (queue, items) = mpsc::unbounded_channel();
        let gauges = Arc::new(Gauges::default());
        tokio::spawn(ship(transport, items, gauges.clone()));
        Self { queue, gauges }
    }

    /// Queues a line; it is sent after every line queued before it. A line that does not fit
    /// in the queue is dropped and counted (the task goes on).
    pub(crate) fn send(&self, line: PutLogRequest) -> Result<()> {
        let bytes = line.message.len();
        if !self.gauges.reserve(bytes) {
            let dropped = self.gauges.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Said once, then every thousandth line, not once a line.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::warn!(
                    dropped,
                    "the task log queue is full ({MAX_QUEUED_LOG_LINES} lines or {MAX_QUEUED_LOG_BYTES} bytes waiting for the engine); dropping log lines"
                );
            }
            return Ok(());
        }
        self.queue.send(Item::Line(line)).map_err(|_| {
            self.gauges.release(bytes);
            Error::Connection {
                message: "the log queue has stopped (its runtime shut down)".to_owned(),
            }
        })
    }

    /// Waits until every line queued so far was sent (or given up on), at most `limit`, and
    /// no longer once the log path has been failing for [`OUTAGE_GRACE`].
    pub(crate) async fn flush(&self, limit: Duration) {
        if self.gauges.in_outage() {
            return;
        }
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).is_ok() {
            let outage = async {
                // Polled, not notified: a flush is short, and waits only on a slow path.
                while !self.gauges.in_outage() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::select! {
                _ = tokio::time::timeout(limit, flushed) => {}
                () = outage => {}
            }
        }
    }

    /// Lines dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.gauges.dropped.load(Ordering::Relaxed)
    }
}

async fn ship(transport: Transport, mut items: mpsc::UnboundedReceiver<Item>, gauges: Arc<Gauges>) {
    let mut next = None;
    loop {
        let item = match next.take() {
            Some(item) => item,
            None => match items.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let first = match item {
            Item::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Item::Line(line) => line,
        };
        // The lines queued behind this one, up to a flush marker, go out side by side.
        let mut lines = vec![first];
        while lines.len() < IN_FLIGHT {
            match items.try_recv() {
                Ok(Item::Line(line)) => lines.push(line),
                Ok(flush) => {
                    next = Some(flush);
                    break;
                }
                Err(_) => break,
            }
        }
        futures::future::join_all(lines.into_iter().map(|line| {
            let (transport, gauges) = (&transport, &gauges);
            async move {
                let bytes = line.message.len();
                deliver(transport, line, gauges).await;
                gauges.release(bytes);
            }
        }))
        .await;
    }
}

async fn deliver(transport: &Transport, line: PutLogRequest, gauges: &Gauges) {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let size = prost::Message::encoded_len(&line);
        let sent = transport.events_for(size).put_log(line.clone()).await;
        let error = match sent {
            Ok(_) => {
                gauges.working();
                return;
            }
            Err(status) => Error::from(status),
        };
        // The engine's ingest rate limit answers RESOURCE_EXHAUSTED: wait and try again.
        let transient = matches!(
            error,
            Error::Connection { .. } | Error::Timeout(_) | Error::ResourceExhausted(_)
        );
        if !transient || POLICY.gives_up(started.elapsed()) {
            tracing::warn!(task_run_id = %line.task_run_external_id, %error, "dropping a task log line");
            return;
        }
        gauges.failing();
        attempt += 1;
        tokio::time::sleep(POLICY.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_refuses_lines_past_either_bound_and_takes_them_again_once_drained() {
        let gauges = Gauges::default();
        for _ in 0..MAX_QUEUED_LOG_LINES {
            assert!(gauges.reserve(1));
        }
        assert!(!gauges.reserve(1), "one line past the line bound");
        gauges.release(1);
        assert!(gauges.reserve(1), "room again after a line left");

        let gauges = Gauges::default();
        assert!(gauges.reserve(MAX_QUEUED_LOG_BYTES - 10));
        assert!(!gauges.reserve(11), "past the byte bound");
        assert!(gauges.reserve(10), "exactly at the byte bound");
        assert_eq!(gauges.lines.load(Ordering::SeqCst), 2);
    }
}
