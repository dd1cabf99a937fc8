//! `Dispatcher`: worker registration, action streams, heartbeats, step events, run results
//! and workflow event subscriptions.

use hatchet_rs_proto as pb;
use hatchet_rs_proto::dispatcher_server::Dispatcher;
use tonic::{Request, Response, Status, Streaming};

use super::{BoxStream, EngineService, Guarded};

#[tonic::async_trait]
impl Dispatcher for EngineService {
    async fn register(
        &self,
        request: Request<pb::WorkerRegisterRequest>,
    ) -> Result<Response<pb::WorkerRegisterResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.register_worker(req, now))
            .map(Response::new)
    }

    /// The legacy stream behaves like `ListenV2` here; a worker using it must heartbeat too.
    async fn listen(
        &self,
        request: Request<pb::WorkerListenRequest>,
    ) -> Result<Response<BoxStream<pb::AssignedAction>>, Status> {
        self.listen_v2(request).await
    }

    async fn listen_v2(
        &self,
        request: Request<pb::WorkerListenRequest>,
    ) -> Result<Response<BoxStream<pb::AssignedAction>>, Status> {
        let worker_id = request.into_inner().worker_id;
        let (generation, receiver) = self
            .shared
            .with(|st, now| st.open_listener(&worker_id, now))?;
        let shared = self.shared.clone();
        let stream = Guarded::new(receiver, move || {
            shared.with(|st, _| st.close_listener(&worker_id, generation));
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let worker_id = request.into_inner().worker_id;
        self.shared.with(|st, now| st.heartbeat(&worker_id, now))?;
        Ok(Response::new(pb::HeartbeatResponse {}))
    }

    async fn subscribe_to_workflow_events(
        &self,
        request: Request<pb::SubscribeToWorkflowEventsRequest>,
    ) -> Result<Response<BoxStream<pb::WorkflowEvent>>, Status> {
        let req = request.into_inner();
        let receiver = self.shared.with(|st, _| st.add_event_subscriber(req))?;
        Ok(Response::new(Box::pin(Guarded::plain(receiver))))
    }

    async fn subscribe_to_workflow_runs(
        &self,
        request: Request<Streaming<pb::SubscribeToWorkflowRunsRequest>>,
    ) -> Result<Response<BoxStream<pb::WorkflowRunEvent>>, Status> {
        let mut incoming = request.into_inner();
        let (sub_id, receiver) = self.shared.with(|st, _| st.add_run_subscriber());
        let shared = self.shared.clone();
        // As in the engine, the stream lives as long as the client keeps its side open.
        tokio::spawn(async move {
            while let Ok(Some(message)) = incoming.message().await {
                shared.with(|st, now| st.watch_run(sub_id, message.workflow_run_id, now));
            }
            shared.with(|st, _| st.remove_run_subscriber(sub_id));
        });
        let shared = self.shared.clone();
        let stream = Guarded::new(receiver, move || {
            shared.with(|st, _| st.remove_run_subscriber(sub_id));
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn send_step_action_event(
        &self,
        request: Request<pb::StepActionEvent>,
    ) -> Result<Response<pb::ActionEventResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.step_event(req, now))
            .map(Response::new)
    }

    /// Applies one event type to many items (engine `sendBatchActionEventV1`): items need
    /// valid ids, unknown ones are skipped, and nothing ties them to a batch or worker.
    async fn send_batch_action_event(
        &self,
        request: Request<pb::BatchActionEvent>,
    ) -> Result<Response<pb::ActionEventResponse>, Status> {
        let batch = request.into_inner();
        let response = pb::ActionEventResponse {
            tenant_id: self.shared.read(|st| st.tenant_id.clone()),
            worker_id: batch.worker_id.clone(),
        };
        if batch.items.is_empty() {
            return Ok(Response::new(response));
        }
        let event_type = pb::StepActionEventType::try_from(batch.event_type)
            .unwrap_or(pb::StepActionEventType::StepEventTypeUnknown);
        if !matches!(
            event_type,
            pb::StepActionEventType::StepEventTypeStarted
                | pb::StepActionEventType::StepEventTypeCompleted
                | pb::StepActionEventType::StepEventTypeFailed
                | pb::StepActionEventType::StepEventTypeCancelled
        ) {
            return Err(Status::invalid_argument(format!(
                "invalid batch action event type {}",
                event_type.as_str_name()
            )));
        }
        if let Some(bad) = batch
            .items
            .iter()
            .find(|i| uuid::Uuid::parse_str(&i.task_run_external_id).is_err())
        {
            return Err(Status::invalid_argument(format!(
                "invalid task external run id {}: invalid UUID",
                bad.task_run_external_id
            )));
        }
        self.shared.with(|st, now| {
            for item in batch.items {
                if !st.tasks.contains_key(&item.task_run_external_id) {
                    continue;
                }
                let event = pb::StepActionEvent {
                    worker_id: batch.worker_id.clone(),
                    action_id: batch.action_id.clone(),
                    task_run_external_id: item.task_run_external_id,
                    event_timestamp: batch.event_timestamp,
                    event_type: batch.event_type,
                    event_payload: item.event_payload,
                    // A cancel applies to the current attempt whatever the item says.
                    retry_count: if event_type == pb::StepActionEventType::StepEventTypeCancelled {
                        None
                    } else {
                        item.retry_count
                    },
                    should_not_retry: item.should_not_retry,
                    ..Default::default()
                };
                st.step_event(event, now)?;
            }
            Ok::<_, Status>(())
        })?;
        Ok(Response::new(response))
    }

    async fn put_overrides_data(
        &self,
        _request: Request<pb::OverridesData>,
    ) -> Result<Response<pb::OverridesDataResponse>, Status> {
        Ok(Response::new(pb::OverridesDataResponse {}))
    }

    async fn unsubscribe(
        &self,
        request: Request<pb::WorkerUnsubscribeRequest>,
    ) -> Result<Response<pb::WorkerUnsubscribeResponse>, Status> {
        let worker_id = request.into_inner().worker_id;
        self.shared
            .with(|st, _| st.unsubscribe(&worker_id))
            .map(Response::new)
    }

    async fn refresh_timeout(
        &self,
        request: Request<pb::RefreshTimeoutRequest>,
    ) -> Result<Response<pb::RefreshTimeoutResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, _| st.refresh_timeout(req))
            .map(Response::new)
    }

    async fn release_slot(
        &self,
        request: Request<pb::ReleaseSlotRequest>,
    ) -> Result<Response<pb::ReleaseSlotResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.release_slot(req, now))
            .map(Response::new)
    }

    async fn upsert_worker_labels(
        &self,
        request: Request<pb::UpsertWorkerLabelsRequest>,
    ) -> Result<Response<pb::UpsertWorkerLabelsResponse>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.upsert_labels(req, now))
            .map(Response::new)
    }

    async fn get_version(
        &self,
        _request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        Ok(Response::new(pb::GetVersionResponse {
            version: self.shared.version.clone(),
        }))
    }
}
