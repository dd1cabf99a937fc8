//! The engine under test: the in-process engine by default, the one named by
//! `HATCHET_CLIENT_*` with `--live`.

use std::process::Command;

use hatchet_rs::Client;
use hatchet_rs::testing::TestEngine;

use crate::BoxError;

/// The engine every peer and the client use in one run.
#[derive(Debug)]
pub(crate) struct Target {
    /// The benchmark's client (triggers, results, events).
    pub(crate) client: Client,
    /// `"in-process"` or `"live <host:port>"`.
    pub(crate) label: String,
    /// The variables a worker process needs; empty with `--live` (they are inherited).
    env: Vec<(String, String)>,
    // Kept alive for the whole run.
    _engine: Option<TestEngine>,
}

impl Target {
    /// Starts the in-process engine, or connects to the live one.
    pub(crate) async fn connect(live: bool) -> Result<Self, BoxError> {
        if live {
            let client = Client::from_env().map_err(|e| {
                format!("--live needs HATCHET_CLIENT_* for a running engine (see docs/LOCAL_SETUP.md): {e}")
            })?;
            let version = client.engine_version().await?;
            let label = format!("live {} ({version})", client.config().host_port());
            return Ok(Self {
                client,
                label,
                env: Vec::new(),
                _engine: None,
            });
        }
        let engine = TestEngine::start().await?;
        Ok(Self {
            client: engine.client(),
            label: "in-process".to_owned(),
            env: engine.env_vars(),
            _engine: Some(engine),
        })
    }

    /// Points `command` at the engine: the in-process engine's variables replace any
    /// inherited `HATCHET_CLIENT_*`; gRPC to loopback must not go through a proxy.
    pub(crate) fn configure(&self, command: &mut Command) {
        if !self.env.is_empty() {
            for (key, _) in std::env::vars() {
                if key.starts_with("HATCHET_CLIENT_") {
                    command.env_remove(key);
                }
            }
            command.envs(self.env.iter().map(|(k, v)| (k, v)));
        }
        command
            .env("no_proxy", "127.0.0.1,localhost")
            .env("NO_PROXY", "127.0.0.1,localhost");
    }
}
