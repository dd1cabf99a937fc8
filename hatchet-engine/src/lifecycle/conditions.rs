//! v1 task conditions, as the engine evaluates them (engine-semantics §4): every task that
//! waits (for its parents, a sleep or a user event) holds a *match* of conditions; each
//! condition belongs to an action (QUEUE, SKIP, CANCEL, or opening the second stage) and an
//! or-group. An action fires once every one of its or-groups has a satisfied member; when
//! several fire at once the engine's precedence decides: SKIP, CANCEL, QUEUE, then opening
//! the second stage.
//!
//! - A root task with sleep or user-event conditions waits in one match built from them; the
//!   sleeps count from the run's creation. Parent-output conditions on a root task are ignored.
//! - A task with parents first waits on its parents. Per parent: QUEUE on COMPLETED (or the
//!   task's QUEUE parent-output conditions for that parent instead); SKIP on a skipped
//!   COMPLETED (or the task's SKIP parent-output conditions; with any SKIP parent-output
//!   condition there is no default skip at all); CANCEL on FAILED or CANCELLED (a CANCEL
//!   parent-output condition adds its expression on COMPLETED to the same group). So: all
//!   parents completed → queue, all skipped → skip, any failed or cancelled → cancel.
//! - A task with parents and sleep or user-event conditions opens a second match with them
//!   when its parents' match completes; its sleeps count from then.
//!
//! Expressions are CEL over `input` and `output`: a parent's output for parent conditions, the
//! event payload (as `input`) for user events. Only events pushed while a task waits count.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use hatchet_rs_proto::v1;
use serde_json::{Map, Value, json};

use crate::expressions;
use crate::model::{TaskDef, TaskStatus};
use crate::state::{State, new_id};
use crate::validate::parse_duration;

/// The output the engine gives a skipped task; its children see it as the parent's output.
pub(crate) const SKIPPED_OUTPUT: &str = r#"{"skipped":true}"#;

/// What a satisfied action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    Queue,
    Skip,
    Cancel,
    /// The parents' stage is complete: open the sleep and user-event stage.
    OpenStage,
}

/// The engine's precedence when several actions fire at once.
const PRECEDENCE: [Action; 4] = [
    Action::Skip,
    Action::Cancel,
    Action::Queue,
    Action::OpenStage,
];

/// How a parent finished, as its child's conditions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentEvent {
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone)]
enum Kind {
    Parent {
        parent: String,
        on: &'static [ParentEvent],
        expression: String,
    },
    Sleep {
        at: SystemTime,
        text: String,
    },
    UserEvent {
        key: String,
        expression: String,
    },
}

#[derive(Debug, Clone)]
struct Condition {
    action: Action,
    group: String,
    kind: Kind,
    data_key: String,
    /// Set once satisfied: the data children and the task see (`triggers[data_key]`).
    satisfied: Option<Value>,
}

/// The conditions a waiting task holds.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    conditions: Vec<Condition>,
}

impl Match {
    /// The earliest sleep still unsatisfied, to arm a timer for.
    pub(crate) fn next_deadline(&self) -> Option<SystemTime> {
        self.conditions
            .iter()
            .filter(|c| c.satisfied.is_none())
            .filter_map(|c| match c.kind {
                Kind::Sleep { at, .. } => Some(at),
                _ => None,
            })
            .min()
    }

    fn decide(&self) -> Option<Action> {
        PRECEDENCE.into_iter().find(|action| {
            let mut groups: HashMap<&str, bool> = HashMap::new();
            for c in self.conditions.iter().filter(|c| c.action == *action) {
                *groups.entry(c.group.as_str()).or_default() |= c.satisfied.is_some();
            }
            !groups.is_empty() && groups.values().all(|satisfied| *satisfied)
        })
    }

    /// The data of the satisfied sleep and user-event conditions, by readable data key.
    fn trigger_data(&self) -> BTreeMap<String, Value> {
        self.conditions
            .iter()
            .filter(|c| !matches!(c.kind, Kind::Parent { .. }))
            .filter_map(|c| Some((c.data_key.clone(), c.satisfied.clone()?)))
            .collect()
    }
}

fn action_of(base: Option<&v1::BaseMatchCondition>) -> Action {
    match base.map(|b| v1::Action::try_from(b.action)) {
        Some(Ok(v1::Action::Skip)) => Action::Skip,
        Some(Ok(v1::Action::Cancel)) => Action::Cancel,
        // Registration admits only QUEUE, CANCEL and SKIP.
        _ => Action::Queue,
    }
}

/// An empty or nil or-group id is a group of its own, as the engine gives it a fresh id.
fn group_of(base: Option<&v1::BaseMatchCondition>) -> String {
    match base.map(|b| b.or_group_id.as_str()) {
        None | Some("" | "00000000-0000-0000-0000-000000000000") => new_id(),
        Some(id) => id.to_owned(),
    }
}

