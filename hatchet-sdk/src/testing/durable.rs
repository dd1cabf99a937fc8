//! The durable event log of a [`MockContext`](super::MockContext): what the engine keeps for
//! a durable task, in memory, so a `#[task(durable)]` function runs in a unit test.
//!
//! Each run of the task against the same mock is a new invocation that replays the log:
//! the k-th durable call of a run is entry k. Sleeps return at once (recorded in
//! [`MockRecords::durable_sleeps`](super::MockRecords::durable_sleeps)), event waits get the
//! payloads set with [`MockContextBuilder::event`](super::MockContextBuilder::event),
//! memos run once and are read back on later runs, children get the outcomes set with
//! `child_output` / `child_failure`, and a call that differs from the entry the log holds
//! at its place fails with [`Error::NonDeterminism`], worded as the engine words it.

use std::collections::BTreeMap;
use std::time::Duration;

use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::durable_task_request::Message as In;
use serde_json::{Map, Value, json};

use super::mock::{ChildOutcome, MockChild, MockState};
use crate::durable::{Ack, Completion};
use crate::error::{Error, Result};

/// The mock's log: entries by node, and where the current invocation is.
#[derive(Debug, Default)]
pub(crate) struct MockLog {
    invocation: i32,
    latest_node: i64,
    entries: BTreeMap<i64, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// What identifies the call: a replay must make the same one here.
    key: String,
    /// How the engine names it in a non-determinism error.
    rendering: String,
    result: Option<Completion>,
}

/// One or-group of a wait: its canned event (key, payload) and its sleep (key, duration).
type Group = (Option<(String, Value)>, Option<(String, String)>);

/// The branch every entry of the mock's log is on.
const BRANCH: i64 = 1;

impl MockState {
    /// Starts a new invocation of the task: its calls replay the log from its first entry.
    pub(crate) fn next_durable_invocation(&self) -> i32 {
        let mut log = self.durable_log();
        log.invocation = log.invocation.saturating_add(1);
        log.latest_node = 0;
        log.invocation
    }

    /// Answers one durable call as the engine would.
    pub(crate) fn durable_request(&self, task: &str, message: In) -> Result<Ack> {
        match message {
            In::WaitFor(r) => {
                let conditions = r.wait_for_conditions.unwrap_or_default();
                let (key, rendering) = describe(&conditions);
                let (node, existed) = self.node(task, key, rendering)?;
                if !existed {
                    let result = self.satisfy(&conditions)?;
                    self.set_result(node, result);
                }
                Ok(Ack::WaitFor {
                    node: (BRANCH, node),
                })
            }
            In::Memo(r) => {
                let key = format!("memo:{}", hex(&r.key));
                let (node, existed) = self.node(task, key, "memo".to_owned())?;
                let payload = self
                    .durable_log()
                    .entries
                    .get(&node)
                    .and_then(|e| match &e.result {
                        Some(Completion::Payload(payload)) => Some(payload.clone()),
                        _ => None,
                    });
                Ok(Ack::Memo {
                    node: (BRANCH, node),
                    existed: existed && payload.is_some(),
                    payload,
                })
            }
            In::TriggerRuns(r) => {
                let mut entries = Vec::with_capacity(r.trigger_opts.len());
                for opts in r.trigger_opts {
                    let key = format!("run:{}:{}", opts.name, opts.input);
                    let (node, existed) = self.node(task, key, format!("run({})", opts.name))?;
                    let run_id = format!("mock-child-{}-{node}", opts.name);
                    if !existed {
                        let result = self.child(&opts, &run_id, node);
                        self.set_result(node, result);
                    }
                    entries.push(((BRANCH, node), run_id));
                }
                Ok(Ack::TriggerRuns { entries })
            }
            In::EvictInvocation(_) => Ok(Ack::Evicted),
            _ => Err(Error::Protocol(
                "the mock's durable log got a call it does not answer".into(),
            )),
        }
    }

    /// Takes a call the engine does not answer: a memo's result.
    pub(crate) fn durable_send(&self, message: In) -> Result<()> {
        if let In::CompleteMemo(r) = message
            && let Some(at) = r.r#ref
        {
            let mut log = self.durable_log();
            if let Some(entry) = log.entries.get_mut(&at.node_id) {
                entry.result = Some(Completion::Payload(r.payload));
            }
        }
        Ok(())
    }

    fn set_result(&self, node: i64, result: Completion) {
        if let Some(entry) = self.durable_log().entries.get_mut(&node) {
            entry.result = Some(result);
        }
    }

    /// The completion of the entry at `node`.
    pub(crate) fn durable_completion(&self, node: (i64, i64)) -> Result<Completion> {
        self.durable_log()
            .entries
            .get(&node.1)
            .and_then(|e| e.result.clone())
            .ok_or_else(|| {
                Error::Protocol(format!("the mock's durable entry {} has no result", node.1))
            })
    }

    /// The next node of the invocation: whether the log already held this call there, or a
    /// non-determinism error if it held another.
    fn node(&self, task: &str, key: String, rendering: String) -> Result<(i64, bool)> {
        let mut log = self.durable_log();
        log.latest_node = log.latest_node.saturating_add(1);
        let node = log.latest_node;
        match log.entries.get(&node) {
            Some(entry) if entry.key == key => Ok((node, true)),
            Some(entry) => Err(Error::NonDeterminism(format!(
                "non-determinism error in task {task} at node {node}:{BRANCH}\n  expected: {}\n  received: {rendering}",
                entry.rendering
            ))),
            None => {
                log.entries.insert(
                    node,
                    Entry {
                        key,
                        rendering,
                        result: None,
                    },
                );
                Ok((node, false))
            }
        }
    }

