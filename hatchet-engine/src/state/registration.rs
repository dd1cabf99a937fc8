//! `v1.AdminService/PutWorkflow`: workflow versions and the crons they declare.

use std::sync::Arc;
use std::time::SystemTime;

use hatchet_rs_proto::v1;
use serde_json::{Map, Value};
use tonic::Status;

use super::{State, new_id};
use crate::cron;
use crate::model::{CronEntry, StoredFilter, Version, Workflow};
use crate::validate;

impl State {
    /// `v1.AdminService/PutWorkflow`: validates and stores a new version.
    pub(crate) fn put_workflow(
        &mut self,
        req: v1::CreateWorkflowVersionRequest,
        now: SystemTime,
    ) -> Result<v1::CreateWorkflowVersionResponse, Status> {
        let checked = validate::check(&req)?;
        validate::refuse_unenforced(&req)?;
        let default_filters = default_filters(&req)?;
        // The engine compares a checksum of the options with the newest version and keeps
        // that version when nothing changed.
        if let Some(latest) = self.workflows.get(&req.name).and_then(Workflow::latest)
            && latest.request == req
        {
            return Ok(v1::CreateWorkflowVersionResponse {
                id: latest.id.clone(),
                workflow_id: latest.workflow_id.clone(),
            });
        }
        // The engine numbers versions from one sequence for all workflows.
        let order = i64::try_from(self.next_seq()).unwrap_or(i64::MAX);
        let workflow = self
            .workflows
            .entry(req.name.clone())
            .or_insert_with(|| Workflow {
                id: new_id(),
                name: req.name.clone(),
                versions: Vec::new(),
                paused: None,
                updated_at: None,
            });
        let version = Arc::new(Version {
            id: new_id(),
            workflow_id: workflow.id.clone(),
            workflow_name: workflow.name.clone(),
            version: req.version.clone(),
            order,
            created_at: now,
            tasks: checked.tasks,
            on_failure: checked.on_failure,
            event_triggers: req.event_triggers.clone(),
            cron_triggers: req.cron_triggers.clone(),
            cron_input: req.cron_input.clone(),
            default_priority: req.default_priority,
            sticky: req.sticky,
            concurrency: req
                .concurrency
                .iter()
                .chain(&req.concurrency_arr)
                .cloned()
                .collect(),
            default_filters: req.default_filters.clone(),
            idempotency: req.idempotency.clone(),
            input_json_schema: req.input_json_schema.clone(),
            request: req.clone(),
        });
        workflow.versions.push(version.clone());
        // A new version with default filters replaces the workflow's declarative filters;
        // without any it leaves them (`createWorkflowVersionTxs`).
        if !default_filters.is_empty() {
            let workflow_id = version.workflow_id.clone();
            self.filters
                .retain(|f| f.workflow_id != workflow_id || !f.declarative);
            for (expression, scope, payload) in default_filters {
                self.filters.push(StoredFilter {
                    id: new_id(),
                    workflow_id: workflow_id.clone(),
                    scope,
                    expression,
                    payload,
                    declarative: true,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
        let response = v1::CreateWorkflowVersionResponse {
            id: version.id.clone(),
            workflow_id: version.workflow_id.clone(),
        };
        self.rebuild_crons(&version, now);
        Ok(response)
    }

    /// Replaces the crons of a workflow with those of its newest version.
    fn rebuild_crons(&mut self, version: &Version, now: SystemTime) {
        // Declared crons follow the newest version; crons created over the API stay.
        self.crons
            .retain(|c| c.workflow_name != version.workflow_name || c.name.is_some());
        let input = version
            .cron_input
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or(Value::Null);
        for expression in &version.cron_triggers {
            let Some(parsed) = cron::parse(expression) else {
                continue;
            };
            if let Some(next_at) = cron::next_after(&parsed, now) {
                self.crons.push(CronEntry {
                    id: crate::state::new_id(),
                    workflow_name: version.workflow_name.clone(),
                    expression: expression.clone(),
                    input: input.clone(),
                    next_at,
                    name: None,
                    metadata: Map::new(),
                    priority: None,
                    created_at: now,
                });
            }
        }
    }
}

/// The request's default filters as (expression, scope, payload): a payload must be JSON (an
/// absent one is `{}`), and two equal filters are refused as the engine's unique index does.
fn default_filters(
    req: &v1::CreateWorkflowVersionRequest,
) -> Result<Vec<(String, String, Value)>, Status> {
    let mut out: Vec<(String, String, Value)> = Vec::new();
    for filter in &req.default_filters {
        let payload = match &filter.payload {
            None => Value::Object(Map::new()),
            Some(bytes) => serde_json::from_slice(bytes).map_err(|_| {
                Status::invalid_argument("default filter payload is not valid JSON")
            })?,
        };
        let entry = (filter.expression.clone(), filter.scope.clone(), payload);
        if out.contains(&entry) {
            return Err(Status::invalid_argument(format!(
                "duplicate default filter (scope '{}', expression '{}')",
                filter.scope, filter.expression
            )));
        }
        out.push(entry);
    }
    Ok(out)
}
