//! `v1.AdminService/PutWorkflow` validation, mirroring the engine's rules and messages
//! (reference §3.2): names, durations, action ids, parents, cycles, enum values, ranges, crons.
//!
//! The engine reports most problems as INVALID_ARGUMENT with the validator's text
//! ("Validation failed with the following errors:\n0: validation failed on field '…': …");
//! a few checks happen outside its validator and surface as INTERNAL with a plain message
//! (no tasks, missing action or name, malformed action id, cycles), which this engine
//! reproduces.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use hatchet_rs_proto::v1;
use regex::Regex;
use tonic::{Code, Status};

use super::cron;
use super::expressions::{self, CelEnv};
use super::model::TaskDef;

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9.\-_]+$").unwrap_or_else(|e| unreachable!("name regex: {e}"))
});
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h))+$")
        .unwrap_or_else(|e| unreachable!("duration regex: {e}"))
});

const NAME_ERR: &str = "Hatchet names must match the regex ^[a-zA-Z0-9\\.\\-_]+$";
const ACTION_ERR: &str =
    "Invalid action ID. Action IDs must be in the format <integrationId>:<verb>";
const CRON_ERR: &str = "Invalid cron expression";
pub(crate) const DURATION_ERR: &str = "Invalid duration. Durations must be one or more <number><unit> components, where unit is one of: 'ms', 's', 'm', 'h'. For example: '10s', '1h30m', '1.5h'";

/// Default execution timeout of a task.
pub(crate) const DEFAULT_TIMEOUT: &str = "60s";
/// Default schedule timeout of a task.
pub(crate) const DEFAULT_SCHEDULE_TIMEOUT: &str = "5m";

/// Whether `s` is a duration the engine accepts.
pub(crate) fn is_duration(s: &str) -> bool {
    DURATION.is_match(s) && parse_duration(s).is_some()
}

/// Parses a Go-style duration made of `<number><unit>` parts (units ms, s, m, h).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    if !DURATION.is_match(s) {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, seconds) = if rest.starts_with("ms") {
            ("ms", 0.001)
        } else if rest.starts_with('s') {
            ("s", 1.0)
        } else if rest.starts_with('m') {
            ("m", 60.0)
        } else if rest.starts_with('h') {
            ("h", 3600.0)
        } else {
            return None;
        };
        rest = &rest[unit.len()..];
        total += number * seconds;
    }
    // Go's `time.ParseDuration` refuses what does not fit in an int64 of nanoseconds.
    if total > MAX_DURATION_SECS {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The longest duration the engine takes: Go's `time.Duration` is an int64 of nanoseconds
/// (`2562047h47m16.854775807s`, about 292 years).
pub(crate) const MAX_DURATION_SECS: f64 = 9_223_372_036.854_775;

/// A checked registration, ready to store.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) tasks: Vec<TaskDef>,
    pub(crate) on_failure: Option<TaskDef>,
}

/// The engine's action-id normalisation: service first letter lower-cased, verb lower-cased,
/// subresource first letter lower-cased (reference §3.2).
pub(crate) fn normalize_action(action: &str) -> Result<String, Status> {
    let parts: Vec<&str> = action.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(Status::new(
            Code::Internal,
            format!("invalid action id {action}, must have at least 2 strings separated : (colon)"),
        ));
    }
    let mut out = vec![first_to_lower(parts[0]), parts[1].to_lowercase()];
    if let Some(sub) = parts.get(2) {
        out.push(first_to_lower(sub));
    }
    Ok(out.join(":"))
}

