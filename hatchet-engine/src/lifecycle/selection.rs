//! Which tasks a cancel or replay request names.

use hatchet_rs_proto::v1;
use tonic::Status;

use crate::payload::from_timestamp;
use crate::state::{State, is_uuid};

impl State {
    /// Task ids selected by a cancel/replay request: task ids as given, run ids expanded.
    pub(super) fn select_tasks(
        &self,
        external_ids: &[String],
        filter: Option<&v1::TasksFilter>,
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
            for run_id in &self.run_order {
                let Some(run) = self.runs.get(run_id) else {
                    continue;
                };
                let matches = since.is_none_or(|s| run.created_at >= s)
                    && until.is_none_or(|u| run.created_at <= u)
                    && (filter.workflow_ids.is_empty()
                        || filter.workflow_ids.contains(&run.version.workflow_id))
                    && metadata.iter().all(|(k, v)| {
                        run.metadata.get(k).is_some_and(|m| match m {
                            serde_json::Value::String(s) => s == v,
                            other => &other.to_string() == v,
                        })
                    });
                if !matches {
                    continue;
                }
                for task_id in &run.tasks {
                    let Some(task) = self.tasks.get(task_id) else {
                        continue;
                    };
                    if filter.statuses.is_empty()
                        || filter.statuses.iter().any(|s| s == task.status.name())
                    {
                        selected.push(task_id.clone());
                    }
                }
            }
        }
        selected.dedup();
        Ok(selected)
    }
}
