//! The in-process engine (feature `testing`).

use std::net::IpAddr;
use std::ops::Deref;
use std::time::SystemTime;

pub use hatchet_rs_engine::{
    AttemptInfo, ChunkInfo, DEFAULT_ENGINE_VERSION, DEFAULT_TENANT_ID, Engine, EngineBuilder,
    EngineError, EventInfo, LabelValue, LogInfo, RunInfo, TaskInfo, TaskStatus, TestClock,
    WorkerInfo,
};

use crate::{Client, ClientConfig, TlsStrategy};

/// An in-process engine and the way to a [`Client`] for it.
///
/// Derefs to [`Engine`] for inspection ([`Engine::runs`], [`Engine::logs`], ...), the clock
/// ([`Engine::clock`]) and faults ([`Engine::drop_all_streams`], ...).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use hatchet_rs::testing::TestEngine;
/// let engine = TestEngine::start().await?;
/// let client = engine.client();
/// assert_eq!(client.engine_version().await?, "v0.104.7");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestEngine {
    engine: Engine,
}

impl TestEngine {
    /// Starts an engine on `127.0.0.1:0` with a real clock.
    pub async fn start() -> Result<Self, EngineError> {
        Self::builder().start().await
    }

    /// Options: port, address, manual clock, tenant id, version.
    pub fn builder() -> TestEngineBuilder {
        TestEngineBuilder {
            inner: Engine::builder(),
        }
    }

    /// A client configuration pointed at this engine (plaintext, the engine's own token).
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::builder()
            .token(self.engine.token().to_owned())
            .host_port(self.engine.host_port())
            .tls_strategy(TlsStrategy::None)
            .build()
            .expect("the engine's own token and address form a valid configuration")
    }

    /// A client connected to this engine.
    pub fn client(&self) -> Client {
        Client::new(self.client_config())
            .expect("a plaintext client for the engine's address can always be built")
    }

    /// Stops serving and ends every open stream.
    pub async fn shutdown(self) {
        self.engine.shutdown().await;
    }

    /// The engine itself, for code written against `hatchet-rs-engine` directly.
    pub fn into_engine(self) -> Engine {
        self.engine
    }
}

impl Deref for TestEngine {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl From<Engine> for TestEngine {
    fn from(engine: Engine) -> Self {
        Self { engine }
    }
}

/// Options for [`TestEngine`]; start from [`TestEngine::builder`]. Each method is the
/// engine's own ([`EngineBuilder`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct TestEngineBuilder {
    inner: EngineBuilder,
}

impl TestEngineBuilder {
    /// Listen on this port (default 0: any free port).
    pub fn port(self, port: u16) -> Self {
        self.map(|b| b.port(port))
    }

    /// Listen on this address (default 127.0.0.1).
    pub fn ip(self, ip: IpAddr) -> Self {
        self.map(|b| b.ip(ip))
    }

    /// Use a manual clock starting at the current time; see [`TestClock`].
    pub fn manual_clock(self) -> Self {
        self.map(EngineBuilder::manual_clock)
    }

    /// Use a manual clock starting at `start`.
    pub fn manual_clock_at(self, start: SystemTime) -> Self {
        self.map(|b| b.manual_clock_at(start))
    }

    /// The tenant id tokens name (default [`DEFAULT_TENANT_ID`]).
    pub fn tenant_id(self, tenant_id: impl Into<String>) -> Self {
        self.map(|b| b.tenant_id(tenant_id))
    }

    /// The version `GetVersion` reports (default [`DEFAULT_ENGINE_VERSION`]).
    pub fn version(self, version: impl Into<String>) -> Self {
        self.map(|b| b.version(version))
    }

    /// Starts the engine; it serves until dropped or [shut down](TestEngine::shutdown).
    pub async fn start(self) -> Result<TestEngine, EngineError> {
        self.inner.start().await.map(TestEngine::from)
    }

    fn map(self, f: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Self {
        Self {
            inner: f(self.inner),
        }
    }
}
