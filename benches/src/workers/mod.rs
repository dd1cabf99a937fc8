//! The worker side: what this binary runs when re-executed with `--worker raw|rust`.
//!
//! The `rust-batch` peer serves the same two tasks as batch tasks (batches of up to 100,
//! flushed every 10 ms), so its figures are per item.
//!
//! Both workers serve the same two standalone tasks as `python/worker.py` and
//! `go-worker/main.go`: `noop`, which
//! returns `{"started_at_us": <unix time in µs when it started>}`, and `sleep`, which sleeps
//! `--sleep-ms` and returns `{}`.

mod raw;
mod sdk;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::BoxError;
use crate::cli::{Options, Peer};
use crate::spawn::READY_LINE;

/// Serves `peer`'s tasks until the process is killed.
pub(crate) async fn serve(peer: Peer, options: &Options) -> Result<(), BoxError> {
    match peer {
        Peer::Raw => raw::serve(options).await,
        Peer::Rust => sdk::serve(options).await,
        Peer::RustBatch => sdk::serve_batch(options).await,
        Peer::Go => Err("the go worker is go-worker/main.go, not this binary".into()),
        Peer::Python => Err("the python worker is python/worker.py, not this binary".into()),
    }
}

/// The wall clock in µs since the Unix epoch: what `noop` returns as its start time.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Tells the parent the worker is registered and listening.
fn announce_ready() {
    println!("{READY_LINE}");
}
