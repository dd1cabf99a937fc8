//! Run: `cargo run --example quickstart`
//!
//! Connects to the engine named by the `HATCHET_CLIENT_*` environment, prints its version,
//! and pushes one event.
use hatchet_sdk::{Client, Event};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = match Client::from_env() {
        Ok(client) => client,
        Err(hatchet_sdk::Error::Config(err)) => {
            eprintln!("quickstart needs an engine: {err}");
            eprintln!("see README.md, \"Live integration testing\", to start one locally");
            std::process::exit(2);
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "engine {} at {}",
        client.engine_version().await?,
        client.config().host_port()
    );
    let event = Event::new(
        "quickstart:hello",
        &serde_json::json!({"greeting": "hello from Rust"}),
    )?
    .metadata("source", "quickstart");
    let pushed = client.events().send(event).await?;
    println!("pushed event {} ({})", pushed.id, pushed.key);
    Ok(())
}
