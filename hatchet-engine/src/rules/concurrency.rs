//! Concurrency strategies (engine-semantics §2): keys rendered by CEL when a task is
//! created, chained strategies admitted in order, GROUP_ROUND_ROBIN, CANCEL_NEWEST and
//! CANCEL_IN_PROGRESS with the engine's orderings, and workflow-level strategies of a DAG
//! holding one slot for the whole run.
//!
//! A member (task, or DAG run) waits in its current gate's group until admitted ("filled");
//! a filled slot is given back when the task ends or is retried (a retry queues again, at
//! priority 4) or, for a run, when the run ends.

use std::collections::BTreeSet;
use std::time::SystemTime;

use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::ConcurrencyLimitStrategy as Strategy;
use serde_json::{Map, Value};

use crate::expressions::{self, Vars};
use crate::model::{Gate, GroupId, Member, TaskStatus};
use crate::state::State;

/// The text the engine gives runs its strategies cancel.
pub(crate) const CANCELLED_BY_STRATEGY: &str = "Cancelled due to concurrency strategy";

/// Order within a group: priority (higher first), then age.
/// (negated priority, widened so i32::MIN has a negation; arrival; member)
type Order = (i64, u64, Member);

#[derive(Debug)]
pub(crate) struct Group {
    strategy: Strategy,
    max_runs: i32,
    waiting: BTreeSet<Order>,
    filled: BTreeSet<Order>,
}

/// Renders the keys of `strategies` (`scope` names each strategy), as `insertTasks` does.
pub(crate) fn gates(
    strategies: &[(String, v1::Concurrency)],
    input: &Value,
    metadata: &Map<String, Value>,
    run_id: &str,
) -> Result<Vec<Gate>, String> {
    strategies
        .iter()
        .map(|(scope, c)| {
            let vars = Vars {
                input: Some(input),
                additional_metadata: Some(metadata),
                workflow_run_id: Some(run_id),
                output: None,
                ..Vars::default()
            };
            let key = expressions::eval_step(&c.expression, &vars)
                .and_then(|out| out.expect_str("concurrency key"))
                .map_err(|e| format!("failed to parse step expression ({}): {e}", c.expression))?;
            Ok(Gate {
                group: GroupId {
                    scope: scope.clone(),
                    key,
                },
                strategy: c
                    .limit_strategy
                    .and_then(|s| Strategy::try_from(s).ok())
                    .unwrap_or(Strategy::CancelInProgress),
                max_runs: c.max_runs.unwrap_or(1).max(1),
            })
        })
        .collect()
}

impl State {
    fn member_order(&self, member: &Member) -> Option<Order> {
        match member {
            Member::Task(id) => {
                let task = self.tasks.get(id)?;
                let priority = self.queue_priority(task);
                Some((-i64::from(priority), task.created_seq, member.clone()))
            }
            Member::Run(id) => {
                let run = self.runs.get(id)?;
                Some((-i64::from(run.priority), run.seq, member.clone()))
            }
        }
    }

    /// Puts `member` in the waiting set of `gate`'s group.
    pub(crate) fn wait_at_gate(&mut self, member: Member, gate: &Gate) {
        let Some(order) = self.member_order(&member) else {
            return;
        };
        let group = self
            .groups
            .entry(gate.group.clone())
            .or_insert_with(|| Group {
                strategy: gate.strategy,
                max_runs: gate.max_runs,
                waiting: BTreeSet::new(),
                filled: BTreeSet::new(),
            });
        // The newest registration's settings win, as the engine keys strategies by id.
        group.strategy = gate.strategy;
        group.max_runs = gate.max_runs;
        group.waiting.insert(order);
        self.dirty_groups.insert(gate.group.clone());
    }

    /// Takes `member` out of every group of `gates` (waiting or filled).
    pub(crate) fn leave_gates(&mut self, member: &Member, gates: &[Gate]) {
        for gate in gates {
            if let Some(group) = self.groups.get_mut(&gate.group) {
                let before = group.waiting.len() + group.filled.len();
                group.waiting.retain(|(_, _, m)| m != member);
                group.filled.retain(|(_, _, m)| m != member);
                if group.waiting.len() + group.filled.len() != before {
                    self.dirty_groups.insert(gate.group.clone());
                }
                if group.waiting.is_empty() && group.filled.is_empty() {
                    self.groups.remove(&gate.group);
                }
            }
        }
    }

