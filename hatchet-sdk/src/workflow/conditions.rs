//! Conditions that hold a task back (`wait_for`), skip it (`skip_if`) or cancel it
//! (`cancel_if`): sleeps, user events and expressions over parent outputs.
//!
//! Conditions in one list are AND-ed; [`Condition::or`] groups alternatives (reference §3.2).

use std::collections::HashSet;

use hatchet_rs_proto::v1 as pb;

use crate::namespace::Namespace;
use crate::workflow::duration::EngineDuration;

/// One condition, or a group of alternatives.
///
/// ```
/// use hatchet_rs::Condition;
/// // Wait for approval, or give up waiting after a day.
/// let approved = Condition::or([Condition::user_event("order:approved"), Condition::sleep("24h")?]);
/// // Skip when the parent found nothing.
/// let empty = Condition::parent_output("fetch", "output.rows == 0");
/// # let _ = (approved, empty);
/// # Ok::<(), hatchet_rs::DurationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// Holds for the duration after the task is ready.
    Sleep(EngineDuration),
    /// Holds once a matching user event arrives.
    UserEvent {
        /// The event key (namespaced when sent).
        key: String,
        /// A CEL expression over the event's `input` (payload) that must hold.
        expression: Option<String>,
    },
    /// Holds when the CEL `expression` over the parent's `output` is true.
    ParentOutput {
        /// The parent task's name.
        parent: String,
        /// The CEL expression.
        expression: String,
    },
    /// Holds when any of the inner conditions holds.
    Or(Vec<Condition>),
}

impl Condition {
    /// Holds after `duration` (`"30s"`, `"5m"`, ...).
    pub fn sleep(
        duration: impl crate::workflow::IntoEngineDuration,
    ) -> Result<Self, crate::DurationError> {
        Ok(Condition::Sleep(duration.into_engine_duration()?))
    }

    /// Holds once an event with `key` is pushed.
    pub fn user_event(key: impl Into<String>) -> Self {
        Condition::UserEvent {
            key: key.into(),
            expression: None,
        }
    }

    /// Holds once an event with `key` is pushed whose payload satisfies the CEL `expression`
    /// (over `input`).
    pub fn user_event_where(key: impl Into<String>, expression: impl Into<String>) -> Self {
        Condition::UserEvent {
            key: key.into(),
            expression: Some(expression.into()),
        }
    }

    /// Holds when the CEL `expression` over `output` of `parent` is true.
    pub fn parent_output(parent: impl Into<String>, expression: impl Into<String>) -> Self {
        Condition::ParentOutput {
            parent: parent.into(),
            expression: expression.into(),
        }
    }

    /// Holds when any of `conditions` holds.
    pub fn or(conditions: impl IntoIterator<Item = Condition>) -> Self {
        Condition::Or(conditions.into_iter().collect())
    }

    /// Whether this is (or holds) a sleep or a user event.
    pub(crate) fn waits(&self) -> bool {
        match self {
            Condition::Sleep(_) | Condition::UserEvent { .. } => true,
            Condition::Or(inner) => inner.iter().any(Condition::waits),
            Condition::ParentOutput { .. } => false,
        }
    }

    /// Parent tasks this condition reads.
    pub(crate) fn parents(&self) -> Vec<&str> {
        match self {
            Condition::ParentOutput { parent, .. } => vec![parent.as_str()],
            Condition::Or(inner) => inner.iter().flat_map(Condition::parents).collect(),
            _ => Vec::new(),
        }
    }
}

/// The three condition lists of a task, in proto form.
pub(crate) fn to_proto(
    namespace: &Namespace,
    wait_for: &[Condition],
    skip_if: &[Condition],
    cancel_if: &[Condition],
) -> Option<pb::TaskConditions> {
    if wait_for.is_empty() && skip_if.is_empty() && cancel_if.is_empty() {
        return None;
    }
    let mut out = pb::TaskConditions::default();
    let mut keys = HashSet::new();
    for (list, action) in [
        (wait_for, pb::Action::Queue),
        (skip_if, pb::Action::Skip),
        (cancel_if, pb::Action::Cancel),
    ] {
        for condition in list {
            // Conditions outside an `or` are their own group, so they AND with the rest.
            let group = uuid::Uuid::new_v4().to_string();
            push(namespace, condition, action, &group, &mut keys, &mut out);
        }
    }
    Some(out)
}