fn base_parts(base: Option<&v1::BaseMatchCondition>) -> (String, String) {
    base.map(|b| (b.readable_data_key.clone(), b.expression.clone()))
        .unwrap_or_default()
}

/// The sleep and user-event conditions of `def`, sleeps counting from `now`.
fn timed(def: &TaskDef, now: SystemTime) -> Vec<Condition> {
    let Some(conditions) = &def.conditions else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for sleep in &conditions.sleep_conditions {
        let base = sleep.base.as_ref();
        let wait = parse_duration(&sleep.sleep_for).unwrap_or_default();
        out.push(Condition {
            action: action_of(base),
            group: group_of(base),
            kind: Kind::Sleep {
                at: now + wait,
                text: sleep.sleep_for.clone(),
            },
            data_key: base_parts(base).0,
            satisfied: None,
        });
    }
    for event in &conditions.user_event_conditions {
        let base = event.base.as_ref();
        let (data_key, expression) = base_parts(base);
        out.push(Condition {
            action: action_of(base),
            group: group_of(base),
            kind: Kind::UserEvent {
                key: event.user_event_key.clone(),
                expression,
            },
            data_key,
            satisfied: None,
        });
    }
    out
}

fn has_timed(def: &TaskDef) -> bool {
    def.conditions
        .as_ref()
        .is_some_and(|c| !c.sleep_conditions.is_empty() || !c.user_event_conditions.is_empty())
}

/// The match a task waits in when its run is created; `None` for a root task that is ready.
pub(crate) fn initial(def: &TaskDef, now: SystemTime) -> Option<Match> {
    if def.parents.is_empty() {
        let conditions = timed(def, now);
        return (!conditions.is_empty()).then_some(Match { conditions });
    }
    let overrides: &[v1::ParentOverrideMatchCondition] = def
        .conditions
        .as_ref()
        .map_or(&[], |c| &c.parent_override_conditions);
    let complete = if has_timed(def) {
        Action::OpenStage
    } else {
        Action::Queue
    };
    let any_skip_override = overrides
        .iter()
        .any(|o| action_of(o.base.as_ref()) == Action::Skip);
    let cancel_group = new_id();
    let mut conditions = Vec::new();
    let parent_condition = |action, group, parent: &str, on, expression: &str| Condition {
        action,
        group,
        kind: Kind::Parent {
            parent: parent.to_owned(),
            on,
            expression: expression.to_owned(),
        },
        data_key: String::new(),
        satisfied: None,
    };
    for parent in &def.parents {
        let of = |action: Action| -> Vec<&v1::ParentOverrideMatchCondition> {
            overrides
                .iter()
                .filter(|o| &o.parent_readable_id == parent && action_of(o.base.as_ref()) == action)
                .collect()
        };
        let queue = of(Action::Queue);
        if queue.is_empty() {
            conditions.push(parent_condition(
                complete,
                new_id(),
                parent,
                &[ParentEvent::Completed],
                "true",
            ));
        }
        for o in queue {
            let (_, expression) = base_parts(o.base.as_ref());
            conditions.push(parent_condition(
                complete,
                group_of(o.base.as_ref()),
                parent,
                &[ParentEvent::Completed],
                &expression,
            ));
        }
        let skip = of(Action::Skip);
        if skip.is_empty() && !any_skip_override {
            conditions.push(parent_condition(
                Action::Skip,
                new_id(),
                parent,
                &[ParentEvent::Completed],
                "has(output.skipped) && output.skipped",
            ));
        }
        for o in skip {
            let (_, expression) = base_parts(o.base.as_ref());
            conditions.push(parent_condition(
                Action::Skip,
                group_of(o.base.as_ref()),
                parent,
                &[ParentEvent::Completed],
                &expression,
            ));
        }
        let cancel = of(Action::Cancel);
        if cancel.is_empty() {
            conditions.push(parent_condition(
                Action::Cancel,
                cancel_group.clone(),
                parent,
                &[ParentEvent::Failed, ParentEvent::Cancelled],
                "true",
            ));
        }
        for o in cancel {
            let (_, expression) = base_parts(o.base.as_ref());
            let group = group_of(o.base.as_ref());
            conditions.push(parent_condition(
                Action::Cancel,
                group.clone(),
                parent,
                &[ParentEvent::Completed],
                &expression,
            ));
            conditions.push(parent_condition(
                Action::Cancel,
                group,
                parent,
                &[ParentEvent::Failed, ParentEvent::Cancelled],
                "true",
            ));
        }
    }
    Some(Match { conditions })
}

