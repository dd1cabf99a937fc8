//! [`Engine`]: starting, addressing, stopping and inspecting an in-process engine.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::Auth;
use super::clock::{Clock, TestClock};
use super::faults;
use super::inspect::{ChunkInfo, EventInfo, LogInfo, RunInfo, TaskInfo, WorkerInfo};
use super::model::TaskStatus;
use super::server;
use super::shared::Shared;
use super::state::State;

/// The version `GetVersion` reports by default: current enough that official SDKs use their
/// current protocol (reference §5, step 2).
pub const DEFAULT_ENGINE_VERSION: &str = "v0.104.7";
/// The tenant id used unless the builder sets one (the engine's default seed tenant).
pub const DEFAULT_TENANT_ID: &str = "707d0855-80ab-4e1f-a156-f1c4546cbf52";
/// How often time-based rules are checked on the real clock.
const TICK: Duration = Duration::from_millis(20);

/// Why the engine could not start or a wait ended without its answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The listening socket could not be bound.
    #[error("the test engine could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A wait helper gave up.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The run id is not known to this engine.
    #[error("run {0} does not exist in this engine")]
    UnknownRun(String),
}

/// Options for [`Engine`]; start from [`Engine::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EngineBuilder {
    ip: IpAddr,
    port: u16,
    manual_clock: Option<SystemTime>,
    tenant_id: String,
    version: String,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            manual_clock: None,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            version: DEFAULT_ENGINE_VERSION.to_owned(),
        }
    }
}

impl EngineBuilder {
    /// Listen on this port (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Listen on this address (default 127.0.0.1).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Use a manual clock starting at the current time; see [`TestClock`].
    pub fn manual_clock(self) -> Self {
        self.manual_clock_at(SystemTime::now())
    }

    /// Use a manual clock starting at `start`.
    pub fn manual_clock_at(mut self, start: SystemTime) -> Self {
        self.manual_clock = Some(start);
        self
    }

    /// The tenant id tokens name (default [`DEFAULT_TENANT_ID`]).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// The version `GetVersion` reports (default [`DEFAULT_ENGINE_VERSION`]).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Starts the engine; it serves until dropped or [shut down](Engine::shutdown).
    pub async fn start(self) -> Result<Engine, EngineError> {
        let addr = SocketAddr::new(self.ip, self.port);
        let listener = faults::bind(addr)
            .await
            .map_err(|source| EngineError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EngineError::Bind { addr, source })?;
        let server_url = format!("http://{addr}");
        let mut auth = Auth::new(self.tenant_id.clone(), server_url.clone());
        let token = auth.mint(&addr.to_string());
        let clock = match self.manual_clock {
            Some(start) => Clock::manual(start),
            None => Clock::Real,
        };
        let shared = Arc::new(Shared::new(
            State::new(self.tenant_id.clone()),
            clock,
            auth,
            self.version,
        ));
        // HTTP/1.1 too: the REST endpoints share the gRPC port (see `rest`).
        let router = tonic::transport::Server::builder()
            .accept_http1(true)
            .add_routes(server::routes(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = faults::incoming(listener, shared.clone());
        let server = tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        let ticking = shared.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticking.tick();
            }
        });
        Ok(Engine {
            shared,
            addr,
            token,
            tenant_id: self.tenant_id,
            stop: Some(stop),
            server: Some(server),
            ticker,
        })
    }
}

