//! Workers: register workflows, receive tasks from the engine and run them.
//!
//! ```no_run
//! # use hatchet_rs::{Client, Worker, Workflow};
//! # async fn demo(client: Client, etl: Workflow) -> hatchet_rs::Result<()> {
//! let worker = Worker::builder(&client, "etl-worker").slots(20).workflow(&etl).build()?;
//! worker.run().await?; // until ctrl-c or SIGTERM, then drains in-flight tasks
//! # Ok(()) }
//! ```

mod action_stream;
mod executor;
#[cfg(feature = "healthcheck")]
mod health;
mod heartbeat;
mod registration;
mod reporter;
mod stats;

pub use stats::WorkerStats;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::labels::{LabelValue, worker_label_to_proto};
use crate::retry::RetryPolicy;
use crate::workflow::{DEFAULT_SLOT, DURABLE_SLOT, Workflow, WorkflowDef};

use executor::{Executor, Registry};
use registration::Registration;
use reporter::Reporter;

/// What a task's context knows of its worker: its current id (it changes when the worker
/// registers again) and its labels.
#[derive(Debug, Clone)]
pub(crate) struct WorkerLink {
    pub(crate) id: Arc<RwLock<String>>,
    pub(crate) labels: registration::WorkerLabels,
    pub(crate) data: Arc<SharedData>,
    /// The worker's durable-task stream (opened on the first durable call).
    pub(crate) durable: Arc<crate::durable::DurableClient>,
}

/// Values registered with [`WorkerBuilder::data`], by type.
#[derive(Default)]
pub(crate) struct SharedData(HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>);

impl std::fmt::Debug for SharedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedData({} values)", self.0.len())
    }
}

impl SharedData {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(std::any::TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0
            .get(&std::any::TypeId::of::<T>())
            .and_then(|value| value.clone().downcast::<T>().ok())
    }
}

impl WorkerLink {
    pub(crate) fn current_id(&self) -> String {
        self.id.read().map(|id| id.clone()).unwrap_or_default()
    }
}

/// Default number of `default` slots: tasks this worker runs at once.
pub const DEFAULT_SLOTS: u32 = 100;
/// Default number of `durable` slots, used when the worker has durable tasks.
pub const DEFAULT_DURABLE_SLOTS: u32 = 1000;

/// Builds a [`Worker`]; see [`Worker::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a worker"]
pub struct WorkerBuilder {
    client: Client,
    name: String,
    slots: u32,
    durable_slots: u32,
    extra_slots: HashMap<String, u32>,
    labels: HashMap<String, LabelValue>,
    workflows: Vec<Arc<WorkflowDef>>,
    shutdown_timeout: Duration,
    cancel_grace_period: Duration,
    startup_timeout: Duration,
    data: SharedData,
    on_start: Option<Hook>,
    on_shutdown: Option<Hook>,
    /// Where the health endpoint listens, if it is on (feature `healthcheck`).
    #[cfg_attr(not(feature = "healthcheck"), allow(dead_code))]
    healthcheck: Option<std::net::SocketAddr>,
    errors: Vec<String>,
}

/// A start-up or shutdown hook.
struct Hook(
    Box<
        dyn FnOnce() -> futures::future::BoxFuture<'static, std::result::Result<(), HookError>>
            + Send
            + Sync,
    >,
);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// What a hook may fail with.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

fn hook<F, Fut>(f: F) -> Hook
where
    F: FnOnce() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::result::Result<(), HookError>> + Send + 'static,
{
    Hook(Box::new(move || Box::pin(f())))
}

impl WorkerBuilder {
    /// How many tasks run at once (default [`DEFAULT_SLOTS`]).
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// How many durable tasks run at once (default [`DEFAULT_DURABLE_SLOTS`]).
    pub fn durable_slots(mut self, slots: u32) -> Self {
        self.durable_slots = slots;
        self
    }

