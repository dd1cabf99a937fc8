//! Test helpers: a raw-protocol worker, registration builders and raw service clients.

use std::time::Duration;

use hatchet_rs::testing::TestEngine;
use hatchet_rs::{RunOptions, WorkflowRunRef};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::dispatcher_client::DispatcherClient;
use hatchet_rs_proto::events_service_client::EventsServiceClient;
use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::admin_service_client::AdminServiceClient;
use hatchet_rs_proto::workflow_service_client::WorkflowServiceClient;
use serde_json::json;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

/// How long any single wait in these tests may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Adds `authorization: Bearer <token>`.
#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value = token.parse().map_err(|_| Status::internal("bad header"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub(crate) type Authed = InterceptedService<Channel, Bearer>;

/// Raw clients of every service, authenticated with the engine's token.
#[derive(Clone)]
pub(crate) struct Raw {
    pub dispatcher: DispatcherClient<Authed>,
    pub events: EventsServiceClient<Authed>,
    pub workflows: WorkflowServiceClient<Authed>,
    pub admin: AdminServiceClient<Authed>,
}

impl Raw {
    pub(crate) async fn new(engine: &TestEngine) -> Self {
        Self::with_header(engine, Some(format!("Bearer {}", engine.token()))).await
    }

    /// Clients that send `authorization` exactly as given (or not at all).
    pub(crate) async fn with_header(engine: &TestEngine, header: Option<String>) -> Self {
        let channel = Channel::from_shared(format!("http://{}", engine.addr()))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let bearer = Bearer(header);
        Self {
            dispatcher: DispatcherClient::with_interceptor(channel.clone(), bearer.clone()),
            events: EventsServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            workflows: WorkflowServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            admin: AdminServiceClient::with_interceptor(channel, bearer),
        }
    }

    /// Registers a workflow, panicking on rejection.
    pub(crate) async fn register(&self, request: v1::CreateWorkflowVersionRequest) {
        self.admin
            .clone()
            .put_workflow(request)
            .await
            .expect("registration accepted");
    }
}

/// A task `name` of workflow `workflow` with the SDKs' action id `<workflow lower>:<name>`.
pub(crate) fn task(workflow: &str, name: &str, parents: &[&str]) -> v1::CreateTaskOpts {
    v1::CreateTaskOpts {
        readable_id: name.to_owned(),
        action: action(workflow, name),
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        inputs: "{}".to_owned(),
        ..Default::default()
    }
}

pub(crate) fn action(workflow: &str, name: &str) -> String {
    format!("{}:{name}", workflow.to_lowercase())
}

pub(crate) fn workflow(
    name: &str,
    tasks: Vec<v1::CreateTaskOpts>,
) -> v1::CreateWorkflowVersionRequest {
    v1::CreateWorkflowVersionRequest {
        name: name.to_owned(),
        tasks,
        ..Default::default()
    }
}

/// A single-task workflow whose task is named `task`.
pub(crate) fn single(name: &str) -> v1::CreateWorkflowVersionRequest {
    workflow(name, vec![task(name, "task", &[])])
}

/// A worker speaking the protocol by hand: Register, ListenV2, events.
pub(crate) struct RawWorker {
    pub id: String,
    pub raw: Raw,
    pub actions: Streaming<pb::AssignedAction>,
}

impl RawWorker {
    /// Registers for `actions` with the default slots and starts listening.
    pub(crate) async fn start(engine: &TestEngine, actions: &[String]) -> Self {
        Self::start_with(engine, actions, Default::default()).await
    }

    pub(crate) async fn start_with(
        engine: &TestEngine,
        actions: &[String],
        slot_config: std::collections::HashMap<String, i32>,
    ) -> Self {
        Self::start_registered(engine, actions, slot_config, Default::default()).await
    }

    /// Registers for `actions` with worker `labels` and starts listening.
    pub(crate) async fn start_labelled(
        engine: &TestEngine,
        actions: &[String],
        labels: std::collections::HashMap<String, pb::WorkerLabels>,
    ) -> Self {
        Self::start_registered(engine, actions, Default::default(), labels).await
    }

