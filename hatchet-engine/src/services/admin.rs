//! `v1.AdminService` (registration, v1 triggers, cancel, replay, run details, durable
//! branches) and
//! `v1.V1Dispatcher` (the `DurableTask` stream; the legacy RPCs answer UNIMPLEMENTED).

use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::admin_service_server::AdminService;
use hatchet_rs_proto::v1::v1_dispatcher_server::V1Dispatcher;
use tonic::{Request, Response, Status, Streaming};

use super::{BoxStream, EngineService, Guarded};
use crate::model::Origin;

#[tonic::async_trait]
impl AdminService for EngineService {
    async fn put_workflow(
        &self,
        request: Request<v1::CreateWorkflowVersionRequest>,
    ) -> Result<Response<v1::CreateWorkflowVersionResponse>, Status> {
        if self.shared.take_failed_registration() {
            // What the engine answers the loser of two concurrent first registrations of a
            // workflow (a unique-constraint conflict it does not map to a status).
            return Err(Status::internal("An internal error occurred."));
        }
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.put_workflow(req, now))
            .map(Response::new)
    }

    async fn cancel_tasks(
        &self,
        request: Request<v1::CancelTasksRequest>,
    ) -> Result<Response<v1::CancelTasksResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.cancel_tasks(req, now))
            .map(Response::new)
    }

    async fn replay_tasks(
        &self,
        request: Request<v1::ReplayTasksRequest>,
    ) -> Result<Response<v1::ReplayTasksResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.replay_tasks(req, now))
            .map(Response::new)
    }

    async fn trigger_workflow_run(
        &self,
        request: Request<v1::TriggerWorkflowRunRequest>,
    ) -> Result<Response<v1::TriggerWorkflowRunResponse>, Status> {
        let req = request.into_inner();
        let utf8 = |bytes: Vec<u8>, field: &str| {
            String::from_utf8(bytes).map_err(|_| {
                Status::invalid_argument(format!(
                    "Invalid request: invalid json in field `{field}`"
                ))
            })
        };
        let trigger = v1::TriggerWorkflowRequest {
            name: req.workflow_name,
            input: utf8(req.input, "payload")?,
            additional_metadata: Some(utf8(req.additional_metadata, "additionalMetadata")?)
                .filter(|m| !m.is_empty()),
            priority: req.priority,
            desired_worker_labels: req.desired_worker_labels,
            ..Default::default()
        };
        let external_id = self.shared.with(|st, now| {
            let spec = st.spec_from_request(trigger, Origin::Manual)?;
            st.trigger(spec, now)
        })?;
        Ok(Response::new(v1::TriggerWorkflowRunResponse {
            external_id,
        }))
    }

    async fn branch_durable_task(
        &self,
        request: Request<v1::BranchDurableTaskRequest>,
    ) -> Result<Response<v1::BranchDurableTaskResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.branch_durable_task(req, now))
            .map(Response::new)
    }

    async fn get_run_details(
        &self,
        request: Request<v1::GetRunDetailsRequest>,
    ) -> Result<Response<v1::GetRunDetailsResponse>, Status> {
        let id = request.into_inner().external_id;
        self.shared
            .read(|st| st.run_details(&id))
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl V1Dispatcher for EngineService {
    /// One stream per worker process: requests are handled in arrival order (the engine
    /// handles them concurrently; a worker keeps one outstanding request per invocation, so
    /// the order it sees is the same), responses routed by durable task.
    async fn durable_task(
        &self,
        request: Request<Streaming<v1::DurableTaskRequest>>,
    ) -> Result<Response<BoxStream<v1::DurableTaskResponse>>, Status> {
        let mut inbound = request.into_inner();
        let (sender, receiver) = crate::outbox::outbox();
        let session = self.shared.with(|st, _| st.sessions.open(sender));
        let shared = self.shared.clone();
        tokio::spawn(async move {
            while let Ok(Some(request)) = inbound.message().await {
                shared.with(|st, now| st.durable_request(session, request, now));
            }
            shared.with(|st, _| st.sessions.close(session));
        });
        let shared = self.shared.clone();
        let stream = Guarded::new(receiver, move || {
            shared.with(|st, _| st.sessions.close(session));
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