    /// Capacity for a custom slot type that tasks request with [`crate::Task::slots`].
    pub fn slot_type(mut self, slot_type: impl Into<String>, slots: u32) -> Self {
        self.extra_slots.insert(slot_type.into(), slots);
        self
    }

    /// A label that runs and tasks can ask for with [`crate::DesiredLabel`].
    pub fn label(mut self, key: impl Into<String>, value: impl Into<LabelValue>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Serves the tasks of `workflow`.
    pub fn workflow<I, O>(mut self, workflow: &Workflow<I, O>) -> Self {
        self.workflows.push(workflow.def.clone());
        self
    }

    /// Serves the tasks of the workflow type `W` (declared with `#[workflow]` or `#[task]`).
    /// A definition error is reported by [`WorkerBuilder::build`].
    pub fn register<W: crate::workflow::WorkflowDefinition>(mut self) -> Self {
        match W::definition() {
            Ok(workflow) => self.workflows.push(workflow.def),
            Err(error) => self.errors.push(error.to_string()),
        }
        self
    }

    /// How long a graceful shutdown may take in all (default 25 s): waiting for running
    /// tasks, evicting waiting durable tasks and sending the last results. The worker keeps
    /// heartbeating, paused for new work, until the deadline; what still runs then is given
    /// back to the engine unreported (see [`WorkerHandle::shutdown`]), so the deadline can
    /// be as long as a deploy allows without a task running twice.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a cancelled task may keep running after its cancellation token fires before
    /// it is aborted (default 1 s).
    pub fn cancel_grace_period(mut self, grace: Duration) -> Self {
        self.cancel_grace_period = grace;
        self
    }

    /// Shares `value` with every task this worker runs, read with
    /// [`Context::data`](crate::Context::data): a database pool, an HTTP client, settings.
    /// One value per type; registering a type again replaces it.
    ///
    /// ```no_run
    /// # use hatchet_rs::{task, Context, TaskError, Worker};
    /// # use serde_json::{json, Value};
    /// #[derive(Debug)]
    /// struct Settings { greeting: String }
    ///
    /// #[task]
    /// async fn greet(_input: Value, ctx: Context) -> Result<Value, TaskError> {
    ///     let settings = ctx.data::<Settings>()?;
    ///     Ok(json!({"message": settings.greeting}))
    /// }
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// let worker = Worker::builder(&client, "greeter")
    ///     .data(Settings { greeting: "hello".into() })
    ///     .register::<greet>()
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.data.insert(value);
        self
    }

    /// Serves the worker's health endpoint on `port` of all interfaces (0: any free port; see
    /// [`WorkerHandle::healthcheck_addr`]): `GET /health`, `GET /ready` (listening with a
    /// fresh heartbeat) and `GET /metrics` (Prometheus). Also switched on by
    /// `HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED=true` with
    /// `HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT` (default 8001), as in the official SDKs.
    #[cfg(feature = "healthcheck")]
    pub fn healthcheck(mut self, port: u16) -> Self {
        self.healthcheck = Some(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        self
    }

    /// Runs `hook` when the worker starts, before it registers with the engine, so no task
    /// arrives before what it needs is ready (open a pool, warm a cache). If it fails,
    /// [`Worker::start`] fails with [`Error::WorkerHook`].
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, wf: hatchet_rs::Workflow) -> hatchet_rs::Result<()> {
    /// let worker = hatchet_rs::Worker::builder(&client, "etl")
    ///     .workflow(&wf)
    ///     .on_start(|| async { println!("warming up"); Ok(()) })
    ///     .on_shutdown(|| async { println!("flushing"); Ok(()) })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn on_start<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), HookError>> + Send + 'static,
    {
        self.on_start = Some(hook(f));
        self
    }

    /// Runs `hook` once when the worker stops (after its tasks drained, before it
    /// unsubscribes), however it stops: shutdown, a second signal, or a refusal by the
    /// engine. A hook that is running when a second signal arrives runs to its end. A
    /// failure is logged and returned by the shutdown.
    pub fn on_shutdown<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), HookError>> + Send + 'static,
    {
        self.on_shutdown = Some(hook(f));
        self
    }