    /// Completes a wait at once: each group by its canned event if it has one, else by its
    /// sleep (recorded); a group with neither cannot complete in a unit test.
    fn satisfy(&self, conditions: &v1::DurableEventListenerConditions) -> Result<Completion> {
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for s in &conditions.sleep_conditions {
            let base = s.base.clone().unwrap_or_default();
            groups.entry(base.or_group_id).or_default().1 =
                Some((base.readable_data_key, s.sleep_for.clone()));
        }
        for e in &conditions.user_event_conditions {
            let base = e.base.clone().unwrap_or_default();
            let key = base.readable_data_key;
            let group = groups.entry(base.or_group_id).or_default();
            if group.0.is_none()
                && let Some(payload) = self.canned_event(&key)
            {
                group.0 = Some((key, payload));
            } else if group.0.is_none() && group.1.is_none() {
                return Err(Error::InvalidPayload(format!(
                    "the mock context has no event `{key}` for a durable wait: set one with MockContextBuilder::event(\"{key}\", payload)"
                )));
            }
        }
        let mut satisfied = Map::new();
        for (event, sleep) in groups.into_values() {
            match (event, sleep) {
                (Some((key, payload)), _) => {
                    satisfied.insert(key, json!([payload]));
                }
                (None, Some((key, sleep_for))) => {
                    if let Some(duration) = parse_sleep(&sleep_for) {
                        self.record(|r| r.durable_sleeps.push(duration));
                    }
                    satisfied.insert(key, json!([{ "sleep_duration": sleep_for }]));
                }
                (None, None) => {}
            }
        }
        Ok(Completion::Payload(
            json!({ "CREATE": satisfied }).to_string().into_bytes(),
        ))
    }

    /// A child's canned outcome, recorded as a spawned child: a one-task workflow's output
    /// alone, a DAG's outputs by task name, as the engine completes the entry.
    fn child(&self, opts: &v1::TriggerWorkflowRequest, run_id: &str, node: i64) -> Completion {
        self.record(|r| {
            r.children.push(MockChild {
                workflow: opts.name.clone(),
                input: serde_json::from_str(&opts.input).unwrap_or(Value::Null),
                index: i32::try_from(node).unwrap_or(i32::MAX),
                key: opts.child_key.clone(),
                metadata: opts
                    .additional_metadata
                    .as_deref()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .unwrap_or_default(),
                run_id: run_id.to_owned(),
            });
        });
        match self.canned_child(&opts.name) {
            Some(ChildOutcome::Output(tasks)) => {
                let payload = if tasks.len() == 1 {
                    tasks.into_iter().next().map_or(Value::Null, |(_, v)| v)
                } else {
                    Value::Object(tasks)
                };
                Completion::Payload(payload.to_string().into_bytes())
            }
            Some(ChildOutcome::Failure(message)) => Completion::Failure(message),
            None => Completion::Failure(format!(
                "the mock context has no outcome for child workflow `{}`: set one with MockContextBuilder::child_output or child_failure",
                opts.name
            )),
        }
    }
}

/// The call's identity (its conditions, not their random group ids) and its rendering:
/// `sleep(1m0s)`, `event(key)`, `any of: ...` within a group, ` and ` between groups.
fn describe(conditions: &v1::DurableEventListenerConditions) -> (String, String) {
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for s in &conditions.sleep_conditions {
        let group = s
            .base
            .as_ref()
            .map(|b| b.or_group_id.clone())
            .unwrap_or_default();
        let shown = match parse_sleep(&s.sleep_for) {
            Some(d) => format!("sleep({})", go_duration(d)),
            None => "sleep".to_owned(),
        };
        groups
            .entry(group)
            .or_default()
            .push((format!("sleep:{}", s.sleep_for), shown));
    }
    for e in &conditions.user_event_conditions {
        let base = e.base.clone().unwrap_or_default();
        groups.entry(base.or_group_id).or_default().push((
            format!(
                "event:{}:{}:{}",
                e.user_event_key,
                base.expression,
                e.event_scope.as_deref().unwrap_or("")
            ),
            format!("event({})", e.user_event_key),
        ));
    }
    let mut keys: Vec<String> = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    for members in groups.into_values() {
        let mut member_keys: Vec<String> = members.iter().map(|(k, _)| k.clone()).collect();
        member_keys.sort();
        keys.push(member_keys.join("|"));
        let parts: Vec<String> = members.into_iter().map(|(_, s)| s).collect();
        shown.push(if parts.len() == 1 {
            parts.join("")
        } else {
            format!("any of: {}", parts.join(", "))
        });
    }
    keys.sort();
    (format!("wait:{}", keys.join("&")), shown.join(" and "))
}

/// Go's `time.Duration.String()` to the millisecond, as the engine prints a sleep.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    let seconds = if millis == 0 {
        format!("{seconds}s")
    } else {
        format!(
            "{seconds}.{}s",
            format!("{millis:03}").trim_end_matches('0')
        )
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

fn parse_sleep(text: &str) -> Option<Duration> {
    crate::workflow::IntoEngineDuration::into_engine_duration(text)
        .ok()
        .map(|d| d.as_duration())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_are_printed_as_go_prints_durations() {
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(30 * 86_400)), "720h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
