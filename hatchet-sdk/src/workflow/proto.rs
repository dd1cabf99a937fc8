//! The one place a workflow definition becomes `v1.CreateWorkflowVersionRequest`
//! (reference §2.6, §5 step 1).

use hatchet_rs_proto::v1 as pb;

use crate::labels::desired_labels_to_proto;
use crate::namespace::Namespace;
use crate::priority::Priority;
use crate::workflow::options::{
    Concurrency, ConcurrencyStrategy, IdempotencyMethod, RateLimit, StickyStrategy,
};
use crate::workflow::{TaskDef, WorkflowDef, conditions};

pub(crate) fn workflow(def: &WorkflowDef, ns: &Namespace) -> pb::CreateWorkflowVersionRequest {
    pb::CreateWorkflowVersionRequest {
        name: ns.apply(&def.name),
        description: def.description.clone(),
        version: def.version.clone(),
        event_triggers: def.on_events.iter().map(|k| ns.apply(k)).collect(),
        cron_triggers: def.on_crons.clone(),
        tasks: def
            .tasks
            .iter()
            .chain(def.on_success.as_ref())
            .map(|t| task(def, t, ns))
            .collect(),
        concurrency: None,
        cron_input: def.cron_input.as_ref().map(|v| v.to_string()),
        on_failure_task: def.on_failure.as_ref().map(|t| task(def, t, ns)),
        sticky: def.sticky.map(|s| sticky(s) as i32),
        default_priority: def.default_priority.map(Priority::as_i32),
        concurrency_arr: def.concurrency.iter().map(concurrency).collect(),
        default_filters: def
            .default_filters
            .iter()
            .map(|f| pb::DefaultFilter {
                expression: f.expression.clone(),
                scope: f.scope.clone(),
                payload: f.payload.as_ref().map(|p| p.to_string().into_bytes()),
            })
            .collect(),
        input_json_schema: def
            .input_schema
            .as_ref()
            .map(|s| s.to_string().into_bytes()),
        idempotency: def.idempotency.as_ref().map(|i| pb::IdempotencyConfig {
            expression: i.expression.clone(),
            ttl_ms: i64::try_from(i.ttl.as_millis()).unwrap_or(i64::MAX),
            method: i.method.map(|m| match m {
                IdempotencyMethod::Ttl => pb::IdempotencyMethod::Ttl as i32,
                IdempotencyMethod::Status => pb::IdempotencyMethod::Status as i32,
            }),
        }),
    }
}

pub(crate) fn task(def: &WorkflowDef, task: &TaskDef, ns: &Namespace) -> pb::CreateTaskOpts {
    let (backoff_factor, backoff_max_seconds) = match task.backoff.map(|b| b.to_engine()) {
        Some(Ok((factor, max))) => (Some(factor), Some(max)),
        // Validation rejected bad backoff when the workflow was built.
        _ => (None, None),
    };
    pb::CreateTaskOpts {
        readable_id: task.name.clone(),
        action: ns.action_id(&def.name, &task.name),
        timeout: task.timeout.map(|d| d.to_string()).unwrap_or_default(),
        inputs: "{}".to_owned(),
        parents: task.parents.clone(),
        retries: task.retries,
        rate_limits: task.rate_limits.iter().map(rate_limit).collect(),
        worker_labels: desired_labels_to_proto(&task.desired_labels),
        backoff_factor,
        backoff_max_seconds,
        concurrency: task.concurrency.iter().map(concurrency).collect(),
        conditions: conditions::to_proto(ns, &task.wait_for, &task.skip_if, &task.cancel_if),
        schedule_timeout: task.schedule_timeout.map(|d| d.to_string()),
        is_durable: task.durable,
        slot_requests: task.effective_slot_requests().into_iter().collect(),
        batch: task.batch.as_ref().map(|b| b.options.to_proto(b.broadcast)),
    }
}

fn concurrency(c: &Concurrency) -> pb::Concurrency {
    pb::Concurrency {
        expression: c.expression.clone(),
        max_runs: c.max_runs,
        limit_strategy: c.strategy.map(|s| strategy(s) as i32),
        ..Default::default()
    }
}

fn strategy(s: ConcurrencyStrategy) -> pb::ConcurrencyLimitStrategy {
    match s {
        ConcurrencyStrategy::CancelInProgress => pb::ConcurrencyLimitStrategy::CancelInProgress,
        ConcurrencyStrategy::CancelNewest => pb::ConcurrencyLimitStrategy::CancelNewest,
        ConcurrencyStrategy::GroupRoundRobin => pb::ConcurrencyLimitStrategy::GroupRoundRobin,
        ConcurrencyStrategy::CancelQueuedExceptNewest => {
            pb::ConcurrencyLimitStrategy::CancelQueuedExceptNewest
        }
        ConcurrencyStrategy::CancelQueuedExceptOldest => {
            pb::ConcurrencyLimitStrategy::CancelQueuedExceptOldest
        }
    }
}

fn sticky(s: StickyStrategy) -> pb::StickyStrategy {
    match s {
        StickyStrategy::Soft => pb::StickyStrategy::Soft,
        StickyStrategy::Hard => pb::StickyStrategy::Hard,
    }
}

/// Static limits send only key and units: setting any expression field switches the engine to
/// its dynamic path (reference §3.2).
fn rate_limit(r: &RateLimit) -> pb::CreateTaskRateLimit {
    pb::CreateTaskRateLimit {
        key: r.key.clone(),
        units: r.units,
        key_expr: r.key_expr.clone(),
        units_expr: r.units_expr.clone(),
        limit_values_expr: r.limit_expr.clone(),
        duration: r.duration.map(|d| d.to_proto() as i32),
    }
}