impl State {
    /// Creates the task's match when its run starts (or is replayed); arms its sleeps. Returns
    /// whether the task is ready to queue now.
    pub(crate) fn open_match(&mut self, task_id: &str, now: SystemTime) -> bool {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return false;
        };
        task.waiting = initial(&task.def, now);
        let ready = task.waiting.is_none();
        if let Some(at) = task.waiting.as_ref().and_then(Match::next_deadline) {
            self.arm(task_id, at);
        }
        ready
    }

    /// A parent of tasks in `run_id` finished: the children's conditions on it are checked.
    pub(crate) fn parent_finished(
        &mut self,
        run_id: &str,
        parent: &str,
        event: ParentEvent,
        output: &Value,
        now: SystemTime,
    ) {
        let children: Vec<String> = self
            .runs
            .get(run_id)
            .map(|run| {
                run.tasks
                    .iter()
                    .filter_map(|id| self.tasks.get(id))
                    .filter(|t| t.status == TaskStatus::Pending && !t.is_on_failure)
                    .filter(|t| t.def.parents.iter().any(|p| p == parent))
                    .map(|t| t.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        let empty = Value::Object(Map::new());
        for id in children {
            self.satisfy(&id, now, |kind| match kind {
                Kind::Parent {
                    parent: p,
                    on,
                    expression,
                } if p == parent && on.contains(&event) => {
                    let output = if event == ParentEvent::Completed {
                        output
                    } else {
                        &empty
                    };
                    expressions::eval_match(expression, &empty, output).then(|| json!({}))
                }
                _ => None,
            });
        }
    }

    /// A user event was pushed: every waiting task with a condition on its key checks it.
    pub(crate) fn user_event_pushed(&mut self, key: &str, payload: &Value, now: SystemTime) {
        let waiting: Vec<String> = self
            .tasks
            .values()
            .filter(|t| t.status == TaskStatus::Pending)
            .filter(|t| {
                t.waiting.as_ref().is_some_and(|m| {
                    m.conditions
                        .iter()
                        .any(|c| matches!(&c.kind, Kind::UserEvent { key: k, .. } if k == key))
                })
            })
            .map(|t| t.id.clone())
            .collect();
        let empty = Value::Object(Map::new());
        for id in waiting {
            self.satisfy(&id, now, |kind| match kind {
                Kind::UserEvent { key: k, expression } if k == key => {
                    expressions::eval_match(expression, payload, &empty).then(|| payload.clone())
                }
                _ => None,
            });
        }
    }

    /// A timer of a waiting task fired: its sleeps that are due hold.
    pub(crate) fn sleep_due(&mut self, task_id: &str, now: SystemTime) {
        self.satisfy(task_id, now, |kind| match kind {
            Kind::Sleep { at, text } if *at <= now => Some(json!({ "sleep_duration": text })),
            _ => None,
        });
    }

    /// Marks the conditions `check` accepts as satisfied, then acts on what fired.
    fn satisfy(&mut self, task_id: &str, now: SystemTime, check: impl Fn(&Kind) -> Option<Value>) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.status != TaskStatus::Pending {
            return;
        }
        let Some(waiting) = task.waiting.as_mut() else {
            return;
        };
        let mut changed = false;
        for c in waiting
            .conditions
            .iter_mut()
            .filter(|c| c.satisfied.is_none())
        {
            if let Some(data) = check(&c.kind) {
                c.satisfied = Some(data);
                changed = true;
            }
        }
        if changed {
            self.resolve(task_id, now);
        }
    }

    /// Acts on the action that fired, if one did.
    fn resolve(&mut self, task_id: &str, now: SystemTime) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        let Some(waiting) = task.waiting.as_ref() else {
            return;
        };
        let Some(action) = waiting.decide() else {
            return;
        };
        let upstream = waiting.conditions.iter().any(|c| {
            c.action == Action::Cancel
                && c.satisfied.is_some()
                && matches!(&c.kind, Kind::Parent { on, .. } if on.contains(&ParentEvent::Failed))
        });
        let data = waiting.trigger_data();
        task.waiting = None;
        // The engine exposes condition data to tasks with parents only (§4.4).
        if !task.def.parents.is_empty() {
            task.trigger_data.extend(data);
        }
        if action == Action::OpenStage {
            let next = Match {
                conditions: timed(&task.def, now),
            };
            let deadline = next.next_deadline();
            task.waiting = Some(next);
            if let Some(at) = deadline {
                self.arm(task_id, at);
            }
            // A sleep of zero holds at once.
            self.sleep_due(task_id, now);
            return;
        }
        match action {
            Action::Skip => self.complete(task_id, SKIPPED_OUTPUT.to_owned(), now),
            Action::Cancel => {
                let reason = if upstream {
                    "an upstream task failed or was cancelled"
                } else {
                    "cancelled by a cancel_if condition"
                };
                self.cancel(task_id, reason, now);
                self.dispatch(now);
            }
            _ => {
                self.enqueue(task_id, now);
                self.dispatch(now);
            }
        }
    }
}
