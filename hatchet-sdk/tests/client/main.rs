//! Client calls against a recording gRPC server: what goes on the wire, and how answers and
//! failures come back to the caller.

#![allow(clippy::unwrap_used)] // tests unwrap errors to inspect them

mod recorder;

mod config;
mod events;
mod runs;
mod tls;

use std::future::Future;
use std::time::Duration;

/// Fails the test instead of hanging when the client waits for something that never comes.
pub(crate) async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("the call did not finish within 20 s")
}
