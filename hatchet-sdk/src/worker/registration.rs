//! Registration: the worker's workflows (`v1.AdminService/PutWorkflow`), then the worker
//! itself (`Dispatcher/Register`), retried while the engine is unreachable at start-up, and
//! again whenever the engine forgets the worker (reference §5 steps 1-3).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hatchet_rs_proto::{RuntimeInfo, WorkerRegisterRequest};

use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::retry::RetryPolicy;
use crate::transport::Transport;
use crate::workflow::WorkflowDef;

const REGISTER_DEADLINE: Duration = Duration::from_secs(30);
/// How often a workflow registration answered with INTERNAL is tried again.
const REGISTRATION_CONFLICT_RETRIES: u32 = 5;
/// The worker's labels as last set, at start or by a task.
pub(crate) type WorkerLabels = Arc<RwLock<HashMap<String, hatchet_rs_proto::WorkerLabels>>>;

/// What the worker registers as.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
    /// Shared with the tasks' contexts: labels a task sets are registered again with the
    /// worker if the engine forgets it.
    pub(crate) labels: WorkerLabels,
    pub(crate) slot_config: HashMap<String, i32>,
}

impl Registration {
    fn to_proto(&self) -> WorkerRegisterRequest {
        WorkerRegisterRequest {
            worker_name: self.name.clone(),
            actions: self.actions.clone(),
            services: vec!["default".to_owned()],
            slots: None,
            labels: self
                .labels
                .read()
                .map(|labels| labels.clone())
                .unwrap_or_default(),
            webhook_id: None,
            runtime_info: Some(RuntimeInfo {
                sdk_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                // The protocol has no value for Rust, and the engine refuses a worker that names
                // `UNKNOWN` ("invalid sdk"); the `extra` field says which SDK this is.
                language: None,
                language_version: None,
                os: Some(std::env::consts::OS.to_owned()),
                extra: Some("hatchet-rs".to_owned()),
            }),
            slot_config: self.slot_config.clone(),
        }
    }
}

/// Registers and returns the worker id.
pub(crate) async fn register(transport: &Transport, registration: &Registration) -> Result<String> {
    let mut dispatcher = transport.dispatcher();
    let response = tokio::time::timeout(
        REGISTER_DEADLINE,
        dispatcher.register(registration.to_proto()),
    )
    .await
    .map_err(|_| Error::Timeout("worker registration took longer than 30 s".to_owned()))??
    .into_inner();
    Ok(response.worker_id)
}

/// Registers every workflow, retrying while the engine is unreachable (`policy`); a workflow
/// the engine rejects fails with its name.
pub(crate) async fn put_workflows(
    transport: &Transport,
    ns: &Namespace,
    workflows: &[Arc<WorkflowDef>],
    policy: RetryPolicy,
) -> Result<()> {
    for def in workflows {
        let request = crate::workflow::proto::workflow(def, ns);
        transport.check_size("the workflow definition", &request)?;
        let mut conflicts = 0;
        let registered = loop {
            let attempt = until_reachable(policy, "registering workflow", || {
                let mut admin = transport.admin();
                let request = request.clone();
                async move { admin.put_workflow(request).await.map(|_| ()) }
            })
            .await;
            match attempt {
                // Workers of one deploy start together, and the engine answers all but one
                // of those that create a new workflow at the same moment with INTERNAL (a
                // unique-constraint conflict). Registering is idempotent: try again.
                Err(Error::Status {
                    code: tonic::Code::Internal,
                    message,
                }) if conflicts < REGISTRATION_CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::warn!(workflow = %def.name, %message, attempt = conflicts, "the engine failed to register the workflow; retrying");
                    tokio::time::sleep(policy.delay(conflicts)).await;
                }
                other => break other,
            }
        };
        registered.map_err(|error| match error {
            Error::InvalidArgument(message) => Error::InvalidArgument(format!(
                "the engine rejected workflow `{}`: {message}",
                def.name
            )),
            other => other,
        })?;
    }
    Ok(())
}

/// Runs `call` until it succeeds, fails for a reason retrying cannot fix, or the engine has
/// been unreachable longer than `policy` allows.
pub(crate) async fn until_reachable<T, E, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut call: F,
) -> Result<T>
where
    E: Into<Error>,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error.into(),
        };
        let unreachable = matches!(error, Error::Connection { .. } | Error::Timeout(_));
        if !unreachable || policy.gives_up(started.elapsed()) {
            return Err(error);
        }
        attempt += 1;
        let delay = policy.delay(attempt);
        tracing::warn!(%error, attempt, retry_in = ?delay, "{what}: the engine is unreachable; retrying");
        tokio::time::sleep(delay).await;
    }
}
