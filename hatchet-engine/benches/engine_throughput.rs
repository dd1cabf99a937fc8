//! No-op task throughput of the in-process engine with a minimal raw-protocol worker, in
//! three runs side by side: plain tasks, tasks under a concurrency key and a rate limit, and
//! tasks drained from a 100,000-task backlog.
//!
//! ```text
//! cargo bench -p hatchet-rs-engine --bench engine_throughput -- [TASKS] [BACKLOG]
//! ```
//!
//! The worker is a hand-written tonic loop (Register, ListenV2, and STARTED + COMPLETED for
//! each action): the floor any SDK worker is compared against. Prints figures; asserts
//! nothing about speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hatchet_rs_engine::Engine;
use hatchet_rs_proto as pb;
use hatchet_rs_proto::dispatcher_client::DispatcherClient;
use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::admin_service_client::AdminServiceClient;
use hatchet_rs_proto::workflow_service_client::WorkflowServiceClient;
use tonic::Request;
use tonic::transport::Channel;

type Error = Box<dyn std::error::Error + Send + Sync>;

const BATCH: usize = 500;
const SLOTS: i32 = 1000;

fn authed<T>(token: &str, message: T) -> Result<Request<T>, Error> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Keys,
    Backlog,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Plain => "no keys",
            Mode::Keys => "concurrency key (100 groups) + rate limit",
            Mode::Backlog => "draining a backlog",
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let total = numbers.next().unwrap_or(20_000);
    let backlog = numbers.next().unwrap_or(100_000);
    let mut rows = Vec::new();
    for (mode, n) in [
        (Mode::Plain, total),
        (Mode::Keys, total),
        (Mode::Backlog, backlog),
    ] {
        let rate = run(mode, n).await?;
        println!(
            "engine_throughput: {:<42} {n:>7} tasks: {rate:>8.0} tasks/s",
            mode.label()
        );
        rows.push((mode, rate));
    }
    let plain = rows[0].1;
    for (mode, rate) in &rows[1..] {
        println!(
            "engine_throughput: {:<42} {:.2}x the no-key rate",
            mode.label(),
            rate / plain
        );
    }
    Ok(())
}

fn noop_workflow(mode: Mode) -> v1::CreateWorkflowVersionRequest {
    let mut task = v1::CreateTaskOpts {
        readable_id: "noop".to_owned(),
        action: "noop:noop".to_owned(),
        ..Default::default()
    };
    if mode == Mode::Keys {
        // Wide enough never to hold work back: the figure is the cost of the rules.
        task.concurrency.push(v1::Concurrency {
            expression: "input.group".to_owned(),
            max_runs: Some(SLOTS),
            limit_strategy: Some(v1::ConcurrencyLimitStrategy::GroupRoundRobin as i32),
            ..Default::default()
        });
        task.rate_limits.push(v1::CreateTaskRateLimit {
            key: "bench".to_owned(),
            units: Some(1),
            ..Default::default()
        });
    }
    v1::CreateWorkflowVersionRequest {
        name: "noop".to_owned(),
        tasks: vec![task],
        ..Default::default()
    }
}