/// A protocol-faithful Hatchet engine living in the test process.
///
/// ```no_run
/// # async fn demo() -> Result<(), hatchet_rs_engine::EngineError> {
/// use hatchet_rs_engine::Engine;
/// let engine = Engine::start().await?;
/// // Point any Hatchet SDK at it:
/// for (name, value) in engine.env_vars() {
///     println!("export {name}='{value}'");
/// }
/// // ... run workers and trigger runs, then look at what the engine kept:
/// for run in engine.runs() {
///     println!("{} {:?}", run.workflow_name, run.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    addr: SocketAddr,
    token: String,
    tenant_id: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl Engine {
    /// Starts an engine on `127.0.0.1:0` with a real clock.
    pub async fn start() -> Result<Self, EngineError> {
        Self::builder().start().await
    }

    /// Options: port, manual clock, tenant id, version.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The address the engine listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for `HATCHET_CLIENT_HOST_PORT`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// A token this engine accepts (its claims point at this engine). Never log it outside
    /// tests.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Mints another valid token, as `hatchet-admin token create` would.
    pub fn mint_token(&self) -> String {
        self.shared
            .auth
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .mint(&self.addr.to_string())
    }

    /// The tenant id in this engine's tokens.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The `HATCHET_CLIENT_*` variables a client of this engine needs. The gRPC address and
    /// the REST base URL (`HATCHET_CLIENT_SERVER_URL`) are the same port.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("HATCHET_CLIENT_TOKEN".to_owned(), self.token.clone()),
            ("HATCHET_CLIENT_HOST_PORT".to_owned(), self.host_port()),
            (
                "HATCHET_CLIENT_SERVER_URL".to_owned(),
                format!("http://{}", self.addr),
            ),
            ("HATCHET_CLIENT_TLS_STRATEGY".to_owned(), "none".to_owned()),
            (
                "HATCHET_CLIENT_TENANT_ID".to_owned(),
                self.tenant_id.clone(),
            ),
        ]
    }

    /// The units left now on the rate limit `key` (after any due refill), or `None` if the
    /// key does not exist.
    pub fn rate_limit_remaining(&self, key: &str) -> Option<i64> {
        self.shared.with(|st, now| st.rate_limit_left(key, now))
    }

    /// The engine's clock; see [`TestClock`] for manual clocks and worker liveness.
    pub fn clock(&self) -> TestClock {
        TestClock {
            shared: self.shared.clone(),
        }
    }

    /// Stops serving and ends every open stream.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }

    fn stop_now(&mut self) {
        self.shared.with(|st, _| st.close_all_streams());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ticker.abort();
    }

    // ---- faults -----------------------------------------------------------------------

    /// Ends every `ListenV2` and subscription stream now with UNAVAILABLE. Workers see their
    /// stream break and their next heartbeat fail with FAILED_PRECONDITION until they listen
    /// again.
    pub fn drop_all_streams(&self) {
        self.shared.with(|st, _| st.drop_all_streams());
    }

    /// For `duration` (real time), closes new connections at once and answers every call on
    /// existing connections with UNAVAILABLE.
    pub fn refuse_connections_for(&self, duration: Duration) {
        self.shared.refuse_for(duration);
    }

    /// How many idempotency keys are claimed now (a claim goes when its TTL ends, or with the
    /// STATUS method when its run ends).
    pub fn idempotency_claims(&self) -> usize {
        self.shared.read(|st| st.idempotency_claims.len())
    }

    /// How many requests and tick passes panicked since the engine started. Each is a bug in
    /// the engine (logged with its message); the request that hit it fails and the engine
    /// keeps serving. Fuzz and soak runs check that this stays 0.
    pub fn panics(&self) -> u64 {
        self.shared.panics.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes the next tick pass panic (injected fault), to check that one failed pass does
    /// not stop the engine's timers: it is counted in [`Engine::panics`] and the next pass
    /// runs as usual.
    pub fn panic_next_tick(&self) {
        self.shared
            .panic_next_tick
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Fails the next `calls` `v1.AdminService/PutWorkflow` calls with INTERNAL (injected
    /// fault), as the real engine answers a worker that lost the race to register a new
    /// workflow against another worker starting at the same moment.
    pub fn fail_workflow_registrations(&self, calls: u64) {
        self.shared
            .failing_registrations
            .store(calls, std::sync::atomic::Ordering::SeqCst);
    }

    /// For `duration` (real time), answers every `PutLog` with UNAVAILABLE (injected fault):
    /// the engine's log path is down while the rest of it works.
    pub fn refuse_logs_for(&self, duration: Duration) {
        *self
            .shared
            .refuse_logs_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + duration);
    }

    /// Applies the next `calls` `PutStreamEvent` calls, then answers each only after `delay`
    /// (injected fault): a client whose deadline is shorter sees a timeout for a chunk the
    /// engine took.
    pub fn answer_stream_events_late(&self, calls: u32, delay: Duration) {
        *self
            .shared
            .late_stream_answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (calls, delay);
    }

    /// Sends every task assignment twice from now on (injected fault), as an at-least-once
    /// engine may; a correct worker runs and reports each attempt once.
    pub fn duplicate_deliveries(&self, on: bool) {
        self.shared.with(|st, _| st.duplicate_deliveries = on);
    }

    /// Revokes every token this engine issued (injected fault): every later call with one of
    /// them answers UNAUTHENTICATED, as after `hatchet-admin` revokes a token. Mint a new one
    /// with [`Engine::mint_token`].
    pub fn revoke_tokens(&self) {
        self.shared
            .auth
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .revoke_all();
    }

    /// Forgets the worker (injected fault): its stream ends and its next heartbeat, stream or
    /// call answers NOT_FOUND, so an SDK must register again.
    pub fn forget_worker(&self, worker_id: &str) {
        self.shared.with(|st, _| st.forget_worker(worker_id));
    }

    /// Stops crediting this worker with heartbeats when a manual clock advances, as if it
    /// hung with its stream open (see [`TestClock`]).
    pub fn silence_worker(&self, worker_id: &str) {
        self.shared.with(|st, _| {
            if let Some(worker) = st.workers.get_mut(worker_id) {
                worker.silent = true;
            }
        });
    }

    // ---- inspection -------------------------------------------------------------------

    /// Every run, oldest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.shared.read(State::all_runs)
    }

    /// One run.
    pub fn run(&self, run_id: &str) -> Option<RunInfo> {
        self.shared.read(|st| st.run_info(run_id))
    }

    /// One task.
    pub fn task(&self, task_id: &str) -> Option<TaskInfo> {
        self.shared.read(|st| st.task_info(task_id))
    }

    /// The log lines of a task.
    pub fn logs(&self, task_id: &str) -> Vec<LogInfo> {
        self.shared.read(|st| st.log_infos(task_id))
    }

    /// The stream chunks of a task, in the order subscribers received them.
    pub fn stream_chunks(&self, task_id: &str) -> Vec<ChunkInfo> {
        self.shared.read(|st| st.chunk_infos(task_id))
    }

    /// Every pushed event, oldest first.
    pub fn events(&self) -> Vec<EventInfo> {
        self.shared.read(State::event_infos)
    }

    /// Every registered worker, oldest first.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.shared.read(State::worker_infos)
    }

    /// Waits until `check` returns `Some`, re-checking after every state change; gives up
    /// after `timeout` (real time).
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Result<T, EngineError> {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            loop {
                changed.borrow_and_update();
                if let Some(found) = check(self) {
                    return found;
                }
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        within(timeout, what, wait).await
    }

    /// Waits until the run has finished and returns it.
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<RunInfo, EngineError> {
        if self.run(run_id).is_none() {
            return Err(EngineError::UnknownRun(run_id.to_owned()));
        }
        self.wait_for(&format!("run {run_id} to finish"), timeout, |e| {
            e.run(run_id).filter(|r| r.status.is_final())
        })
        .await
    }

    /// Waits until the task has the given status and returns it.
    pub async fn wait_for_task_status(
        &self,
        task_id: &str,
        status: TaskStatus,
        timeout: Duration,
    ) -> Result<TaskInfo, EngineError> {
        self.wait_for(&format!("task {task_id} to be {status:?}"), timeout, |e| {
            e.task(task_id).filter(|t| t.status == status)
        })
        .await
    }
}

async fn within<T>(
    timeout: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> Result<T, EngineError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| EngineError::Timeout {
            what: what.to_owned(),
            timeout,
        })
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_now();
    }
}
