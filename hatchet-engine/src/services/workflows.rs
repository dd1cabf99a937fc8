//! `WorkflowService` (the "v0 admin" service): triggering, scheduling, rate limits and the
//! legacy registration call.

use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use hatchet_rs_proto::workflow_service_server::WorkflowService;
use tonic::{Request, Response, Status};

use super::EngineService;
use crate::model::Origin;
use crate::payload::timestamp;

#[tonic::async_trait]
impl WorkflowService for EngineService {
    /// Legacy registration: jobs' steps are flattened into v1 tasks.
    async fn put_workflow(
        &self,
        request: Request<pb::PutWorkflowRequest>,
    ) -> Result<Response<pb::WorkflowVersion>, Status> {
        let opts = request
            .into_inner()
            .opts
            .ok_or_else(|| Status::invalid_argument("opts is required"))?;
        let req = legacy_to_v1(opts);
        let (response, version) = self.shared.with(|st, now| {
            let response = st.put_workflow(req.clone(), now)?;
            let version = st
                .workflows
                .get(&req.name)
                .and_then(|w| w.latest().cloned());
            Ok::<_, Status>((response, version))
        })?;
        let (created_at, order, number) = version.map_or((None, 0, String::new()), |v| {
            (Some(timestamp(v.created_at)), v.order, v.version.clone())
        });
        Ok(Response::new(pb::WorkflowVersion {
            id: response.id,
            created_at,
            updated_at: created_at,
            version: number,
            order,
            workflow_id: response.workflow_id,
            scheduled_workflows: Vec::new(),
        }))
    }

    async fn schedule_workflow(
        &self,
        request: Request<pb::ScheduleWorkflowRequest>,
    ) -> Result<Response<pb::WorkflowVersion>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.schedule(req, now))
            .map(Response::new)
    }

    async fn trigger_workflow(
        &self,
        request: Request<v1::TriggerWorkflowRequest>,
    ) -> Result<Response<pb::TriggerWorkflowResponse>, Status> {
        let req = request.into_inner();
        let workflow_run_id = self.shared.with(|st, now| {
            let spec = st.spec_from_request(req, Origin::Manual)?;
            st.trigger(spec, now)
        })?;
        Ok(Response::new(pb::TriggerWorkflowResponse {
            workflow_run_id,
        }))
    }

    async fn bulk_trigger_workflow(
        &self,
        request: Request<pb::BulkTriggerWorkflowRequest>,
    ) -> Result<Response<pb::BulkTriggerWorkflowResponse>, Status> {
        let requests = request.into_inner().workflows;
        let workflow_run_ids = self.shared.with(|st, now| {
            // All or nothing: every request is checked before any run starts.
            st.check_names(requests.iter().map(|r| r.name.as_str()))?;
            let specs = requests
                .into_iter()
                .map(|r| st.spec_from_request(r, Origin::Manual))
                .collect::<Result<Vec<_>, Status>>()?;
            // An idempotency collision skips that run only; the others are created and the
            // answer names both (engine-semantics §5.4).
            let mut created = Vec::new();
            let mut collisions = Vec::new();
            for spec in specs {
                match st.trigger(spec, now) {
                    Ok(id) => created.push(id),
                    Err(status) => match crate::rules::collision_of(&status) {
                        Some(collision) => collisions.push(collision),
                        None => return Err(status),
                    },
                }
            }
            if collisions.is_empty() {
                Ok(created)
            } else {
                Err(crate::rules::bulk_collision(created, collisions))
            }
        })?;
        Ok(Response::new(pb::BulkTriggerWorkflowResponse {
            workflow_run_ids,
        }))
    }

    async fn put_rate_limit(
        &self,
        request: Request<pb::PutRateLimitRequest>,
    ) -> Result<Response<pb::PutRateLimitResponse>, Status> {
        let req = request.into_inner();
        if req.key.is_empty() {
            return Err(Status::invalid_argument("key must be set"));
        }
        let window = crate::rules::rate_limit_window(req.duration);
        self.shared.with(|st, now| {
            st.put_rate_limit(req.key, i64::from(req.limit), window, now);
        });
        Ok(Response::new(pb::PutRateLimitResponse {}))
    }
}

fn legacy_to_v1(opts: pb::CreateWorkflowVersionOpts) -> v1::CreateWorkflowVersionRequest {
    let task = |step: pb::CreateWorkflowStepOpts| v1::CreateTaskOpts {
        readable_id: step.readable_id,
        action: step.action,
        timeout: step.timeout,
        inputs: step.inputs,
        parents: step.parents,
        retries: step.retries,
        rate_limits: step
            .rate_limits
            .into_iter()
            .map(|r| v1::CreateTaskRateLimit {
                key: r.key,
                units: r.units,
                key_expr: r.key_expr,
                units_expr: r.units_expr,
                limit_values_expr: r.limit_values_expr,
                duration: r.duration,
            })
            .collect(),
        worker_labels: step.worker_labels,
        backoff_factor: step.backoff_factor,
        backoff_max_seconds: step.backoff_max_seconds,
        schedule_timeout: opts.schedule_timeout.clone(),
        ..Default::default()
    };
    let tasks = opts
        .jobs
        .clone()
        .into_iter()
        .flat_map(|job| job.steps)
        .map(task)
        .collect();
    let on_failure_task = opts
        .on_failure_job
        .clone()
        .and_then(|job| job.steps.into_iter().next())
        .map(task);
    v1::CreateWorkflowVersionRequest {
        name: opts.name,
        description: opts.description,
        version: opts.version,
        event_triggers: opts.event_triggers,
        cron_triggers: opts.cron_triggers,
        tasks,
        concurrency: opts.concurrency.map(|c| v1::Concurrency {
            expression: c.expression.unwrap_or_default(),
            max_runs: c.max_runs,
            limit_strategy: c.limit_strategy,
            ..Default::default()
        }),
        cron_input: opts.cron_input,
        on_failure_task,
        sticky: opts.sticky,
        default_priority: opts.default_priority,
        ..Default::default()
    }
}