    /// Decides every group that changed, admitting and cancelling as its strategy says,
    /// until no admission changes anything else.
    pub(crate) fn run_concurrency(&mut self, now: SystemTime) {
        while let Some(id) = self.dirty_groups.pop_first() {
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            let capacity = usize::try_from(group.max_runs).unwrap_or(1);
            let mut admit = Vec::new();
            let mut cancel = Vec::new();
            match group.strategy {
                Strategy::CancelInProgress => {
                    // Keep the best `max_runs` of queued and running: priority first, then
                    // the newest; everything else goes, running or not.
                    let mut all: Vec<(Order, bool)> = group
                        .waiting
                        .iter()
                        .map(|o| (o.clone(), false))
                        .chain(group.filled.iter().map(|o| (o.clone(), true)))
                        .collect();
                    all.sort_by(|(a, _), (b, _)| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                    for (i, (order, filled)) in all.into_iter().enumerate() {
                        if i < capacity {
                            if !filled {
                                admit.push(order);
                            }
                        } else {
                            cancel.push(order);
                        }
                    }
                }
                Strategy::CancelNewest => {
                    let free = capacity.saturating_sub(group.filled.len());
                    for (i, order) in group.waiting.iter().enumerate() {
                        if i < free {
                            admit.push(order.clone());
                        } else {
                            cancel.push(order.clone());
                        }
                    }
                }
                // GROUP_ROUND_ROBIN, and the strategies registration refuses.
                _ => {
                    let free = capacity.saturating_sub(group.filled.len());
                    admit.extend(group.waiting.iter().take(free).cloned());
                }
            }
            for order in &admit {
                group.waiting.remove(order);
                group.filled.insert(order.clone());
            }
            for (_, _, member) in admit {
                self.admitted(&member, now);
            }
            for (_, _, member) in cancel {
                self.cancel_member(&member, now);
            }
        }
    }

    /// A member passed its current gate: on to the next, or to the worker queue.
    fn admitted(&mut self, member: &Member, now: SystemTime) {
        match member {
            Member::Task(id) => {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.gates_passed += 1;
                }
                self.advance(id, now);
            }
            Member::Run(id) => {
                let Some(run) = self.runs.get_mut(id) else {
                    return;
                };
                run.gates_passed += 1;
                if let Some(gate) = run.gates.get(run.gates_passed).cloned() {
                    self.wait_at_gate(member.clone(), &gate);
                    return;
                }
                for task_id in std::mem::take(&mut run.held_tasks) {
                    self.advance(&task_id, now);
                }
            }
        }
    }

    fn cancel_member(&mut self, member: &Member, now: SystemTime) {
        match member {
            Member::Task(id) => {
                self.cancel(id, CANCELLED_BY_STRATEGY, now);
            }
            Member::Run(id) => {
                let tasks = self
                    .runs
                    .get(id)
                    .map(|r| r.tasks.clone())
                    .unwrap_or_default();
                if let Some(run) = self.runs.get(id) {
                    let gates = run.gates.clone();
                    self.leave_gates(member, &gates);
                }
                for task_id in tasks {
                    self.cancel(&task_id, CANCELLED_BY_STRATEGY, now);
                }
            }
        }
    }

    /// Sends a task that is ready to run through its concurrency gates to the worker
    /// queue; a DAG run's tasks first wait for the run's own slot.
    pub(crate) fn advance(&mut self, task_id: &str, now: SystemTime) {
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        if task.status != TaskStatus::Queued {
            return;
        }
        if let Some(run) = self.runs.get_mut(&task.run_id)
            && run.gates_passed < run.gates.len()
        {
            if !run.held_tasks.iter().any(|t| t == task_id) {
                run.held_tasks.push(task_id.to_owned());
            }
            return;
        }
        match task.gates.get(task.gates_passed).cloned() {
            Some(gate) => self.wait_at_gate(Member::Task(task_id.to_owned()), &gate),
            None => self.queue_ready(task_id, now),
        }
    }

    /// Gives back every concurrency slot the task holds or waits for; it starts again from
    /// its first gate if it is queued again (a retry or reassignment).
    pub(crate) fn release_task_gates(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.gates_passed = 0;
        let gates = task.gates.clone();
        self.leave_gates(&Member::Task(task_id.to_owned()), &gates);
    }

    /// Gives back a finished run's workflow-level slots.
    pub(crate) fn release_run_gates(&mut self, run_id: &str) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let gates = run.gates.clone();
        self.leave_gates(&Member::Run(run_id.to_owned()), &gates);
    }
}