/// Runs `total` no-op tasks through a fresh engine; tasks per second.
async fn run(mode: Mode, total: usize) -> Result<f64, Error> {
    let engine = Engine::start().await?;
    let token = engine.token().to_owned();
    let channel = Channel::from_shared(format!("http://{}", engine.addr()))?
        .connect()
        .await?;

    let mut admin = AdminServiceClient::new(channel.clone());
    admin
        .put_workflow(authed(&token, noop_workflow(mode))?)
        .await?;
    let mut workflows = WorkflowServiceClient::new(channel.clone());
    if mode == Mode::Keys {
        workflows
            .put_rate_limit(authed(
                &token,
                pb::PutRateLimitRequest {
                    key: "bench".to_owned(),
                    limit: i32::MAX,
                    duration: pb::RateLimitDuration::Second as i32,
                },
            )?)
            .await?;
    }
    let trigger = |from: usize, n: usize| pb::BulkTriggerWorkflowRequest {
        workflows: (from..from + n)
            .map(|i| v1::TriggerWorkflowRequest {
                name: "noop".to_owned(),
                input: format!(r#"{{"group":"g{}"}}"#, i % 100),
                ..Default::default()
            })
            .collect(),
    };
    let mut triggered = 0;
    if mode == Mode::Backlog {
        // The whole backlog is queued before any worker exists.
        while triggered < total {
            let n = BATCH.min(total - triggered);
            workflows
                .bulk_trigger_workflow(authed(&token, trigger(triggered, n))?)
                .await?;
            triggered += n;
        }
    }
    let mut dispatcher = DispatcherClient::new(channel.clone());
    let worker_id = dispatcher
        .register(authed(
            &token,
            pb::WorkerRegisterRequest {
                worker_name: "raw-floor".to_owned(),
                actions: vec!["noop:noop".to_owned()],
                slot_config: [("default".to_owned(), SLOTS)].into(),
                ..Default::default()
            },
        )?)
        .await?
        .into_inner()
        .worker_id;
    let mut actions = dispatcher
        .listen_v2(authed(
            &token,
            pb::WorkerListenRequest {
                worker_id: worker_id.clone(),
            },
        )?)
        .await?
        .into_inner();

    let done = Arc::new(AtomicUsize::new(0));
    let worker_done = done.clone();
    let worker_token = token.clone();
    let worker = tokio::spawn(async move {
        while let Ok(Some(action)) = actions.message().await {
            let mut client = dispatcher.clone();
            let token = worker_token.clone();
            let worker_id = worker_id.clone();
            let done = worker_done.clone();
            tokio::spawn(async move {
                for (event_type, payload) in [
                    (pb::StepActionEventType::StepEventTypeStarted, ""),
                    (pb::StepActionEventType::StepEventTypeCompleted, "{}"),
                ] {
                    let event = pb::StepActionEvent {
                        worker_id: worker_id.clone(),
                        task_run_external_id: action.task_run_external_id.clone(),
                        action_id: action.action_id.clone(),
                        event_type: event_type as i32,
                        event_payload: payload.to_owned(),
                        retry_count: Some(action.retry_count),
                        ..Default::default()
                    };
                    let Ok(request) = authed(&token, event) else {
                        return;
                    };
                    if client.send_step_action_event(request).await.is_err() {
                        return;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
    });

    // Heartbeats keep the worker eligible for the whole run.
    let mut heartbeats = DispatcherClient::new(channel.clone());
    let heartbeat_token = token.clone();
    let heartbeat_worker = engine.workers()[0].id.clone();
    let heartbeat = tokio::spawn(async move {
        loop {
            if let Ok(request) = authed(
                &heartbeat_token,
                pb::HeartbeatRequest {
                    worker_id: heartbeat_worker.clone(),
                    heartbeat_at: None,
                },
            ) {
                let _ = heartbeats.heartbeat(request).await;
            }
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
    });

    let started = Instant::now();
    while triggered < total {
        // Keep the backlog bounded so the figure measures throughput, not queue depth.
        while triggered - done.load(Ordering::Relaxed) > SLOTS as usize {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let n = BATCH.min(total - triggered);
        workflows
            .bulk_trigger_workflow(authed(&token, trigger(triggered, n))?)
            .await?;
        triggered += n;
    }
    while done.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the benchmark did not finish within 10 minutes".into());
        }
    }
    let elapsed = started.elapsed();
    worker.abort();
    heartbeat.abort();
    let completed = engine
        .runs()
        .iter()
        .filter(|r| r.status == hatchet_rs_engine::TaskStatus::Completed)
        .count();
    if completed != total {
        return Err(format!("{completed} of {total} runs completed").into());
    }
    engine.shutdown().await;
    Ok(total as f64 / elapsed.as_secs_f64())
}
