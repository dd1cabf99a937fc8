//! Serves the in-process Hatchet engine on a port for local development with any SDK.
//!
//! ```text
//! cargo run -p hatchet-rs-engine --bin hatchet-local-engine -- --port 7077
//! eval "$(cargo run -q -p hatchet-rs-engine --bin hatchet-local-engine | head -n 5)"
//! ```
//!
//! Prints `export HATCHET_CLIENT_*=...` lines (token, address, TLS off) first, then serves
//! until ctrl-c.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use hatchet_rs_engine::{DEFAULT_ENGINE_VERSION, Engine};

/// Serves a Hatchet engine in this process and prints the `HATCHET_CLIENT_*` variables an
/// SDK needs to use it.
#[derive(Debug, Parser)]
#[command(name = "hatchet-local-engine", version)]
struct Args {
    /// Port to listen on; 0 picks a free port.
    #[arg(short, long, default_value_t = 7077)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Version reported by GetVersion.
    #[arg(long, default_value = DEFAULT_ENGINE_VERSION)]
    engine_version: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let engine = match Engine::builder()
        .ip(args.host)
        .port(args.port)
        .version(args.engine_version)
        .start()
        .await
    {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (name, value) in engine.env_vars() {
        println!("export {name}={value}");
    }
    eprintln!(
        "hatchet-local-engine: serving on {} (tenant {}); ctrl-c to stop",
        engine.addr(),
        engine.tenant_id()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for ctrl-c: {e}");
    }
    engine.shutdown().await;
    ExitCode::SUCCESS
}
