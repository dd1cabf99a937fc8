//! The engine a scenario runs against: the in-process engine by default, the engine named by
//! the `HATCHET_CLIENT_*` variables when `HATCHET_LIVE_TEST=1`.
//!
//! Scenarios assert only what a user can observe, so the same code judges both engines.
//! Checks that need the controllable clock or the engine's inspection API go through
//! [`Harness::local`], which is `None` against a live engine.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hatchet_rs::testing::TestEngine;
use hatchet_rs::{Client, ClientConfig, WorkerBuilder, WorkerHandle};

/// How long any single wait in a scenario may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Harness {
    pub(crate) client: Client,
    engine: Option<TestEngine>,
    workers: std::sync::Mutex<Vec<WorkerHandle>>,
}

pub(crate) fn live() -> bool {
    std::env::var("HATCHET_LIVE_TEST").as_deref() == Ok("1")
}

impl Harness {
    /// The default engine for this run.
    pub(crate) async fn start() -> Self {
        if live() {
            return Self::live().await;
        }
        Self::local_engine(TestEngine::builder()).await
    }

    /// An in-process engine for a scenario that needs its inspection or fault API; `None`
    /// (after saying why) when running live.
    pub(crate) async fn in_process(reason: &str) -> Option<Self> {
        if live() {
            eprintln!("in-process only: {reason}");
            return None;
        }
        Some(Self::local_engine(TestEngine::builder()).await)
    }

    /// An in-process engine whose clock only moves when the test advances it; `None` when
    /// running live (such scenarios run in-process only).
    pub(crate) async fn with_manual_clock() -> Option<Self> {
        if live() {
            eprintln!("in-process only: this scenario needs the controllable clock");
            return None;
        }
        Some(Self::local_engine(TestEngine::builder().manual_clock()).await)
    }

    async fn local_engine(builder: hatchet_rs::testing::TestEngineBuilder) -> Self {
        let engine = builder.start().await.expect("the in-process engine starts");
        Self {
            client: engine.client(),
            engine: Some(engine),
            workers: Default::default(),
        }
    }

    async fn live() -> Self {
        // A namespace per scenario keeps concurrent scenarios' workflows and events apart on
        // the shared engine.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let namespace = format!(
            "rs{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let config = hatchet_rs::ClientConfigBuilder::from_env()
            .namespace(namespace)
            .build()
            .expect("HATCHET_LIVE_TEST=1 needs the HATCHET_CLIENT_* variables of a running engine");
        Self::with_config(config)
    }

    fn with_config(config: ClientConfig) -> Self {
        Self {
            client: Client::new(config).expect("client"),
            engine: None,
            workers: Default::default(),
        }
    }

    /// The in-process engine, for checks a user cannot make through the API.
    pub(crate) fn local(&self) -> Option<&TestEngine> {
        self.engine.as_ref()
    }

    /// Starts a worker configured by `configure`; it is shut down when the harness drops.
    pub(crate) async fn worker(
        &self,
        name: &str,
        configure: impl FnOnce(WorkerBuilder) -> WorkerBuilder,
    ) -> WorkerHandle {
        let builder = hatchet_rs::Worker::builder(&self.client, name)
            .shutdown_timeout(Duration::from_secs(5));
        let worker = configure(builder).build().expect("worker definition");
        let handle = within(worker.start()).await.expect("worker starts");
        self.workers.lock().expect("workers").push(handle.clone());
        handle
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let workers = std::mem::take(
            &mut *self
                .workers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for worker in workers {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = worker.shutdown().await;
                });
            }
        }
    }
}

/// Fails the test instead of hanging.
pub(crate) async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .expect("the scenario step did not finish in time")
}