fn push(
    namespace: &Namespace,
    condition: &Condition,
    action: pb::Action,
    group: &str,
    keys: &mut HashSet<String>,
    out: &mut pb::TaskConditions,
) {
    // `readable_data_key` must be unique per task: it names the condition's data.
    let mut unique = |base: String| {
        let mut key = base.clone();
        let mut n = 1;
        while !keys.insert(key.clone()) {
            n += 1;
            key = format!("{base}:{n}");
        }
        key
    };
    let base = |key: String, expression: &str| pb::BaseMatchCondition {
        readable_data_key: key,
        action: action as i32,
        or_group_id: group.to_owned(),
        expression: expression.to_owned(),
    };
    match condition {
        Condition::Sleep(duration) => out.sleep_conditions.push(pb::SleepMatchCondition {
            base: Some(base(unique(format!("sleep:{duration}")), "")),
            sleep_for: duration.to_string(),
        }),
        Condition::UserEvent { key, expression } => {
            let key = namespace.apply(key);
            out.user_event_conditions.push(pb::UserEventMatchCondition {
                base: Some(base(
                    unique(key.clone()),
                    expression.as_deref().unwrap_or(""),
                )),
                user_event_key: key,
                event_scope: None,
                consider_events_since: None,
            });
        }
        Condition::ParentOutput { parent, expression } => {
            out.parent_override_conditions
                .push(pb::ParentOverrideMatchCondition {
                    base: Some(base(unique(format!("{parent}:{expression}")), expression)),
                    parent_readable_id: parent.clone(),
                });
        }
        Condition::Or(inner) => {
            for condition in inner {
                push(namespace, condition, action, group, keys, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_groups_share_an_id_and_separate_conditions_do_not() {
        let ns = Namespace::new("prod");
        let proto = to_proto(
            &ns,
            &[
                Condition::or([
                    Condition::user_event("approved"),
                    Condition::sleep("24h").expect("duration"),
                ]),
                Condition::sleep("1m").expect("duration"),
            ],
            &[Condition::parent_output("fetch", "output.rows == 0")],
            &[],
        )
        .expect("conditions");
        let event = &proto.user_event_conditions[0];
        assert_eq!(event.user_event_key, "prod_approved");
        let event_base = event.base.as_ref().expect("base");
        assert_eq!(event_base.action, pb::Action::Queue as i32);
        let day = proto.sleep_conditions[0].base.as_ref().expect("base");
        let minute = proto.sleep_conditions[1].base.as_ref().expect("base");
        assert_eq!(proto.sleep_conditions[0].sleep_for, "24h");
        assert_eq!(event_base.or_group_id, day.or_group_id);
        assert_ne!(day.or_group_id, minute.or_group_id);
        let parent = &proto.parent_override_conditions[0];
        assert_eq!(parent.parent_readable_id, "fetch");
        let parent_base = parent.base.as_ref().expect("base");
        assert_eq!(parent_base.action, pb::Action::Skip as i32);
        assert_eq!(parent_base.expression, "output.rows == 0");
    }

    #[test]
    fn data_keys_are_unique_per_task() {
        let sleep = Condition::sleep("10s").expect("duration");
        let proto = to_proto(
            &Namespace::default(),
            std::slice::from_ref(&sleep),
            &[],
            std::slice::from_ref(&sleep),
        )
        .expect("conditions");
        let keys: Vec<_> = proto
            .sleep_conditions
            .iter()
            .map(|c| c.base.as_ref().expect("base").readable_data_key.clone())
            .collect();
        assert_eq!(keys, ["sleep:10s", "sleep:10s:2"]);
    }

    #[test]
    fn no_conditions_send_nothing() {
        assert_eq!(to_proto(&Namespace::default(), &[], &[], &[]), None);
    }
}
