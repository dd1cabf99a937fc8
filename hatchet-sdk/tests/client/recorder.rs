//! A small tonic server that records what the client sends and answers from a script.
//!
//! It is not an engine: it keeps no runs and schedules nothing. It lets the client tests
//! assert the exact requests, headers and compression the SDK puts on the wire.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hatchet_rs::{Client, ClientConfig, TlsStrategy};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::dispatcher_server::{Dispatcher, DispatcherServer};
use hatchet_rs_proto::events_service_server::{EventsService, EventsServiceServer};
use hatchet_rs_proto::v1::admin_service_server::{AdminService, AdminServiceServer};
use hatchet_rs_proto::workflow_service_server::{WorkflowService, WorkflowServiceServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status, Streaming};

type BoxStream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// One recorded call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: &'static str,
    pub authorization: Option<String>,
    pub encoding: Option<String>,
    pub request: Recorded,
}

/// The request of a recorded call. Some variants are only shown in failure output.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) enum Recorded {
    Push(pb::PushEventRequest),
    BulkPush(pb::BulkPushEventRequest),
    Trigger(pb::v1::TriggerWorkflowRequest),
    BulkTrigger(pb::BulkTriggerWorkflowRequest),
    Schedule(pb::ScheduleWorkflowRequest),
    PutRateLimit(pb::PutRateLimitRequest),
    Cancel(pb::v1::CancelTasksRequest),
    Replay(pb::v1::ReplayTasksRequest),
    RunDetails(pb::v1::GetRunDetailsRequest),
    SubscribeRun(String),
    GetVersion,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    failures: HashMap<&'static str, Status>,
    /// Methods whose calls never answer, as a stuck engine.
    hangs: std::collections::HashSet<&'static str>,
    /// Failures of the n-th call (0-based) to a method.
    failures_at: HashMap<(&'static str, usize), Status>,
    finished: HashMap<String, pb::WorkflowRunEvent>,
    details: HashMap<String, pb::v1::GetRunDetailsResponse>,
    streams: Vec<RunStream>,
    streams_opened: usize,
    next_id: u64,
    /// Run ids left out of each `BulkTriggerWorkflow` answer, as a faulty engine might.
    bulk_ids_missing: usize,
}

struct RunStream {
    sender: mpsc::Sender<Result<pb::WorkflowRunEvent, Status>>,
    watching: HashSet<String>,
}

/// The shared state of the recording server.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    state: Arc<Mutex<State>>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("recorder lock")
    }

    fn record<T>(
        &self,
        method: &'static str,
        request: &Request<T>,
        recorded: Recorded,
    ) -> Result<(), Status> {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut state = self.lock();
        let index = state.calls.iter().filter(|c| c.method == method).count();
        if let Some(status) = state.failures_at.remove(&(method, index)) {
            state.failures.insert(method, status);
        }
        state.calls.push(Call {
            method,
            authorization: header("authorization"),
            encoding: header("grpc-encoding"),
            request: recorded,
        });
        match state.failures.remove(method) {
            Some(status) => Err(status),
            None => Ok(()),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        format!("{prefix}-{}", state.next_id)
    }

    /// Every call so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls to `method`.
    pub(crate) fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Every later call to `method` is recorded and never answered.
    pub(crate) fn hang(&self, method: &'static str) {
        self.lock().hangs.insert(method);
    }

    async fn hang_if_asked(&self, method: &'static str) {
        let hang = self.lock().hangs.contains(method);
        if hang {
            std::future::pending::<()>().await;
        }
    }

    /// Call number `index` (0-based) to `method` fails with `status`.
    pub(crate) fn fail_call(&self, method: &'static str, index: usize, status: Status) {
        self.lock().failures_at.insert((method, index), status);
    }

    /// Every later `BulkTriggerWorkflow` answer leaves out the last `missing` run ids.
    pub(crate) fn answer_bulk_triggers_short(&self, missing: usize) {
        self.lock().bulk_ids_missing = missing;
    }

    /// The next call to `method` fails with `status`.
    pub(crate) fn fail_next(&self, method: &'static str, status: Status) {
        self.lock().failures.insert(method, status);
    }

    /// How many `SubscribeToWorkflowRuns` streams were opened.
    pub(crate) fn run_streams_opened(&self) -> usize {
        self.lock().streams_opened
    }

    /// The run ids subscribed on open streams, in total.
    pub(crate) fn watched_run_ids(&self) -> usize {
        self.lock().streams.iter().map(|s| s.watching.len()).sum()
    }

    /// Marks `run_id` finished; streams watching it (now or later) receive the event.
    pub(crate) fn finish_run(&self, run_id: &str, results: Vec<pb::StepRunResult>) {
        let event = pb::WorkflowRunEvent {
            workflow_run_id: run_id.to_owned(),
            event_type: pb::WorkflowRunEventType::Finished as i32,
            event_timestamp: None,
            results,
        };
        let mut state = self.lock();
        for stream in &state.streams {
            if stream.watching.contains(run_id) {
                let _ = stream.sender.try_send(Ok(event.clone()));
            }
        }
        state.finished.insert(run_id.to_owned(), event);
    }

    /// Sets what `GetRunDetails` answers for `run_id`.
    pub(crate) fn set_details(&self, run_id: &str, details: pb::v1::GetRunDetailsResponse) {
        self.lock().details.insert(run_id.to_owned(), details);
    }

    /// Breaks every open run-result stream with UNAVAILABLE.
    pub(crate) fn drop_run_streams(&self) {
        for stream in self.lock().streams.drain(..) {
            let _ = stream
                .sender
                .try_send(Err(Status::unavailable("dropped by the test")));
        }
    }
}