    pub(crate) async fn start_registered(
        engine: &TestEngine,
        actions: &[String],
        slot_config: std::collections::HashMap<String, i32>,
        labels: std::collections::HashMap<String, pb::WorkerLabels>,
    ) -> Self {
        let raw = Raw::new(engine).await;
        let id = raw
            .dispatcher
            .clone()
            .register(pb::WorkerRegisterRequest {
                worker_name: "raw".to_owned(),
                actions: actions.to_vec(),
                services: vec!["default".to_owned()],
                slot_config,
                labels,
                ..Default::default()
            })
            .await
            .expect("register")
            .into_inner()
            .worker_id;
        let actions = raw
            .dispatcher
            .clone()
            .listen_v2(pb::WorkerListenRequest {
                worker_id: id.clone(),
            })
            .await
            .expect("listen")
            .into_inner();
        Self { id, raw, actions }
    }

    /// The next action, failing the test after [`WAIT`].
    pub(crate) async fn next(&mut self) -> pb::AssignedAction {
        tokio::time::timeout(WAIT, self.actions.message())
            .await
            .expect("an action within the wait")
            .expect("stream healthy")
            .expect("stream open")
    }

    /// No action arrives within `within` (real time).
    pub(crate) async fn nothing_within(&mut self, within: Duration) {
        if let Ok(message) = tokio::time::timeout(within, self.actions.message()).await {
            panic!("expected no action, got {message:?}");
        }
    }

    pub(crate) async fn heartbeat(&self) -> Result<(), Status> {
        self.raw
            .dispatcher
            .clone()
            .heartbeat(pb::HeartbeatRequest {
                worker_id: self.id.clone(),
                heartbeat_at: None,
            })
            .await
            .map(|_| ())
    }

    pub(crate) async fn send(
        &self,
        action: &pb::AssignedAction,
        event_type: pb::StepActionEventType,
        payload: &str,
        should_not_retry: Option<bool>,
    ) -> Result<(), Status> {
        self.raw
            .dispatcher
            .clone()
            .send_step_action_event(pb::StepActionEvent {
                worker_id: self.id.clone(),
                job_id: action.job_id.clone(),
                job_run_id: action.job_run_id.clone(),
                task_id: action.task_id.clone(),
                task_run_external_id: action.task_run_external_id.clone(),
                action_id: action.action_id.clone(),
                event_timestamp: None,
                event_type: event_type as i32,
                event_payload: payload.to_owned(),
                retry_count: Some(action.retry_count),
                should_not_retry,
                ..Default::default()
            })
            .await
            .map(|_| ())
    }

    /// STARTED then COMPLETED with `output`.
    pub(crate) async fn complete(&self, action: &pb::AssignedAction, output: &str) {
        self.send(
            action,
            pb::StepActionEventType::StepEventTypeStarted,
            "",
            None,
        )
        .await
        .expect("started");
        self.send(
            action,
            pb::StepActionEventType::StepEventTypeCompleted,
            output,
            None,
        )
        .await
        .expect("completed");
    }

    /// FAILED with `error`.
    pub(crate) async fn fail(&self, action: &pb::AssignedAction, error: &str, non_retryable: bool) {
        self.send(
            action,
            pb::StepActionEventType::StepEventTypeFailed,
            error,
            Some(non_retryable),
        )
        .await
        .expect("failed");
    }
}

/// The parsed `action_payload` of an action.
pub(crate) fn payload(action: &pb::AssignedAction) -> serde_json::Value {
    serde_json::from_str(&action.action_payload).expect("payload is JSON")
}

/// Registers `queued` and triggers two runs of it that stay queued (no worker takes them):
/// the first tagged `batch: 7`, the second untagged, so a filter on the tag must select
/// only the first.
pub(crate) async fn tagged_and_untagged_runs(
    engine: &TestEngine,
) -> (WorkflowRunRef, WorkflowRunRef) {
    Raw::new(engine).await.register(single("queued")).await;
    let client = engine.client();
    let tagged = client
        .runs()
        .trigger(
            "queued",
            &json!({}),
            RunOptions::new().metadata("batch", "7"),
        )
        .await
        .unwrap();
    let untagged = client
        .runs()
        .trigger("queued", &json!({}), RunOptions::new())
        .await
        .unwrap();
    (tagged, untagged)
}
