//! Which tasks a cancel or replay request names.

use hatchet_rs_proto::v1;
use tonic::Status;

use crate::payload::from_timestamp;
use crate::state::{State, is_uuid};

impl State {
    /// Task ids selected by a cancel/replay request: task ids as given, run ids expanded;
    /// with a filter, every task of the newest `limit` runs it selects.
    pub(super) fn select_tasks(
        &self,
        external_ids: &[String],
        filter: Option<&v1::TasksFilter>,
        limit: usize,
    ) -> Result<Vec<String>, Status> {
        if !external_ids.is_empty() && filter.is_some() {
            return Err(Status::invalid_argument(
                "cannot provide both external ids and filter",
            ));
        }
        let mut selected = Vec::new();
        for id in external_ids {
            if !is_uuid(id) {
                return Err(Status::invalid_argument("invalid external id"));
            }
            if let Some(run) = self.runs.get(id) {
                selected.extend(run.tasks.iter().cloned());
            } else if self.tasks.contains_key(id) {
                selected.push(id.clone());
            }
        }
        if let Some(filter) = filter {
            for run_id in self.select_runs(filter, limit)? {
                if let Some(run) = self.runs.get(&run_id) {
                    selected.extend(run.tasks.iter().cloned());
                }
            }
        }
        selected.dedup();
        Ok(selected)
    }

    /// The newest `limit` runs a filter selects, newest first: by creation time, the run's
    /// status, workflow, and any one of the metadata pairs.
    pub(super) fn select_runs(
        &self,
        filter: &v1::TasksFilter,
        limit: usize,
    ) -> Result<Vec<String>, Status> {
        let mut metadata = Vec::new();
        for pair in &filter.additional_metadata {
            let (k, v) = pair.split_once(':').ok_or_else(|| {
                Status::invalid_argument(format!("invalid additional metadata filter: {pair}"))
            })?;
            metadata.push((k.to_owned(), v.to_owned()));
        }
        for id in &filter.workflow_ids {
            if !is_uuid(id) {
                return Err(Status::invalid_argument("invalid workflow id"));
            }
        }
        let since = from_timestamp(filter.since.as_ref());
        let until = from_timestamp(filter.until.as_ref());
        let runs = self
            .run_order
            .iter()
            .rev()
            .filter_map(|id| self.runs.get(id));
        Ok(runs
            .filter(|run| {
                since.is_none_or(|s| run.created_at >= s)
                    && until.is_none_or(|u| run.created_at <= u)
                    && (filter.statuses.is_empty()
                        || filter.statuses.iter().any(|s| s == run.status.name()))
                    && (filter.workflow_ids.is_empty()
                        || filter.workflow_ids.contains(&run.version.workflow_id))
                    && (metadata.is_empty()
                        || metadata.iter().any(|(k, v)| {
                            run.metadata.get(k).is_some_and(|m| match m {
                                serde_json::Value::String(s) => s == v,
                                other => &other.to_string() == v,
                            })
                        }))
            })
            .take(limit)
            .map(|run| run.id.clone())
            .collect())
    }
}