/// A task-output result for [`Recorder::finish_run`].
pub(crate) fn output(task: &str, json: &str) -> pb::StepRunResult {
    pb::StepRunResult {
        task_run_external_id: format!("{task}-id"),
        task_name: task.to_owned(),
        job_run_id: String::new(),
        error: None,
        output: Some(json.to_owned()),
    }
}

/// A task-error result for [`Recorder::finish_run`].
pub(crate) fn failure(task: &str, error: &str) -> pb::StepRunResult {
    pb::StepRunResult {
        error: Some(error.to_owned()),
        output: None,
        ..output(task, "")
    }
}

#[tonic::async_trait]
impl Dispatcher for Recorder {
    async fn subscribe_to_workflow_runs(
        &self,
        request: Request<Streaming<pb::SubscribeToWorkflowRunsRequest>>,
    ) -> Result<Response<BoxStream<pb::WorkflowRunEvent>>, Status> {
        let (sender, receiver) = mpsc::channel(1024);
        {
            let mut state = self.lock();
            state.streams_opened += 1;
            state.streams.push(RunStream {
                sender: sender.clone(),
                watching: HashSet::new(),
            });
        }
        let recorder = self.clone();
        let mut incoming = request.into_inner();
        tokio::spawn(async move {
            while let Ok(Some(message)) = incoming.message().await {
                let run_id = message.workflow_run_id;
                let mut state = recorder.lock();
                state.calls.push(Call {
                    method: "SubscribeToWorkflowRuns",
                    authorization: None,
                    encoding: None,
                    request: Recorded::SubscribeRun(run_id.clone()),
                });
                if let Some(event) = state.finished.get(&run_id).cloned() {
                    let _ = sender.try_send(Ok(event));
                }
                if let Some(stream) = state
                    .streams
                    .iter_mut()
                    .find(|s| s.sender.same_channel(&sender))
                {
                    stream.watching.insert(run_id);
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn get_version(
        &self,
        request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        self.record("GetVersion", &request, Recorded::GetVersion)?;
        Ok(Response::new(pb::GetVersionResponse {
            version: "v0.104.7".to_owned(),
        }))
    }
}

#[tonic::async_trait]
impl EventsService for Recorder {
    async fn push(
        &self,
        request: Request<pb::PushEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let body = request.get_ref().clone();
        self.record("Push", &request, Recorded::Push(body.clone()))?;
        self.hang_if_asked("Push").await;
        Ok(Response::new(stored_event(self.next_id("event"), body)))
    }

    async fn bulk_push(
        &self,
        request: Request<pb::BulkPushEventRequest>,
    ) -> Result<Response<pb::Events>, Status> {
        let body = request.get_ref().clone();
        self.record("BulkPush", &request, Recorded::BulkPush(body.clone()))?;
        let events = body
            .events
            .into_iter()
            .map(|e| stored_event(self.next_id("event"), e))
            .collect();
        Ok(Response::new(pb::Events { events }))
    }
}

fn stored_event(id: String, request: pb::PushEventRequest) -> pb::Event {
    pb::Event {
        tenant_id: "tenant".to_owned(),
        event_id: id,
        key: request.key,
        payload: request.payload,
        event_timestamp: request.event_timestamp,
        additional_metadata: request.additional_metadata,
        scope: request.scope,
    }
}

#[tonic::async_trait]
impl WorkflowService for Recorder {
    async fn trigger_workflow(
        &self,
        request: Request<pb::v1::TriggerWorkflowRequest>,
    ) -> Result<Response<pb::TriggerWorkflowResponse>, Status> {
        let body = request.get_ref().clone();
        self.record("TriggerWorkflow", &request, Recorded::Trigger(body))?;
        self.hang_if_asked("TriggerWorkflow").await;
        Ok(Response::new(pb::TriggerWorkflowResponse {
            workflow_run_id: self.next_id("run"),
        }))
    }

    async fn bulk_trigger_workflow(
        &self,
        request: Request<pb::BulkTriggerWorkflowRequest>,
    ) -> Result<Response<pb::BulkTriggerWorkflowResponse>, Status> {
        let body = request.get_ref().clone();
        let count = body.workflows.len();
        self.record("BulkTriggerWorkflow", &request, Recorded::BulkTrigger(body))?;
        let count = count.saturating_sub(self.lock().bulk_ids_missing);
        Ok(Response::new(pb::BulkTriggerWorkflowResponse {
            workflow_run_ids: (0..count).map(|_| self.next_id("run")).collect(),
        }))
    }

    async fn schedule_workflow(
        &self,
        request: Request<pb::ScheduleWorkflowRequest>,
    ) -> Result<Response<pb::WorkflowVersion>, Status> {
        let body = request.get_ref().clone();
        self.record(
            "ScheduleWorkflow",
            &request,
            Recorded::Schedule(body.clone()),
        )?;
        Ok(Response::new(pb::WorkflowVersion {
            id: "version-1".to_owned(),
            scheduled_workflows: body
                .schedules
                .into_iter()
                .map(|at| pb::ScheduledWorkflow {
                    id: self.next_id("scheduled"),
                    trigger_at: Some(at),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn put_rate_limit(
        &self,
        request: Request<pb::PutRateLimitRequest>,
    ) -> Result<Response<pb::PutRateLimitResponse>, Status> {
        let body = request.get_ref().clone();
        self.record("PutRateLimit", &request, Recorded::PutRateLimit(body))?;
        Ok(Response::new(pb::PutRateLimitResponse {}))
    }
}

#[tonic::async_trait]
impl AdminService for Recorder {
    async fn cancel_tasks(
        &self,
        request: Request<pb::v1::CancelTasksRequest>,
    ) -> Result<Response<pb::v1::CancelTasksResponse>, Status> {
        let body = request.get_ref().clone();
        self.record("CancelTasks", &request, Recorded::Cancel(body.clone()))?;
        Ok(Response::new(pb::v1::CancelTasksResponse {
            cancelled_tasks: body.external_ids,
        }))
    }

    async fn replay_tasks(
        &self,
        request: Request<pb::v1::ReplayTasksRequest>,
    ) -> Result<Response<pb::v1::ReplayTasksResponse>, Status> {
        let body = request.get_ref().clone();
        self.record("ReplayTasks", &request, Recorded::Replay(body.clone()))?;
        Ok(Response::new(pb::v1::ReplayTasksResponse {
            replayed_tasks: body.external_ids,
        }))
    }

    async fn get_run_details(
        &self,
        request: Request<pb::v1::GetRunDetailsRequest>,
    ) -> Result<Response<pb::v1::GetRunDetailsResponse>, Status> {
        let body = request.get_ref().clone();
        let id = body.external_id.clone();
        self.record("GetRunDetails", &request, Recorded::RunDetails(body))?;
        self.lock()
            .details
            .get(&id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("run {id} not found")))
    }
}

/// A running recording server.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub recorder: Recorder,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(tonic::transport::Server::builder()).await
    }

    /// Starts the server with `builder`, for example one configured for TLS.
    pub(crate) async fn start_with(mut builder: tonic::transport::Server) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let recorder = Recorder::default();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let gzip = CompressionEncoding::Gzip;
        let router = builder
            .add_service(
                DispatcherServer::new(recorder.clone())
                    .accept_compressed(gzip)
                    .send_compressed(gzip),
            )
            .add_service(
                EventsServiceServer::new(recorder.clone())
                    .accept_compressed(gzip)
                    .send_compressed(gzip),
            )
            .add_service(
                WorkflowServiceServer::new(recorder.clone())
                    .accept_compressed(gzip)
                    .send_compressed(gzip),
            )
            .add_service(
                AdminServiceServer::new(recorder.clone())
                    .accept_compressed(gzip)
                    .send_compressed(gzip),
            );
        tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop.await;
                })
                .await;
        });
        Self {
            addr,
            recorder,
            _shutdown: shutdown,
        }
    }

    /// A client for this server; `configure` may adjust the builder.
    pub(crate) fn client_with(
        &self,
        configure: impl FnOnce(hatchet_rs::ClientConfigBuilder) -> hatchet_rs::ClientConfigBuilder,
    ) -> Client {
        let builder = ClientConfig::builder()
            .token(token())
            .host_port(self.addr.to_string())
            .tls_strategy(TlsStrategy::None);
        Client::new(configure(builder).build().expect("config")).expect("client")
    }

    pub(crate) fn client(&self) -> Client {
        self.client_with(|b| b)
    }
}

/// An unsigned token with the claims a Hatchet token carries.
pub(crate) fn token() -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"ES256"}"#),
        b64.encode(br#"{"sub":"707d0855-80ab-4e1f-a156-f1c4546cbf52","exp":4102444800,"server_url":"http://localhost:8080"}"#),
        b64.encode(b"sig")
    )
}
