//! `EventsService`: events that trigger workflows, task logs and stream chunks.

use hatchet_rs_proto as pb;
use hatchet_rs_proto::events_service_server::EventsService;
use tonic::{Request, Response, Status};

use super::EngineService;
use crate::state::check_push;

/// Most events one `BulkPush` accepts.
const MAX_BULK_EVENTS: usize = 1000;

#[tonic::async_trait]
impl EventsService for EngineService {
    async fn push(
        &self,
        request: Request<pb::PushEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let req = request.into_inner();
        self.shared
            .with(|st, now| st.push_event(req, now))
            .map(Response::new)
    }

    async fn bulk_push(
        &self,
        request: Request<pb::BulkPushEventRequest>,
    ) -> Result<Response<pb::Events>, Status> {
        let req = request.into_inner();
        if req.events.is_empty() || req.events.len() > MAX_BULK_EVENTS {
            return Err(Status::invalid_argument(format!(
                "BulkPush takes 1 to {MAX_BULK_EVENTS} events, got {}",
                req.events.len()
            )));
        }
        for event in &req.events {
            check_push(event)?;
        }
        let events = self.shared.with(|st, now| {
            req.events
                .into_iter()
                .map(|e| st.store_event(e, now))
                .collect()
        });
        Ok(Response::new(pb::Events { events }))
    }

    async fn replay_single_event(
        &self,
        request: Request<pb::ReplayEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let id = request.into_inner().event_id;
        self.shared
            .with(|st, now| {
                let event = st
                    .events
                    .iter()
                    .find(|e| e.id == id)
                    .cloned()
                    .ok_or_else(|| Status::not_found(format!("event {id} not found")))?;
                Ok(st.store_event(
                    pb::PushEventRequest {
                        key: event.key,
                        payload: event.payload,
                        event_timestamp: None,
                        additional_metadata: event.metadata,
                        priority: event.priority,
                        scope: event.scope,
                    },
                    now,
                ))
            })
            .map(Response::new)
    }

    async fn put_log(
        &self,
        request: Request<pb::PutLogRequest>,
    ) -> Result<Response<pb::PutLogResponse>, Status> {
        if self.shared.refusing_logs() {
            return Err(Status::unavailable(
                "log lines refused by the test engine (injected fault)",
            ));
        }
        let req = request.into_inner();
        self.shared.with(|st, now| st.put_log(req, now))?;
        Ok(Response::new(pb::PutLogResponse {}))
    }

    async fn put_stream_event(
        &self,
        request: Request<pb::PutStreamEventRequest>,
    ) -> Result<Response<pb::PutStreamEventResponse>, Status> {
        let req = request.into_inner();
        self.shared.with(|st, now| st.put_stream_event(req, now))?;
        if let Some(delay) = self.shared.late_stream_answer() {
            tokio::time::sleep(delay).await;
        }
        Ok(Response::new(pb::PutStreamEventResponse {}))
    }
}
