//! The raw-protocol floor: a hand-written tonic loop with no SDK in it.
//!
//! `PutWorkflow` for both tasks, `Register`, `ListenV2`, a heartbeat every 4 s, and per
//! assigned action a STARTED then a COMPLETED `SendStepActionEvent`. No retries, no
//! reconnects, no payload checks: the least work a worker can do per task, which is what the
//! other peers are compared against.

use std::time::Duration;

use hatchet_rs::{ClientConfig, TlsStrategy};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::dispatcher_client::DispatcherClient;
use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::admin_service_client::AdminServiceClient;
use tonic::Request;
use tonic::transport::Channel;

use crate::BoxError;
use crate::cli::{Options, Peer};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(4);

/// What every call needs: the bearer token.
#[derive(Debug, Clone)]
struct Auth(String);

impl Auth {
    fn request<T>(&self, message: T) -> Result<Request<T>, BoxError> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", self.0).parse()?);
        Ok(request)
    }
}

pub(super) async fn serve(options: &Options) -> Result<(), BoxError> {
    let config = ClientConfig::from_env()?;
    if config.tls().strategy() != TlsStrategy::None {
        return Err("the raw floor speaks plaintext gRPC only: set HATCHET_CLIENT_TLS_STRATEGY=none or leave out the raw peer (--peers rust,go,python)".into());
    }
    let auth = Auth(config.token().expose_secret().to_owned());
    let ns = config.namespace();
    let channel = Channel::from_shared(format!("http://{}", config.host_port()))?
        .connect()
        .await?;

    let (noop, sleep) = (Peer::Raw.noop_workflow(), Peer::Raw.sleep_workflow());
    let mut admin = AdminServiceClient::new(channel.clone());
    for (workflow, task) in [(&noop, "noop"), (&sleep, "sleep")] {
        let request = v1::CreateWorkflowVersionRequest {
            name: ns.apply(workflow),
            tasks: vec![v1::CreateTaskOpts {
                readable_id: task.to_owned(),
                action: ns.action_id(workflow, task),
                ..Default::default()
            }],
            ..Default::default()
        };
        admin.put_workflow(auth.request(request)?).await?;
    }
    let sleep_action = ns.action_id(&sleep, "sleep");

    let mut dispatcher = DispatcherClient::new(channel);
    let worker_id = dispatcher
        .register(auth.request(pb::WorkerRegisterRequest {
            worker_name: "bench-raw".to_owned(),
            actions: vec![ns.action_id(&noop, "noop"), sleep_action.clone()],
            slot_config: [("default".to_owned(), i32::try_from(options.slots)?)].into(),
            ..Default::default()
        })?)
        .await?
        .into_inner()
        .worker_id;
    // Heartbeats start before the stream is awaited: a real engine sends the stream's headers
    // only with the first action, and it assigns nothing to a worker without fresh
    // heartbeats, so awaiting the stream first would wait forever.
    tokio::spawn(heartbeat(
        dispatcher.clone(),
        auth.clone(),
        worker_id.clone(),
    ));
    super::announce_ready();
    let mut actions = dispatcher
        .listen_v2(auth.request(pb::WorkerListenRequest {
            worker_id: worker_id.clone(),
        })?)
        .await?
        .into_inner();

    let sleep_for = Duration::from_millis(options.sleep_ms);
    while let Some(action) = actions.message().await? {
        if action.action_type != pb::ActionType::StartStepRun as i32 {
            continue;
        }
        let sleeps = action.action_id == sleep_action;
        let reply = Reply {
            client: dispatcher.clone(),
            auth: auth.clone(),
            worker_id: worker_id.clone(),
            action,
        };
        tokio::spawn(async move {
            let started_at_us = super::now_us();
            reply
                .send(pb::StepActionEventType::StepEventTypeStarted, String::new())
                .await;
            let output = if sleeps {
                tokio::time::sleep(sleep_for).await;
                "{}".to_owned()
            } else {
                format!("{{\"started_at_us\":{started_at_us}}}")
            };
            reply
                .send(pb::StepActionEventType::StepEventTypeCompleted, output)
                .await;
        });
    }
    Err("the engine closed the ListenV2 stream".into())
}

/// What answering one action needs.
struct Reply {
    client: DispatcherClient<Channel>,
    auth: Auth,
    worker_id: String,
    action: pb::AssignedAction,
}

impl Reply {
    /// Sends one step event; a failure is only printed (the floor does not retry).
    async fn send(&self, event_type: pb::StepActionEventType, payload: String) {
        let event = pb::StepActionEvent {
            worker_id: self.worker_id.clone(),
            task_run_external_id: self.action.task_run_external_id.clone(),
            action_id: self.action.action_id.clone(),
            event_type: event_type as i32,
            event_payload: payload,
            retry_count: Some(self.action.retry_count),
            ..Default::default()
        };
        let sent = match self.auth.request(event) {
            Ok(request) => self
                .client
                .clone()
                .send_step_action_event(request)
                .await
                .err(),
            Err(e) => Some(tonic::Status::internal(e.to_string())),
        };
        if let Some(status) = sent {
            eprintln!("raw worker: {event_type:?} not sent: {status}");
        }
    }
}

async fn heartbeat(mut client: DispatcherClient<Channel>, auth: Auth, worker_id: String) {
    loop {
        if let Ok(request) = auth.request(pb::HeartbeatRequest {
            worker_id: worker_id.clone(),
            heartbeat_at: None,
        }) && let Err(status) = client.heartbeat(request).await
        {
            eprintln!("raw worker: heartbeat failed: {status}");
        }
        tokio::time::sleep(HEARTBEAT_EVERY).await;
    }
}