fn first_to_lower(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

struct Errors(Vec<String>);

impl Errors {
    fn field(&mut self, field: &str, suffix: &str) {
        self.0
            .push(format!("validation failed on field '{field}': {suffix}"));
    }
    fn condition(&mut self, field: &str, condition: &str, param: &str, got: &str) {
        let param = if param.is_empty() {
            String::new()
        } else {
            format!(" [ {param} ]: got {got}")
        };
        self.0.push(format!(
            "validation failed on field '{field}': on condition '{condition}'{param}"
        ));
    }
}

/// Options this engine does not enforce: refused with a message naming each, so a test can
/// never pass on an option that was silently ignored.
pub(crate) fn refuse_unenforced(req: &v1::CreateWorkflowVersionRequest) -> Result<(), Status> {
    let mut refused = Vec::new();
    let tasks = req.tasks.iter().chain(req.on_failure_task.as_ref());
    for task in tasks {
        if task.batch.is_some() {
            // The engine runs every batch in one `default` slot whatever the task asks for,
            // and keeps no event log for it: refused rather than silently ignored.
            if task.is_durable {
                refused.push(format!(
                    "CreateTaskOpts.batch with is_durable (task '{}'): the engine runs a batch in one default slot and keeps no durable event log for it",
                    task.readable_id
                ));
            }
            if task
                .slot_requests
                .iter()
                .any(|(slot, units)| slot != "default" || *units != 1)
            {
                refused.push(format!(
                    "CreateTaskOpts.batch with slot_requests (task '{}'): the engine runs each batch in one default slot whatever the task requests",
                    task.readable_id
                ));
            }
        }
        for c in &task.concurrency {
            refused.extend(newer_concurrency_fields(c, &task.readable_id));
        }
    }
    for c in req.concurrency.iter().chain(&req.concurrency_arr) {
        refused.extend(newer_concurrency_fields(c, "workflow"));
    }
    if refused.is_empty() {
        return refuse_waiting_single_task(req);
    }
    Err(Status::unimplemented(format!(
        "the in-process engine does not enforce these options yet, so it refuses them rather than ignore them: {}",
        refused.join("; ")
    )))
}

/// The real engine (v0.104.7) accepts a one-task workflow whose task waits on a sleep or a
/// user event, then never creates its runs (the trigger returns an id that never exists).
/// Refused here, with the way out, rather than mirrored.
fn refuse_waiting_single_task(req: &v1::CreateWorkflowVersionRequest) -> Result<(), Status> {
    let [task] = req.tasks.as_slice() else {
        return Ok(());
    };
    let waits = task
        .conditions
        .as_ref()
        .is_some_and(|c| !c.sleep_conditions.is_empty() || !c.user_event_conditions.is_empty());
    if !waits {
        return Ok(());
    }
    Err(Status::unimplemented(format!(
        "task '{}' of a one-task workflow waits on a sleep or an event: Hatchet's engine never creates runs of such a workflow, so the in-process engine refuses it; give the task a parent (a first task it runs after)",
        task.readable_id
    )))
}

fn newer_concurrency_fields(c: &v1::Concurrency, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    if c.name.is_some() || c.is_tenant_scoped.is_some() {
        out.push(format!(
            "Concurrency.name / is_tenant_scoped ({at}): tenant-scoped concurrency (newer than engine v0.104.7)"
        ));
    }
    if c.max_runs_expression.is_some() {
        out.push(format!(
            "Concurrency.max_runs_expression ({at}): newer than engine v0.104.7"
        ));
    }
    out
}

/// A `min=`/`max=` tag on an int32 field: the validator prints no value for it.
fn range(errors: &mut Errors, field: &str, value: i32, min: i32, max: i32) {
    if value < min {
        errors.condition(field, "min", &min.to_string(), "invalid type");
    } else if value > max {
        errors.condition(field, "max", &max.to_string(), "invalid type");
    }
}

/// Checks a `CreateWorkflowVersionRequest` the way the engine does.
pub(crate) fn check(req: &v1::CreateWorkflowVersionRequest) -> Result<Checked, Status> {
    // Conversion step: plain errors (INTERNAL) and missing parents (INVALID_ARGUMENT).
    if req.tasks.is_empty() {
        return Err(Status::internal("tasks list cannot be nil"));
    }
    let tasks = convert_tasks(&req.tasks)?;
    let on_failure = match &req.on_failure_task {
        Some(task) => convert_tasks(std::slice::from_ref(task))?
            .into_iter()
            .next(),
        None => None,
    };
    for c in req.concurrency.iter().chain(&req.concurrency_arr) {
        if c.expression.is_empty() {
            return Err(Status::invalid_argument(
                "CEL expression is required for concurrency",
            ));
        }
    }

    // Validator step: every problem, in field order, in one INVALID_ARGUMENT.
    let mut errors = Errors(Vec::new());
    let root = "CreateWorkflowVersionOpts";
    if req.name.is_empty() {
        errors.condition(&format!("{root}.Name"), "required", "", "");
    } else if !NAME.is_match(&req.name) {
        errors.field(&format!("{root}.Name"), NAME_ERR);
    }
    for (i, expression) in req.cron_triggers.iter().enumerate() {
        if cron::parse(expression).is_none() {
            errors.field(&format!("{root}.CronTriggers[{i}]"), CRON_ERR);
        }
    }
    if req.tasks.is_empty() {
        errors.condition(&format!("{root}.Tasks"), "min", "1", "invalid type");
    }
    for (i, task) in req.tasks.iter().enumerate() {
        check_task(&mut errors, &format!("{root}.Tasks[{i}]"), task);
    }
    if let Some(task) = &req.on_failure_task {
        check_task(&mut errors, &format!("{root}.OnFailure"), task);
    }
    for (i, c) in req
        .concurrency
        .iter()
        .chain(&req.concurrency_arr)
        .enumerate()
    {
        check_strategy(&mut errors, &format!("{root}.Concurrency[{i}]"), c);
    }
    if let Some(idempotency) = &req.idempotency {
        if let Err(e) = expressions::check(&idempotency.expression, CelEnv::Workflow) {
            errors.field(
                &format!("{root}.Idempotency.Expression"),
                &format!("Invalid CEL expression: {e}"),
            );
        }
        if idempotency.ttl_ms < 1 {
            errors.condition(
                &format!("{root}.Idempotency.TtlMs"),
                "min",
                "1",
                &idempotency.ttl_ms.to_string(),
            );
        }
    }
    if let Some(sticky) = req.sticky
        && v1::StickyStrategy::try_from(sticky).is_err()
    {
        errors.condition(
            &format!("{root}.Sticky"),
            "oneof",
            "SOFT HARD",
            &format!("'{sticky}'"),
        );
    }
    if let Some(priority) = req.default_priority
        && !(1..=3).contains(&priority)
    {
        let condition = if priority < 1 { "min" } else { "max" };
        let param = if priority < 1 { "1" } else { "3" };
        errors.condition(
            &format!("{root}.DefaultPriority"),
            condition,
            param,
            "invalid type",
        );
    }
    if !errors.0.is_empty() {
        let mut message = String::from("Validation failed with the following errors:\n");
        for (i, e) in errors.0.iter().enumerate() {
            message.push_str(&format!("{i}: {e}\n"));
        }
        return Err(Status::invalid_argument(message));
    }

    // Repository step: duplicate names and cycles.
    let mut seen = HashSet::new();
    for task in &tasks {
        if !seen.insert(task.readable_id.as_str()) {
            return Err(Status::invalid_argument(format!(
                "workflow {} has two tasks named '{}': task names must be unique",
                req.name, task.readable_id
            )));
        }
    }
    if has_cycle(&tasks) {
        return Err(Status::new(
            Code::Internal,
            format!("job {} has a cycle", req.name),
        ));
    }
    Ok(Checked { tasks, on_failure })
}

fn check_task(errors: &mut Errors, at: &str, task: &v1::CreateTaskOpts) {
    if let Some(batch) = &task.batch {
        let at = format!("{at}.BatchConfig");
        if batch.batch_max_size == 0 {
            errors.condition(&format!("{at}.BatchMaxSize"), "required", "", "");
        } else {
            range(
                errors,
                &format!("{at}.BatchMaxSize"),
                batch.batch_max_size,
                1,
                100_000,
            );
        }
        if let Some(ms) = batch.batch_max_interval_ms {
            range(errors, &format!("{at}.BatchMaxInterval"), ms, 1, 86_400_000);
        }
        if let Some(runs) = batch.batch_group_max_runs {
            range(errors, &format!("{at}.BatchGroupMaxRuns"), runs, 1, 10_000);
        }
    }
    if !NAME.is_match(&task.readable_id) {
        errors.field(&format!("{at}.ReadableId"), NAME_ERR);
    }
    let action_ok = normalize_action(&task.action).is_ok_and(|a| {
        let mut parts = a.split(':');
        parts.next().is_some_and(|s| !s.is_empty()) && parts.next().is_some_and(|v| !v.is_empty())
    });
    if !action_ok {
        errors.field(&format!("{at}.Action"), ACTION_ERR);
    }
    if !task.timeout.is_empty() && !is_duration(&task.timeout) {
        errors.field(&format!("{at}.Timeout"), DURATION_ERR);
    }
    if let Some(timeout) = &task.schedule_timeout
        && !is_duration(timeout)
    {
        errors.field(&format!("{at}.ScheduleTimeout"), DURATION_ERR);
    }
    for (j, parent) in task.parents.iter().enumerate() {
        if !NAME.is_match(parent) {
            errors.field(&format!("{at}.Parents[{j}]"), NAME_ERR);
        }
    }
    if task.retries < 0 {
        errors.condition(
            &format!("{at}.Retries"),
            "min",
            "0",
            &task.retries.to_string(),
        );
    }
    if let Some(factor) = task.backoff_factor
        && !(1.0..=1000.0).contains(&factor)
    {
        let (condition, param) = if factor < 1.0 {
            ("min", "1")
        } else {
            ("max", "1000")
        };
        errors.condition(
            &format!("{at}.RetryBackoffFactor"),
            condition,
            param,
            "invalid type",
        );
    }
    // The engine only reads backoff_max_seconds when a factor is set.
    if task.backoff_factor.is_some()
        && let Some(max) = task.backoff_max_seconds
        && !(1..=86_400).contains(&max)
    {
        let (condition, param) = if max < 1 {
            ("min", "1")
        } else {
            ("max", "86400")
        };
        errors.condition(
            &format!("{at}.RetryBackoffMaxSeconds"),
            condition,
            param,
            &max.to_string(),
        );
    }
    let mut slot_types: Vec<_> = task.slot_requests.iter().collect();
    slot_types.sort();
    for (slot_type, units) in slot_types {
        if slot_type.is_empty() {
            errors.condition(&format!("{at}.SlotRequests"), "required", "", "");
        } else if *units <= 0 {
            errors.condition(
                &format!("{at}.SlotRequests[{slot_type}]"),
                "gt",
                "0",
                "invalid type",
            );
        }
    }
    for (j, (action, duration)) in conditions(task).into_iter().enumerate() {
        let field = format!("{at}.TriggerConditions[{j}]");
        match v1::Action::try_from(action) {
            Ok(v1::Action::Queue | v1::Action::Cancel | v1::Action::Skip) => {}
            Ok(other) => errors.condition(
                &format!("{field}.Action"),
                "oneof",
                "QUEUE CANCEL SKIP",
                &format!("'{}'", other.as_str_name()),
            ),
            Err(_) => errors.condition(
                &format!("{field}.Action"),
                "oneof",
                "QUEUE CANCEL SKIP",
                &format!("'{action}'"),
            ),
        }
        if let Some(duration) = duration
            && !is_duration(&duration)
        {
            errors.field(&format!("{field}.SleepDuration"), DURATION_ERR);
        }
    }
    for (j, c) in task.concurrency.iter().enumerate() {
        check_strategy(errors, &format!("{at}.Concurrency[{j}]"), c);
    }
    for (j, limit) in task.rate_limits.iter().enumerate() {
        let field = format!("{at}.RateLimits[{j}]");
        if limit.key.is_empty() && limit.key_expr.is_none() {
            errors.condition(&format!("{field}.Key"), "required", "", "");
        }
        let exprs = [
            ("KeyExpr", &limit.key_expr),
            ("UnitsExpr", &limit.units_expr),
            ("LimitValuesExpr", &limit.limit_values_expr),
        ];
        for (name, expr) in exprs {
            if let Some(expr) = expr
                && let Err(e) = expressions::check(expr, CelEnv::StepRun)
            {
                errors.field(
                    &format!("{field}.{name}"),
                    &format!("Invalid CEL expression: {e}"),
                );
            }
        }
    }
}

/// (action, sleep duration) of every condition of a task, in the engine's order.
fn conditions(task: &v1::CreateTaskOpts) -> Vec<(i32, Option<String>)> {
    let Some(c) = &task.conditions else {
        return Vec::new();
    };
    let base = |b: &Option<v1::BaseMatchCondition>| b.as_ref().map_or(0, |b| b.action);
    let mut out = Vec::new();
    out.extend(
        c.user_event_conditions
            .iter()
            .map(|e| (base(&e.base), None)),
    );
    out.extend(
        c.sleep_conditions
            .iter()
            .map(|s| (base(&s.base), Some(s.sleep_for.clone()))),
    );
    out.extend(
        c.parent_override_conditions
            .iter()
            .map(|p| (base(&p.base), None)),
    );
    out
}

fn check_strategy(errors: &mut Errors, at: &str, c: &v1::Concurrency) {
    if !c.expression.is_empty()
        && let Err(e) = expressions::check(&c.expression, CelEnv::Workflow)
    {
        errors.field(
            &format!("{at}.Expression"),
            &format!("Invalid CEL expression: {e}"),
        );
    }
    let Some(strategy) = c.limit_strategy else {
        return;
    };
    let name = v1::ConcurrencyLimitStrategy::try_from(strategy)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_else(|_| strategy.to_string());
    if !matches!(
        name.as_str(),
        "CANCEL_IN_PROGRESS" | "GROUP_ROUND_ROBIN" | "CANCEL_NEWEST"
    ) {
        errors.condition(
            &format!("{at}.LimitStrategy"),
            "oneof",
            "CANCEL_IN_PROGRESS GROUP_ROUND_ROBIN CANCEL_NEWEST",
            &format!("'{name}'"),
        );
    }
}

fn convert_tasks(tasks: &[v1::CreateTaskOpts]) -> Result<Vec<TaskDef>, Status> {
    let mut defs = Vec::with_capacity(tasks.len());
    for (j, task) in tasks.iter().enumerate() {
        if task.action.is_empty() {
            return Err(Status::new(
                Code::Internal,
                format!("task at index {j} is missing required field 'Action'"),
            ));
        }
        if task.readable_id.is_empty() {
            return Err(Status::new(
                Code::Internal,
                format!("task at index {j} is missing required field 'ReadableId'"),
            ));
        }
        let action = normalize_action(&task.action)?;
        let timeout_text = if task.timeout.is_empty() {
            DEFAULT_TIMEOUT.to_owned()
        } else {
            task.timeout.clone()
        };
        let schedule_timeout = task
            .schedule_timeout
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE_TIMEOUT.to_owned());
        let mut slot_requests: BTreeMap<String, i32> = task
            .slot_requests
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if slot_requests.is_empty() {
            let slot_type = if task.is_durable {
                "durable"
            } else {
                "default"
            };
            slot_requests.insert(slot_type.to_owned(), 1);
        }
        let mut parents = Vec::new();
        for parent in &task.parents {
            if !parents.contains(parent) {
                parents.push(parent.clone());
            }
        }
        defs.push(TaskDef {
            step_id: uuid::Uuid::new_v4().to_string(),
            readable_id: task.readable_id.clone(),
            action,
            // Invalid durations are reported by the validator step; the defaults only stand
            // in until then.
            timeout: parse_duration(&timeout_text).unwrap_or(Duration::from_secs(60)),
            timeout_text,
            schedule_timeout: parse_duration(&schedule_timeout).unwrap_or(Duration::from_secs(300)),
            parents,
            retries: task.retries,
            backoff_factor: task.backoff_factor.map(f64::from),
            backoff_max_seconds: task
                .backoff_factor
                .map(|_| task.backoff_max_seconds.unwrap_or(86_400)),
            slot_requests,
            is_durable: task.is_durable,
            rate_limits: task.rate_limits.clone(),
            worker_labels: task.worker_labels.clone(),
            concurrency: task.concurrency.clone(),
            conditions: task.conditions.clone(),
            batch: task
                .batch
                .as_ref()
                .map(crate::model::BatchConfig::from_proto),
        });
    }
    let names: HashSet<&str> = defs.iter().map(|d| d.readable_id.as_str()).collect();
    for def in &defs {
        for parent in &def.parents {
            if !names.contains(parent.as_str()) {
                return Err(Status::invalid_argument(format!(
                    "dag parent not found: parent step '{parent}' not found for step '{}'",
                    def.readable_id
                )));
            }
        }
    }
    Ok(defs)
}

fn has_cycle(tasks: &[TaskDef]) -> bool {
    let parents: HashMap<&str, &[String]> = tasks
        .iter()
        .map(|t| (t.readable_id.as_str(), t.parents.as_slice()))
        .collect();
    // Kahn's algorithm: a cycle leaves tasks that never become ready.
    let mut done: HashSet<&str> = HashSet::new();
    loop {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(name, ps)| {
                !done.contains(*name) && ps.iter().all(|p| done.contains(p.as_str()))
            })
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            return done.len() != parents.len();
        }
        done.extend(ready);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), None);
        // Go's limit: an int64 of nanoseconds.
        assert_eq!(
            parse_duration("2562047h"),
            Some(Duration::from_secs(2_562_047 * 3600))
        );
        assert_eq!(parse_duration("2562048h"), None);
        assert_eq!(parse_duration("3000000000000000h"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn actions_are_normalised_like_the_engine() {
        assert_eq!(
            normalize_action("MyFlow:Step").ok().as_deref(),
            Some("myFlow:step")
        );
        assert_eq!(normalize_action("a:B:Cd").ok().as_deref(), Some("a:b:cd"));
        assert!(normalize_action("nocolon").is_err());
        assert!(normalize_action("a:b:c:d").is_err());
    }
}
