//! Shared setup for the examples: connect to the engine named by `HATCHET_CLIENT_TOKEN` and
//! friends, or, when no token is set, start the in-process engine so every example runs with
//! zero setup.

use hatchet_rs::Client;
use hatchet_rs::testing::TestEngine;

/// Where an example runs. Keep it alive for as long as the example uses the client.
#[derive(Debug)]
pub struct Engine {
    /// A client for the engine.
    pub client: Client,
    /// The in-process engine, when one was started.
    pub local: Option<TestEngine>,
}

/// Connects to the configured engine, or starts the in-process one.
pub async fn connect() -> Result<Engine, Box<dyn std::error::Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    if std::env::var_os("HATCHET_CLIENT_TOKEN").is_some() {
        let client = Client::from_env()?;
        println!("using the engine at {}", client.config().host_port());
        return Ok(Engine {
            client,
            local: None,
        });
    }
    let engine = TestEngine::start().await?;
    println!(
        "HATCHET_CLIENT_TOKEN is not set: using the in-process engine at {}",
        engine.host_port()
    );
    Ok(Engine {
        client: engine.client(),
        local: Some(engine),
    })
}
