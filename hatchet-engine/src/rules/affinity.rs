//! Which workers a task may run on, best first (engine-semantics §5.1, §5.2): desired worker
//! labels with their comparators, weights and `required`, replaced by the run's own labels
//! when it has some; sticky SOFT (the desired worker first) and HARD (only it), where the
//! desired worker is the trigger's `desired_worker_id` for a root task and a parent's worker
//! for a DAG step. Labels are not read for sticky workflows, and `desired_worker_id` has no
//! effect on workflows that are not sticky.

use std::collections::{BTreeMap, HashMap};

use hatchet_rs_proto::v1;

use crate::model::{LabelValue, Run, Task};
use crate::state::State;

/// How a worker ranks for a task: excluded, or a score (higher first).
pub(crate) enum Rank {
    Excluded,
    Score(i64),
}

/// `computeWeight`: the sum of the weights of the desired labels the worker meets; a
/// required label it does not meet excludes it.
pub(crate) fn label_rank(
    desired: &HashMap<String, v1::DesiredWorkerLabels>,
    labels: &BTreeMap<String, LabelValue>,
) -> Rank {
    let mut score = 0i64;
    for (key, want) in desired {
        let met = labels.get(key).is_some_and(|have| meets(want, have));
        if met {
            score += i64::from(want.weight.unwrap_or(100));
        } else if want.required.unwrap_or(false) {
            return Rank::Excluded;
        }
    }
    Rank::Score(score)
}

fn meets(want: &v1::DesiredWorkerLabels, have: &LabelValue) -> bool {
    use v1::WorkerLabelComparator as C;
    let comparator = want
        .comparator
        .and_then(|c| C::try_from(c).ok())
        .unwrap_or(C::Equal);
    match (comparator, have) {
        (C::Equal, LabelValue::Str(s)) => want.str_value.as_deref() == Some(s.as_str()),
        (C::Equal, LabelValue::Int(i)) => want.int_value == Some(*i),
        (C::NotEqual, LabelValue::Str(s)) => {
            want.str_value.as_deref().is_some_and(|w| w != s.as_str())
        }
        (C::NotEqual, LabelValue::Int(i)) => want.int_value.is_some_and(|w| w != *i),
        // Ordering comparators compare integers only: worker value <op> desired value.
        (_, LabelValue::Str(_)) => false,
        (op, LabelValue::Int(have)) => want.int_value.is_some_and(|w| match op {
            C::GreaterThan => *have > w,
            C::GreaterThanOrEqual => *have >= w,
            C::LessThan => *have < w,
            C::LessThanOrEqual => *have <= w,
            C::Equal | C::NotEqual => false,
        }),
    }
}

/// A task's placement rule, worked out once per assignment attempt.
pub(crate) enum Placement<'a> {
    Labels(&'a HashMap<String, v1::DesiredWorkerLabels>),
    Sticky { hard: bool, worker: Option<String> },
}

impl State {
    pub(crate) fn placement<'a>(&'a self, task: &'a Task, run: &'a Run) -> Placement<'a> {
        let Some(sticky) = run.version.sticky else {
            let labels = if run.desired_labels.is_empty() {
                &task.def.worker_labels
            } else {
                &run.desired_labels
            };
            return Placement::Labels(labels);
        };
        let worker = if task.def.parents.is_empty() {
            run.desired_worker_id.clone()
        } else {
            run.tasks
                .iter()
                .filter_map(|id| self.tasks.get(id))
                .find(|t| task.def.parents.contains(&t.def.readable_id) && t.worker_id.is_some())
                .and_then(|t| t.worker_id.clone())
        };
        Placement::Sticky {
            hard: sticky == v1::StickyStrategy::Hard as i32,
            worker,
        }
    }
}

impl Placement<'_> {
    pub(crate) fn rank(&self, worker_id: &str, labels: &BTreeMap<String, LabelValue>) -> Rank {
        match self {
            Self::Labels(desired) => label_rank(desired, labels),
            Self::Sticky { hard, worker } => match worker.as_deref() {
                None => Rank::Score(0),
                Some(w) if w == worker_id => Rank::Score(1),
                Some(_) if *hard => Rank::Excluded,
                Some(_) => Rank::Score(0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(comparator: v1::WorkerLabelComparator, int: i32) -> v1::DesiredWorkerLabels {
        v1::DesiredWorkerLabels {
            int_value: Some(int),
            comparator: Some(comparator as i32),
            ..Default::default()
        }
    }

    #[test]
    fn comparators_compare_the_workers_value_with_the_desired_one() {
        use v1::WorkerLabelComparator as C;
        let have = LabelValue::Int(5);
        assert!(meets(&want(C::GreaterThan, 4), &have));
        assert!(!meets(&want(C::GreaterThan, 5), &have));
        assert!(meets(&want(C::GreaterThanOrEqual, 5), &have));
        assert!(meets(&want(C::LessThan, 6), &have));
        assert!(meets(&want(C::LessThanOrEqual, 5), &have));
        assert!(meets(&want(C::NotEqual, 4), &have));
        assert!(meets(&want(C::Equal, 5), &have));
        assert!(!meets(
            &want(C::GreaterThan, 1),
            &LabelValue::Str("9".into())
        ));
    }

    #[test]
    fn weights_add_up_and_required_labels_exclude() {
        let mut desired = HashMap::new();
        desired.insert(
            "env".to_owned(),
            v1::DesiredWorkerLabels {
                str_value: Some("prod".into()),
                required: Some(true),
                ..Default::default()
            },
        );
        desired.insert(
            "gpu".to_owned(),
            v1::DesiredWorkerLabels {
                int_value: Some(1),
                weight: Some(7),
                ..Default::default()
            },
        );
        let prod_gpu = BTreeMap::from([
            ("env".to_owned(), LabelValue::Str("prod".into())),
            ("gpu".to_owned(), LabelValue::Int(1)),
        ]);
        let staging = BTreeMap::from([("env".to_owned(), LabelValue::Str("staging".into()))]);
        assert!(matches!(label_rank(&desired, &prod_gpu), Rank::Score(107)));
        assert!(matches!(label_rank(&desired, &staging), Rank::Excluded));
    }
}
