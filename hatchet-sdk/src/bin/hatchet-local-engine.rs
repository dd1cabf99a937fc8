//! Serves the in-process Hatchet engine on a port for local development with any SDK.
//!
//! ```text
//! cargo run -p hatchet-sdk --features testing --bin hatchet-local-engine -- --port 7077
//! eval "$(cargo run -q -p hatchet-sdk --features testing --bin hatchet-local-engine | head -n 5)"
//! ```
//!
//! Prints `export HATCHET_CLIENT_*=...` lines (token, address, TLS off) first, then serves
//! until ctrl-c.

use std::net::IpAddr;
use std::process::ExitCode;

use hatchet_sdk::testing::TestEngine;

const USAGE: &str = "usage: hatchet-local-engine [--port PORT] [--host IP] [--version VERSION]
  --port PORT        port to listen on (default 7077; 0 picks a free port)
  --host IP          address to listen on (default 127.0.0.1)
  --version VERSION  version reported by GetVersion (default v0.104.7)";

struct Args {
    port: u16,
    host: IpAddr,
    version: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 7077,
        host: IpAddr::from([127, 0, 0, 1]),
        version: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" | "-p" => {
                let raw = value("--port")?;
                args.port = raw
                    .parse()
                    .map_err(|_| format!("--port must be a number from 0 to 65535, got `{raw}`"))?;
            }
            "--host" => {
                let raw = value("--host")?;
                args.host = raw
                    .parse()
                    .map_err(|_| format!("--host must be an IP address, got `{raw}`"))?;
            }
            "--version" => args.version = Some(value("--version")?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = TestEngine::builder().ip(args.host).port(args.port);
    if let Some(version) = args.version {
        builder = builder.version(version);
    }
    let engine = match builder.start().await {
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