    /// How long [`Worker::start`] keeps retrying while the engine is unreachable (default
    /// 5 minutes), so a worker started before its engine (compose, Kubernetes) waits for it
    /// instead of crash-looping. Refusals (a bad token, a rejected workflow) fail at once.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Checks the worker's settings.
    pub fn build(self) -> Result<Worker> {
        if let Some(error) = self.errors.first() {
            return Err(Error::InvalidPayload(error.clone()));
        }
        if self.name.trim().is_empty() {
            return Err(Error::InvalidPayload("a worker needs a name".to_owned()));
        }
        if self.workflows.is_empty() {
            return Err(Error::InvalidPayload(format!(
                "worker `{}` has no workflows: add some with .workflow(..)",
                self.name
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for def in &self.workflows {
            if !seen.insert(def.name.as_str()) {
                return Err(Error::InvalidPayload(format!(
                    "worker `{}` has two workflows named `{}`",
                    self.name, def.name
                )));
            }
        }
        if self.slots == 0 {
            return Err(Error::InvalidPayload(
                "a worker needs at least one slot".to_owned(),
            ));
        }
        self.check_tasks()?;
        Ok(Worker { builder: self })
    }

    /// Rejects tasks this worker could never run: ones needing a slot type it does not offer,
    /// and workflows or tasks whose names differ only in case (the engine lower-cases action
    /// ids, so one would silently run the other's function).
    fn check_tasks(&self) -> Result<()> {
        let ns = self.client.config().namespace();
        let mut actions = HashMap::new();
        for def in &self.workflows {
            for task in def.all_tasks() {
                let action = ns.action_id(&def.name, &task.name);
                if let Some((other_workflow, other_task)) =
                    actions.insert(action.clone(), (&def.name, &task.name))
                {
                    return Err(Error::InvalidPayload(format!(
                        "task `{other_task}` of workflow `{other_workflow}` and task `{}` of workflow `{}` both map to the action `{action}`: names that differ only in case are one name to the engine, so one task would silently run the other's function; rename one",
                        task.name, def.name
                    )));
                }
                for slot_type in task.effective_slot_requests().keys() {
                    let offered = match slot_type.as_str() {
                        DEFAULT_SLOT => self.slots,
                        DURABLE_SLOT => self.durable_slots,
                        other => self.extra_slots.get(other).copied().unwrap_or(0),
                    };
                    if offered == 0 {
                        return Err(Error::InvalidPayload(format!(
                            "task `{}` of workflow `{}` needs `{slot_type}` slots, which worker `{}` does not offer: add .slot_type(\"{slot_type}\", n)",
                            task.name, def.name, self.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A worker, ready to [`start`](Worker::start) or [`run`](Worker::run).
#[derive(Debug)]
pub struct Worker {
    builder: WorkerBuilder,
}

impl Worker {
    /// A worker named `name` that connects through `client`.
    pub fn builder(client: &Client, name: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            client: client.clone(),
            name: name.into(),
            slots: DEFAULT_SLOTS,
            durable_slots: DEFAULT_DURABLE_SLOTS,
            extra_slots: HashMap::new(),
            labels: HashMap::new(),
            workflows: Vec::new(),
            shutdown_timeout: Duration::from_secs(25),
            cancel_grace_period: Duration::from_secs(1),
            startup_timeout: Duration::from_secs(300),
            data: SharedData::default(),
            on_start: None,
            on_shutdown: None,
            healthcheck: healthcheck_from_env(),
            errors: Vec::new(),
        }
    }

    /// Registers the workflows and the worker, then serves tasks in the background until
    /// [`WorkerHandle::shutdown`] (dropping the handle does not stop the worker).
    ///
    /// Fails if the engine rejects a workflow or the worker; later connection losses are
    /// retried in the background.
    #[must_use = "the worker runs until WorkerHandle::shutdown is called"]
    pub async fn start(self) -> Result<WorkerHandle> {
        let mut b = self.builder;
        if let Some(on_start) = b.on_start.take() {
            (on_start.0)().await.map_err(|e| Error::WorkerHook {
                hook: "on_start",
                message: e.to_string(),
            })?;
        }
        let transport = b.client.transport().clone();
        let ns = b.client.config().namespace().clone();

        let mut registry = Registry::new();
        let mut has_durable = false;
        let startup = RetryPolicy::STARTUP.giving_up_after(b.startup_timeout);
        registration::put_workflows(&transport, &ns, &b.workflows, startup).await?;
        for def in &b.workflows {
            for task in def.all_tasks() {
                has_durable |= task.durable;
                registry.insert(
                    ns.action_id(&def.name, &task.name),
                    executor::Registered {
                        function: task.function.clone(),
                        name: task.name.clone(),
                        batch: task.batch.as_ref().map(|b| b.function.clone()),
                        durable: task.durable,
                        eviction: task.eviction.clone().unwrap_or_default(),
                        timeout: task
                            .timeout
                            .map_or(Duration::from_secs(60), |t| t.as_duration()),
                    },
                );
            }
        }

        let mut slot_config: HashMap<String, i32> =
            HashMap::from([(DEFAULT_SLOT.to_owned(), clamp(b.slots))]);
        if has_durable {
            slot_config.insert(DURABLE_SLOT.to_owned(), clamp(b.durable_slots));
        }
        let mut total_slots = b.slots as usize
            + if has_durable {
                b.durable_slots as usize
            } else {
                0
            };
        for (slot_type, slots) in &b.extra_slots {
            slot_config.insert(slot_type.clone(), clamp(*slots));
            total_slots += *slots as usize;
        }
        let registration = Registration {
            name: b.name.clone(),
            actions: registry.keys().cloned().collect(),
            labels: Arc::new(RwLock::new(
                b.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), worker_label_to_proto(v)))
                    .collect(),
            )),
            slot_config,
        };
        let id = registration::until_reachable(startup, "registering the worker", || {
            registration::register(&transport, &registration)
        })
        .await?;
        tracing::info!(worker = %b.name, worker_id = %id, actions = registration.actions.len(), "worker registered");

        let worker_id = Arc::new(RwLock::new(id));
        let reporter = Reporter::new(transport.clone(), worker_id.clone());
        let executor = Executor::new(
            b.client.clone(),
            registry,
            reporter,
            WorkerLink {
                id: worker_id.clone(),
                labels: registration.labels.clone(),
                data: Arc::new(b.data),
                durable: crate::durable::DurableClient::new(
                    transport.clone(),
                    worker_id.clone(),
                    b.durable_slots as usize,
                ),
            },
            total_slots,
            b.cancel_grace_period,
            Arc::default(),
        );
        let stop_listening = CancellationToken::new();
        let stopped = CancellationToken::new();
        let fatal = Arc::new(std::sync::Mutex::new(None));
        let heartbeater = heartbeat::Heartbeater::start(b.client.config())?;
        let action_stream = tokio::spawn({
            let (stop, stopped, fatal) = (stop_listening.clone(), stopped.clone(), fatal.clone());
            let run = action_stream::run(
                transport.clone(),
                heartbeater,
                registration,
                worker_id.clone(),
                executor.clone(),
                stop,
            );
            async move {
                if let Some(error) = run.await {
                    if let Ok(mut slot) = fatal.lock() {
                        *slot = Some(error);
                    }
                    stopped.cancel();
                }
            }
        });
        let handle = WorkerHandle {
            inner: Arc::new(HandleInner {
                client: b.client,
                worker_id,
                executor,
                stop_listening,
                action_stream: tokio::sync::Mutex::new(Some(action_stream)),
                shutdown_timeout: b.shutdown_timeout,
                stopped,
                fatal,
                on_shutdown: tokio::sync::Mutex::new(HookState::NotRun(b.on_shutdown)),
                healthcheck_addr: std::sync::OnceLock::new(),
            }),
        };
        #[cfg(feature = "healthcheck")]
        if let Some(addr) = b.healthcheck {
            let bound = health::serve(addr, handle.clone()).await?;
            tracing::info!(%bound, "worker health endpoint listening");
            let _ = handle.inner.healthcheck_addr.set(bound);
        }
        Ok(handle)
    }

    /// Starts the worker and serves until ctrl-c or SIGTERM, then shuts down gracefully; a
    /// second ctrl-c or SIGTERM during the drain stops it at once
    /// ([`WorkerHandle::shutdown_now`]). Returns the error if the engine refuses the worker
    /// for good, after draining the tasks it was running.
    pub async fn run(self) -> Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Like [`run`](Worker::run), but serves until `signal` resolves (a test's trigger, an
    /// application's own shutdown), then shuts down gracefully; ctrl-c or SIGTERM during the
    /// drain stops it at once.
    ///
    /// ```no_run
    /// # async fn demo(worker: hatchet_rs::Worker) -> hatchet_rs::Result<()> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// # drop(stop);
    /// worker.run_until(async { let _ = stopped.await; }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<()> {
        let handle = self.start().await?;
        tokio::select! {
            () = signal => {}
            stopped = handle.wait() => {
                // Refused for good: finish (or report) what is running before returning.
                if stopped.is_err() {
                    handle.inner.drain(Instant::now() + handle.inner.shutdown_timeout).await;
                    let _ = handle.inner.run_shutdown_hook().await;
                }
                return stopped;
            }
        }
        tracing::info!("shutting down: draining in-flight tasks (signal again to stop now)");
        tokio::select! {
            result = handle.shutdown() => result,
            () = shutdown_signal() => {
                tracing::warn!("second shutdown signal: aborting in-flight tasks");
                handle.shutdown_now().await
            }
        }
    }
}

/// The health endpoint from `HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED` / `_PORT`.
fn healthcheck_from_env() -> Option<std::net::SocketAddr> {
    let enabled = std::env::var("HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    if !enabled {
        return None;
    }
    let port = std::env::var("HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(8001);
    Some(std::net::SocketAddr::from(([0, 0, 0, 0], port)))
}

fn clamp(slots: u32) -> i32 {
    i32::try_from(slots).unwrap_or(i32::MAX)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A running worker. Clones share it.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    client: Client,
    worker_id: Arc<RwLock<String>>,
    executor: Arc<Executor>,
    stop_listening: CancellationToken,
    action_stream: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    shutdown_timeout: Duration,
    stopped: CancellationToken,
    fatal: Arc<std::sync::Mutex<Option<Error>>>,
    on_shutdown: tokio::sync::Mutex<HookState>,
    healthcheck_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

/// The shutdown hook: not run yet, running (in a task of its own, so a shutdown that is cut
/// short by a second signal does not drop it half-way), or done.
#[derive(Debug)]
enum HookState {
    NotRun(Option<Hook>),
    Running(JoinHandle<std::result::Result<(), String>>),
    Done(std::result::Result<(), String>),
}

impl WorkerHandle {
    /// The id the engine gave this worker (it changes if the worker has to register again).
    pub fn worker_id(&self) -> String {
        self.inner
            .worker_id
            .read()
            .map(|id| id.clone())
            .unwrap_or_default()
    }

    /// The worker's figures now: slots, running, completed and failed attempts,
    /// reconnects, and whether it is listening with fresh heartbeats.
    pub fn stats(&self) -> WorkerStats {
        let executor = &self.inner.executor;
        WorkerStats::read(
            &executor.counters,
            executor.total_slots,
            executor.in_flight(),
            self.inner.client.log_lines_dropped(),
        )
    }

    /// Where the health endpoint listens (feature `healthcheck`), if it is on.
    pub fn healthcheck_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.healthcheck_addr.get().copied()
    }

    /// Whether the worker has stopped (shut down, or refused by the engine).
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.is_cancelled()
    }

    /// How many tasks are running now.
    pub fn running_tasks(&self) -> usize {
        self.inner.executor.in_flight()
    }

    /// Shuts the worker down gracefully, within the shutdown timeout
    /// ([`WorkerBuilder::shutdown_timeout`]) for every phase together:
    ///
    /// 1. the worker is paused on the engine (it gets no new tasks) but keeps its action
    ///    stream and heartbeats, so the engine goes on treating it as alive and does not hand
    ///    its running tasks to another worker; tasks the engine had already sent are still
    ///    read and run;
    /// 2. durable tasks that are only waiting are evicted (the engine restores them elsewhere
    ///    when their wait completes), and running tasks get until the deadline to finish and
    ///    send their results;
    /// 3. what still runs near the deadline is aborted and **not reported**: a failure report
    ///    would spend one of the task's retries, while an unreported task is reassigned by
    ///    the engine, as an internal retry that does not count against the task's retries,
    ///    30 s after the worker's last heartbeat. Those are counted in
    ///    [`WorkerStats::handed_back`];
    /// 4. the action stream and heartbeats stop, the `on_shutdown` hook runs, and the worker
    ///    unsubscribes.
    ///
    /// A task is therefore never running on two workers at once because of a deploy, and a
    /// deploy never fails a task.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.shutdown_timeout;
        let paused = inner.pause_on_engine(deadline);
        inner.drain(deadline).await;
        paused.abort();
        inner.stop_listening().await;
        let hooked = inner.run_shutdown_hook().await;
        self.unsubscribe().await.and(hooked)
    }

    /// Stops now: aborts every running task and gives it back to the engine unreported (as
    /// at the end of [`shutdown`](WorkerHandle::shutdown)), waits briefly for results that
    /// were already on their way, and unsubscribes. What a second ctrl-c does.
    pub async fn shutdown_now(&self) -> Result<()> {
        let inner = &self.inner;
        inner.executor.hand_back_all();
        let _ = tokio::time::timeout(REPORT_GRACE, inner.executor.wait_idle()).await;
        inner.stop_listening().await;
        let hooked = inner.run_shutdown_hook().await;
        self.unsubscribe().await.and(hooked)
    }

    async fn unsubscribe(&self) -> Result<()> {
        let inner = &self.inner;
        let mut dispatcher = inner.client.transport().dispatcher();
        let unsubscribe = dispatcher.unsubscribe(hatchet_rs_proto::WorkerUnsubscribeRequest {
            worker_id: self.worker_id(),
        });
        let unsubscribed = tokio::time::timeout(Duration::from_secs(5), unsubscribe).await;
        inner.stopped.cancel();
        match unsubscribed {
            Ok(result) => result.map(|_| ()).map_err(Error::from),
            Err(_) => Err(Error::Timeout(
                "Unsubscribe took longer than 5 s".to_owned(),
            )),
        }
    }

    /// Resolves once the worker has stopped: after [`WorkerHandle::shutdown`] (`Ok`), or when
    /// the engine refused it for good, such as a revoked token (`Err`, to every waiter).
    pub async fn wait(&self) -> Result<()> {
        self.inner.stopped.cancelled().await;
        let fatal = self
            .inner
            .fatal
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(duplicate_fatal));
        match fatal {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl HandleInner {
    /// Runs the shutdown hook the first time it is called; a later call (a second signal
    /// during a shutdown) waits for the same run.
    async fn run_shutdown_hook(&self) -> Result<()> {
        let mut state = self.on_shutdown.lock().await;
        if let HookState::NotRun(hook) = &mut *state {
            *state = match hook.take() {
                None => HookState::Done(Ok(())),
                Some(hook) => HookState::Running(tokio::spawn(async move {
                    (hook.0)().await.map_err(|e| e.to_string())
                })),
            };
        }
        if let HookState::Running(task) = &mut *state {
            // If this caller is dropped here, the hook keeps running and the next caller
            // waits for it.
            let outcome = match task.await {
                Ok(outcome) => outcome,
                Err(e) => Err(format!("the hook panicked or was aborted: {e}")),
            };
            if let Err(message) = &outcome {
                tracing::error!(error = %message, "the worker's on_shutdown hook failed");
            }
            *state = HookState::Done(outcome);
        }
        match &*state {
            HookState::Done(Err(message)) => Err(Error::WorkerHook {
                hook: "on_shutdown",
                message: message.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Pauses the worker on the engine, in the background: the engine then assigns it no
    /// new tasks while it drains. An engine whose REST API cannot be reached goes on sending
    /// tasks, which the worker runs until the deadline like the others.
    fn pause_on_engine(&self, deadline: Instant) -> JoinHandle<()> {
        let client = self.client.clone();
        let worker_id = self
            .worker_id
            .read()
            .map(|id| id.clone())
            .unwrap_or_default();
        tokio::spawn(async move {
            let paused = tokio::time::timeout_at(
                deadline.min(Instant::now() + PAUSE_LIMIT),
                client.workers().pause(&worker_id),
            )
            .await;
            match paused {
                Ok(Ok(_)) => tracing::debug!(%worker_id, "worker paused for its drain"),
                Ok(Err(error)) => {
                    tracing::warn!(%worker_id, %error, "could not pause the worker on the engine; it may still get tasks while it drains")
                }
                Err(_) => {
                    tracing::warn!(%worker_id, "pausing the worker on the engine took too long; it may still get tasks while it drains")
                }
            }
        })
    }

    /// Ends the action stream and with it the heartbeats, and the durable task stream.
    async fn stop_listening(&self) {
        self.stop_listening.cancel();
        if let Some(stream) = self.action_stream.lock().await.take() {
            let _ = stream.await;
        }
        self.executor.durable().close();
    }

    /// Lets running tasks finish until shortly before `deadline`, gives what still runs back
    /// to the engine, then waits until `deadline` for the results already on their way.
    async fn drain(&self, deadline: Instant) {
        let now = Instant::now();
        let reserve = report_reserve(deadline.saturating_duration_since(now));
        let hand_back_at = deadline.checked_sub(reserve).unwrap_or(now).max(now);
        // Durable tasks that are only waiting give their slot back to the engine (which
        // queues them again when their wait completes) rather than hold up the shutdown.
        let durable = self.executor.durable().clone();
        let _ = tokio::time::timeout_at(hand_back_at, durable.evict_all_waiting()).await;
        if tokio::time::timeout_at(hand_back_at, self.executor.wait_idle())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            still_running = self.executor.in_flight(),
            "shutdown deadline reached; giving the remaining tasks back to the engine"
        );
        self.executor.hand_back_all();
        if tokio::time::timeout_at(deadline, self.executor.wait_idle())
            .await
            .is_err()
        {
            tracing::error!(
                unreported = self.executor.in_flight(),
                "the engine did not take some results before the shutdown deadline; it will run those tasks again"
            );
        }
    }
}

/// How long pausing the worker on the engine may take.
const PAUSE_LIMIT: Duration = Duration::from_secs(5);

/// How long [`WorkerHandle::shutdown_now`] waits for results already on their way.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// The part of a drain of `total` kept for sending results after the remaining tasks are
/// given back: a fifth, at most 2 s.
fn report_reserve(total: Duration) -> Duration {
    (total / 5).min(REPORT_GRACE)
}

/// The errors that stop a worker for good, copied for each waiter.
fn duplicate_fatal(error: &Error) -> Error {
    match error {
        Error::Unauthenticated(m) => Error::Unauthenticated(m.clone()),
        Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::Status { code, message } => Error::Status {
            code: *code,
            message: message.clone(),
        },
        other => Error::Status {
            code: other.code().unwrap_or(tonic::Code::Unknown),
            message: other.to_string(),
        },
    }
}
