//! Worker labels and the label preferences a run or task can state.

use std::collections::HashMap;

use hatchet_rs_proto::v1 as pb;

/// A worker label value: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelValue {
    /// A string value, such as a region name.
    Str(String),
    /// An integer value, such as a memory size in GiB.
    Int(i32),
}

impl From<&str> for LabelValue {
    fn from(v: &str) -> Self {
        LabelValue::Str(v.to_owned())
    }
}
impl From<String> for LabelValue {
    fn from(v: String) -> Self {
        LabelValue::Str(v)
    }
}
impl From<i32> for LabelValue {
    fn from(v: i32) -> Self {
        LabelValue::Int(v)
    }
}

/// How a desired label compares with a worker's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LabelComparator {
    /// The worker's value equals the wanted value (the default).
    #[default]
    Equal,
    /// The worker's value differs.
    NotEqual,
    /// The worker's value is greater.
    GreaterThan,
    /// The worker's value is greater or equal.
    GreaterThanOrEqual,
    /// The worker's value is smaller.
    LessThan,
    /// The worker's value is smaller or equal.
    LessThanOrEqual,
}

impl LabelComparator {
    fn to_proto(self) -> pb::WorkerLabelComparator {
        match self {
            LabelComparator::Equal => pb::WorkerLabelComparator::Equal,
            LabelComparator::NotEqual => pb::WorkerLabelComparator::NotEqual,
            LabelComparator::GreaterThan => pb::WorkerLabelComparator::GreaterThan,
            LabelComparator::GreaterThanOrEqual => pb::WorkerLabelComparator::GreaterThanOrEqual,
            LabelComparator::LessThan => pb::WorkerLabelComparator::LessThan,
            LabelComparator::LessThanOrEqual => pb::WorkerLabelComparator::LessThanOrEqual,
        }
    }
}

/// A label a run or task would like its worker to have.
///
/// ```
/// use hatchet_rs::{DesiredLabel, LabelComparator};
/// let gpu = DesiredLabel::new("gpu", "a100").required();
/// let memory = DesiredLabel::new("memory_gb", 64).comparator(LabelComparator::GreaterThanOrEqual).weight(50);
/// # let _ = (gpu, memory);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLabel {
    key: String,
    value: LabelValue,
    required: bool,
    comparator: LabelComparator,
    weight: Option<i32>,
}

impl DesiredLabel {
    /// Prefer workers whose `key` label equals `value`.
    pub fn new(key: impl Into<String>, value: impl Into<LabelValue>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            required: false,
            comparator: LabelComparator::Equal,
            weight: None,
        }
    }
    /// Only workers that match may run it (otherwise matching is a preference).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// How to compare the worker's value with the wanted one.
    pub fn comparator(mut self, comparator: LabelComparator) -> Self {
        self.comparator = comparator;
        self
    }
    /// The preference's weight among several (engine default 100).
    pub fn weight(mut self, weight: i32) -> Self {
        self.weight = Some(weight);
        self
    }
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn to_proto(&self) -> pb::DesiredWorkerLabels {
        let (str_value, int_value) = match &self.value {
            LabelValue::Str(s) => (Some(s.clone()), None),
            LabelValue::Int(i) => (None, Some(*i)),
        };
        pb::DesiredWorkerLabels {
            str_value,
            int_value,
            required: Some(self.required),
            comparator: Some(self.comparator.to_proto() as i32),
            weight: self.weight,
        }
    }
}

pub(crate) fn desired_labels_to_proto(
    labels: &[DesiredLabel],
) -> HashMap<String, pb::DesiredWorkerLabels> {
    labels
        .iter()
        .map(|l| (l.key.clone(), l.to_proto()))
        .collect()
}

pub(crate) fn worker_label_to_proto(value: &LabelValue) -> hatchet_rs_proto::WorkerLabels {
    match value {
        LabelValue::Str(s) => hatchet_rs_proto::WorkerLabels {
            str_value: Some(s.clone()),
            int_value: None,
        },
        LabelValue::Int(i) => hatchet_rs_proto::WorkerLabels {
            str_value: None,
            int_value: Some(*i),
        },
    }
}
