//! One peer's measurement, in phases: warm-up, latency, throughput, RSS under load.

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use hatchet_rs::{Client, RunOptions, RunOutput, TriggerRequest, WorkflowRunRef};
use serde_json::json;

use super::launch::READY_TIMEOUT;
use crate::BoxError;
use crate::cli::{Options, Peer};
use crate::procfs::{self, TreeStats};
use crate::report::{Figures, Percentiles};
use crate::spawn::WorkerProcess;
use crate::workers::now_us;

/// Runs before anything is measured: connections, the result stream, the worker's first
/// tasks (and the short gap between the Python worker's READY and its open `ListenV2`).
const WARM_UP_RUNS: usize = 20;
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Measures `peer`, whose worker is `process`.
pub(super) async fn measure(
    client: &Client,
    options: &Options,
    peer: Peer,
    process: &mut WorkerProcess,
) -> Result<Figures, BoxError> {
    process.wait_ready(READY_TIMEOUT).await?;
    let pid = process.pid();
    let noop = peer.noop_workflow();

    bulk_run(client, &noop, WARM_UP_RUNS).await?;
    let idle = procfs::tree_stats(pid);

    let (to_start, to_result) = latency(client, &noop, options.latency_runs).await?;

    let before = procfs::tree_stats(pid);
    let started = Instant::now();
    bulk_run(client, &noop, options.tasks).await?;
    let elapsed = started.elapsed();
    let after = procfs::tree_stats(pid);

    let loaded = rss_under_load(client, &peer.sleep_workflow(), options.inflight, pid).await?;

    Ok(Figures {
        throughput_tasks_per_s: options.tasks as f64 / elapsed.as_secs_f64(),
        trigger_to_start_ms: Percentiles::of(to_start),
        trigger_to_result_ms: Percentiles::of(to_result).ok_or("no latency samples")?,
        cpu_us_per_task: after.cpu.saturating_sub(before.cpu).as_secs_f64() * 1e6
            / options.tasks as f64,
        rss_idle_kib: idle.rss_kib,
        rss_inflight_kib: loaded.rss_kib,
        worker_processes: loaded.processes,
    })
}

/// Triggers `n` runs of `workflow` in bulk and waits for every result.
async fn bulk_run(client: &Client, workflow: &str, n: usize) -> Result<Vec<RunOutput>, BoxError> {
    let requests = (0..n)
        .map(|_| TriggerRequest::new(workflow, &json!({})))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = client.runs().bulk_trigger(requests).await?;
    Ok(try_join_all(runs.iter().map(WorkflowRunRef::result)).await?)
}

/// Sequential single runs: trigger→start (from the start time the task returns) and
/// trigger→result, in ms.
async fn latency(
    client: &Client,
    workflow: &str,
    runs: usize,
) -> Result<(Vec<f64>, Vec<f64>), BoxError> {
    let mut to_start = Vec::with_capacity(runs);
    let mut to_result = Vec::with_capacity(runs);
    for _ in 0..runs {
        let triggered_at_us = now_us();
        let started = Instant::now();
        let run = client
            .runs()
            .trigger(workflow, &json!({}), RunOptions::new())
            .await?;
        let output = run.result().await?;
        to_result.push(started.elapsed().as_secs_f64() * 1e3);
        let task_started_us = output
            .tasks()
            .values()
            .find_map(|v| v.get("started_at_us")?.as_u64());
        if let Some(at) = task_started_us {
            to_start.push(at.saturating_sub(triggered_at_us) as f64 / 1e3);
        }
    }
    Ok((to_start, to_result))
}

/// Peak RSS of the worker's process tree while `n` sleeping runs are in flight.
async fn rss_under_load(
    client: &Client,
    workflow: &str,
    n: usize,
    pid: u32,
) -> Result<TreeStats, BoxError> {
    let all_done = bulk_run(client, workflow, n);
    tokio::pin!(all_done);
    let mut peak = procfs::tree_stats(pid);
    let mut sample = tokio::time::interval(RSS_SAMPLE_EVERY);
    loop {
        tokio::select! {
            done = &mut all_done => {
                done?;
                return Ok(peak);
            }
            _ = sample.tick() => {
                let now = procfs::tree_stats(pid);
                if now.rss_kib > peak.rss_kib {
                    peak = now;
                }
            }
        }
    }
}
