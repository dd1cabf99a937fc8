//! Event push throughput, measured at the client once per run (no worker involved: no
//! workflow listens to the key, so the engine only stores the events).

use std::time::Instant;

use hatchet_rs::{Client, Event};
use serde_json::json;

use crate::BoxError;
use crate::report::EventFigures;

const KEY: &str = "bench:event";

/// Pushes `n` events in bulk, then `n / 10` (at least one) with one `Push` call each.
pub(super) async fn measure(client: &Client, n: usize) -> Result<Option<EventFigures>, BoxError> {
    if n == 0 {
        return Ok(None);
    }
    let events = (0..n)
        .map(|i| Event::new(KEY, &json!({ "i": i })))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let pushed = client.events().bulk_push(events).await?;
    let bulk_per_s = pushed.len() as f64 / started.elapsed().as_secs_f64();

    let single = (n / 10).max(1);
    let started = Instant::now();
    for i in 0..single {
        client.events().push(KEY, &json!({ "i": i })).await?;
    }
    let single_per_s = single as f64 / started.elapsed().as_secs_f64();
    Ok(Some(EventFigures {
        bulk_events: n,
        bulk_events_per_s: bulk_per_s,
        single_events: single,
        single_events_per_s: single_per_s,
    }))
}
