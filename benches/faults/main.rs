//! The worker's fault suite: properties that must hold when things go wrong, checked on the
//! in-process engine and printed as a table. A program, not a test: it takes a while at full
//! size and its figures go in the README.
//!
//! ```text
//! cargo run --release -p hatchet-bench --bin hatchet-faults              # full size
//! cargo run -p hatchet-bench --bin hatchet-faults -- --tasks 1000 --drop-every-ms 100 --block 8  # CI
//! ```
//!
//! - `stream drops`: N no-op tasks while every stream is dropped every second: none lost,
//!   no attempt executed twice, every result delivered.
//! - `sigterm`: a worker process gets SIGTERM with 100 tasks in flight (some longer than its
//!   drain deadline): every task finishes or is handed back to the engine unreported (none
//!   is failed); with a second SIGTERM during a long drain, the worker stops at once.
//! - `rolling deploy`: three worker processes share N tasks of 0.2-2 s and are each sent
//!   SIGTERM in turn and replaced: no run lost, no application retry spent, no attempt
//!   started while an earlier one of the same task ran; the added p99 latency is printed.
//!   With `--live`, also against the real engine (`deploy-live`).
//! - `blocked runtime`: a task blocks the only thread of its worker's runtime: heartbeats
//!   continue and nothing is reassigned.
//!
//! - `engine restart` (with `--live`, against the engine named by `HATCHET_CLIENT_*` and
//!   started by `scripts/live-engine`): the real engine restarts mid-run; the worker is back
//!   within 5 s of the engine and every run completes.
//!
//! `--only CHECK` runs one check (`drops`, `sigterm`, `deploy`, `blocked`; with `--live`,
//! `deploy-live` or `restart`).
//!
//! Exits non-zero if any property fails.

mod blocked;
mod deploy;
mod drops;
mod restart;
mod sigterm;

use std::process::ExitCode;
use std::time::Duration;

/// The checks `--only` can name.
const CHECKS: [&str; 6] = [
    "drops",
    "sigterm",
    "deploy",
    "deploy-live",
    "restart",
    "blocked",
];

/// What a property check found.
struct Outcome {
    name: &'static str,
    passed: bool,
    figures: String,
}

#[derive(Debug, Clone)]
struct Args {
    tasks: usize,
    in_flight: usize,
    block: Duration,
    drop_every: Duration,
    deploy_tasks: usize,
    only: Option<String>,
    live: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tasks: 10_000,
        in_flight: 100,
        block: Duration::from_secs(60),
        drop_every: Duration::from_secs(1),
        deploy_tasks: 2000,
        only: None,
        live: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let raw = it.next().ok_or_else(|| format!("{name} needs a number"))?;
            raw.parse()
                .map_err(|_| format!("{name} needs a whole number, got `{raw}`"))
        };
        match arg.as_str() {
            "--tasks" => args.tasks = number("--tasks")? as usize,
            "--in-flight" => args.in_flight = number("--in-flight")? as usize,
            "--block" => args.block = Duration::from_secs(number("--block")?),
            "--drop-every-ms" => {
                args.drop_every = Duration::from_millis(number("--drop-every-ms")?.max(1));
            }
            "--deploy-tasks" => args.deploy_tasks = number("--deploy-tasks")? as usize,
            "--only" => {
                let name = it.next().ok_or("--only needs a check's name")?;
                if !CHECKS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown check `{name}`: one of {}",
                        CHECKS.join(", ")
                    ));
                }
                args.only = Some(name);
            }
            "--live" => args.live = true,
            sigterm::CHILD_FLAG | deploy::CHILD_FLAG => return Err(format!("{arg} is internal")),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if let Some(only) = args.only.as_deref()
        && matches!(only, "deploy-live" | "restart")
        && !args.live
    {
        return Err(format!(
            "the check `{only}` runs against the real engine: add --live"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some(sigterm::CHILD_FLAG) => return sigterm::child_main(),
        Some(deploy::CHILD_FLAG) => return deploy::child_main(),
        _ => {}
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "error: {message}\nusage: hatchet-faults [--tasks N] [--in-flight N] [--block SECS] [--drop-every-ms MS] [--deploy-tasks N] [--only CHECK] [--live]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let mut outcomes = Vec::new();
    if wanted("drops") {
        outcomes.push(runtime.block_on(drops::run(args.tasks, args.drop_every)));
    }
    if wanted("sigterm") {
        outcomes.push(runtime.block_on(sigterm::run(args.in_flight)));
        outcomes.push(runtime.block_on(sigterm::run_twice(args.in_flight)));
    }
    if wanted("deploy") {
        outcomes.push(runtime.block_on(deploy::run(args.deploy_tasks, false)));
    }
    if args.live && wanted("deploy-live") {
        outcomes.push(runtime.block_on(deploy::run(args.deploy_tasks, true)));
    }
    if args.live && wanted("restart") {
        outcomes.push(runtime.block_on(restart::run()));
    }
    drop(runtime);
    if wanted("blocked") {
        // Runs its own runtimes: the worker's must have one thread.
        outcomes.push(blocked::run(args.block));
    }
    println!("\n| property | result | figures |\n|---|---|---|");
    for o in &outcomes {
        let result = if o.passed { "pass" } else { "FAIL" };
        println!("| {} | {result} | {} |", o.name, o.figures);
    }
    if outcomes.iter().all(|o| o.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// This package's directory, read at run time when cargo gives it (a build shared through
/// one target directory by checkouts at other paths must not point elsewhere).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}
