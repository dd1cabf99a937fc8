//! Definition checks, run when a workflow is built so mistakes surface before registration
//! with the workflow and task named. They mirror the engine's own validation (reference §3.2).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::workflow::ConcurrencyStrategy;
use crate::workflow::conditions::Condition;
use crate::workflow::{DefinitionError, TaskDef, WorkflowDef};

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Tasks no other task depends on.
pub(crate) fn leaves(tasks: &[TaskDef]) -> Vec<String> {
    let parents: HashSet<&str> = tasks
        .iter()
        .flat_map(|t| t.parents.iter().map(String::as_str))
        .collect();
    tasks
        .iter()
        .filter(|t| !parents.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect()
}

pub(crate) fn workflow(def: &WorkflowDef) -> Result<(), DefinitionError> {
    if def.name.trim().is_empty() {
        return Err(DefinitionError::new("the workflow name is empty"));
    }
    if def.tasks.is_empty() {
        return Err(DefinitionError::new("a workflow needs at least one task"));
    }
    for key in &def.on_events {
        if key.trim().is_empty() {
            return Err(DefinitionError::new("an event trigger has an empty key"));
        }
    }
    for cron in &def.on_crons {
        check_cron(cron)?;
    }
    for concurrency in &def.concurrency {
        check_concurrency(concurrency)?;
    }
    if def
        .idempotency
        .as_ref()
        .is_some_and(|i| i.expression.trim().is_empty() || i.ttl.is_zero())
    {
        return Err(DefinitionError::new(
            "idempotency needs a CEL expression and a time-to-live longer than zero",
        ));
    }
    if def
        .cron_input
        .as_ref()
        .is_some_and(|input| !input.is_object())
    {
        return Err(DefinitionError::new(
            "the cron input must be a JSON object (a struct or map)",
        ));
    }

    let mut seen = HashSet::new();
    for task in def.all_tasks() {
        if !is_valid_name(&task.name) {
            return Err(DefinitionError::new(
                "task names may only contain letters, digits, '.', '-' and '_'",
            )
            .in_task(&task.name));
        }
        if !seen.insert(task.name.as_str()) {
            return Err(DefinitionError::new(
                "two tasks have this name; task names must be unique",
            )
            .in_task(&task.name));
        }
        check_task(task).map_err(|e| e.in_task(&task.name))?;
    }
    check_parents(&def.tasks)?;
    if let [task] = def.tasks.as_slice()
        && task
            .wait_for
            .iter()
            .chain(&task.skip_if)
            .chain(&task.cancel_if)
            .any(Condition::waits)
    {
        // Observed on engine v0.104.7: it accepts the registration, answers the trigger with
        // a run id, and never creates the run.
        return Err(DefinitionError::new(
            "a one-task workflow (or standalone task) cannot wait on a sleep or an event: \
             Hatchet's engine never creates its runs. Give the task a parent, a first task it \
             runs after, and its sleeps and events count from that parent's completion",
        )
        .in_task(&task.name));
    }
    if let Some(task) = def.on_failure.as_ref().filter(|t| !t.parents.is_empty()) {
        return Err(DefinitionError::new(
            "the on-failure task cannot have parents: it runs when any task fails",
        )
        .in_task(&task.name));
    }
    Ok(())
}

fn check_task(task: &TaskDef) -> Result<(), DefinitionError> {
    if let Some(error) = task.errors.first() {
        return Err(DefinitionError::new(error.clone()));
    }
    if let Some(backoff) = task.backoff {
        backoff.to_engine()?;
    }
    if let Some(batch) = &task.batch {
        if let Some(problem) = batch.options.problems().into_iter().next() {
            return Err(DefinitionError::new(problem));
        }
        if task.durable {
            return Err(DefinitionError::new(
                "a batch task cannot be durable: the engine keeps no event log for a batch",
            ));
        }
        if !task.slot_requests.is_empty() {
            return Err(DefinitionError::new(
                "a batch task cannot request slots: the engine runs each batch in one `default` slot",
            ));
        }
    }
    for (what, duration) in [
        ("timeout", task.timeout),
        ("schedule_timeout", task.schedule_timeout),
    ] {
        if duration.is_some_and(|d| d.as_duration() < std::time::Duration::from_millis(1)) {
            return Err(DefinitionError::new(format!(
                "{what} must be at least 1ms (the engine counts in milliseconds)"
            )));
        }
    }
    for concurrency in &task.concurrency {
        check_concurrency(concurrency)?;
    }
    for limit in &task.rate_limits {
        if limit.key.trim().is_empty() {
            return Err(DefinitionError::new("a rate limit has an empty key"));
        }
        if limit.units.is_some_and(|u| u < 1) {
            return Err(DefinitionError::new(format!(
                "rate limit `{}` consumes {} units: a task consumes at least 1",
                limit.key,
                limit.units.unwrap_or_default()
            )));
        }
    }
    let parents: HashSet<&str> = task.parents.iter().map(String::as_str).collect();
    for condition in task
        .wait_for
        .iter()
        .chain(&task.skip_if)
        .chain(&task.cancel_if)
    {
        for parent in condition.parents() {
            if !parents.contains(parent) {
                return Err(DefinitionError::new(format!(
                    "a condition reads the output of `{parent}`, which is not a parent of this task (add it to `after`)"
                )));
            }
        }
        check_condition(condition)?;
    }
    Ok(())
}

fn check_condition(condition: &Condition) -> Result<(), DefinitionError> {
    match condition {
        Condition::Sleep(d) if d.as_duration() < std::time::Duration::from_millis(1) => Err(
            DefinitionError::new("a sleep condition must be at least 1ms"),
        ),
        Condition::UserEvent { key, .. } if key.trim().is_empty() => Err(DefinitionError::new(
            "a user-event condition has an empty event key",
        )),
        Condition::ParentOutput { expression, .. } if expression.trim().is_empty() => Err(
            DefinitionError::new("a parent-output condition has an empty expression"),
        ),
        Condition::Or(inner) if inner.is_empty() => Err(DefinitionError::new(
            "an `or` condition needs at least one alternative",
        )),
        Condition::Or(inner) => inner.iter().try_for_each(check_condition),
        _ => Ok(()),
    }
}

fn check_concurrency(concurrency: &crate::workflow::Concurrency) -> Result<(), DefinitionError> {
    if concurrency.expression.trim().is_empty() {
        return Err(DefinitionError::new(
            "a concurrency limit needs a CEL expression",
        ));
    }
    if concurrency.max_runs.is_some_and(|n| n < 1) {
        return Err(DefinitionError::new(
            "a concurrency limit's max_runs must be at least 1",
        ));
    }
    if let Some(
        strategy @ (ConcurrencyStrategy::CancelQueuedExceptNewest
        | ConcurrencyStrategy::CancelQueuedExceptOldest),
    ) = concurrency.strategy
    {
        return Err(DefinitionError::new(format!(
            "the concurrency strategy {} is refused by Hatchet engine v0.104.x (it is only in the protocol of engines newer than v0.104.7); use GROUP_ROUND_ROBIN, CANCEL_IN_PROGRESS or CANCEL_NEWEST",
            strategy.as_str()
        )));
    }
    Ok(())
}

/// Cron expressions as the engine takes them: five fields, or six with seconds first; no
/// `@daily`-style nicknames.
pub(crate) fn check_cron(expression: &str) -> Result<(), DefinitionError> {
    let fields = expression.split_whitespace().count();
    if !matches!(fields, 5 | 6) {
        return Err(DefinitionError::new(format!(
            "cron `{expression}` has {fields} fields; write five (minute hour day-of-month month day-of-week), or six with seconds first"
        )));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| DefinitionError::new(format!("cron `{expression}` is invalid: {e}")))
}

/// Every parent exists, no task is its own ancestor.
fn check_parents(tasks: &[TaskDef]) -> Result<(), DefinitionError> {
    let names: HashSet<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    for task in tasks {
        for parent in &task.parents {
            if parent == &task.name {
                return Err(
                    DefinitionError::new("a task cannot run after itself").in_task(&task.name)
                );
            }
            if !names.contains(parent.as_str()) {
                return Err(DefinitionError::new(format!(
                    "`after` names `{parent}`, which is not a task of this workflow"
                ))
                .in_task(&task.name));
            }
        }
    }
    // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
    let mut waiting: HashMap<&str, usize> = tasks
        .iter()
        .map(|t| (t.name.as_str(), t.parents.len()))
        .collect();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for task in tasks {
        for parent in &task.parents {
            children
                .entry(parent.as_str())
                .or_default()
                .push(task.name.as_str());
        }
    }
    let mut ready: Vec<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| *t)
        .collect();
    let mut ordered = 0;
    while let Some(task) = ready.pop() {
        ordered += 1;
        for child in children.get(task).into_iter().flatten() {
            let count = waiting.entry(child).or_default();
            *count -= 1;
            if *count == 0 {
                ready.push(child);
            }
        }
    }
    if ordered < tasks.len() {
        let mut cycle: Vec<&str> = waiting
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, _)| *t)
            .collect();
        cycle.sort_unstable();
        return Err(DefinitionError::new(format!(
            "tasks {} depend on each other in a cycle",
            cycle
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}
