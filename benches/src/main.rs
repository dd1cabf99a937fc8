//! `hatchet-bench`: this SDK's worker next to a raw-protocol floor and the official Go and
//! Python SDK workers, in one run against one engine.
//!
//! ```text
//! cargo run --release -p hatchet-bench                      # in-process engine, ~1 minute
//! cargo run --release -p hatchet-bench -- --tasks 10000     # more tasks for the throughput figure
//! eval "$(scripts/live-engine up)" && cargo run --release -p hatchet-bench -- --live
//! cargo run --release -p hatchet-bench -- --help            # every flag
//! ```
//!
//! # Peers
//!
//! - `raw`: the floor. A hand-written tonic loop (`PutWorkflow`, `Register`, `ListenV2`, a
//!   heartbeat every 4 s, and STARTED + COMPLETED per action), nothing else.
//! - `rust`: this SDK's [`Worker`](hatchet_rs::Worker) with `#[task]` functions.
//! - `python`: the official Python SDK (`hatchet-sdk` pinned in `tests/python/requirements.txt`)
//!   running `python/worker.py`. The interpreter comes from `--python`, `HATCHET_PYTHON`, or the
//!   workspace's `.venv` (`scripts/python-venv`); without one the peer is skipped with a note
//!   in the table and the JSON.
//! - `go`: the official Go SDK (`github.com/hatchet-dev/hatchet/sdks/go`, the module version
//!   pinned in `go-worker/go.mod`, with `go.sum`) running `go-worker/main.go`. The benchmark
//!   builds it with `go build` when the peer runs (Go from `--go`, `HATCHET_GO` or `PATH`;
//!   output in `--out/go/`; Go's build cache makes later runs take well under a second) and
//!   notes the toolchain and build time. Without Go, or if the module cannot be built (e.g.
//!   offline with an empty module cache), the peer is skipped with a note; `go build` log in
//!   `--out/logs/go-build.log`. Go is never invoked by `cargo build` or `cargo test`.
//!
//! Every worker runs in its own process (the two Rust peers re-execute this binary with
//! `--worker raw|rust`), so its CPU time and RSS are read from `/proc` for its whole process
//! tree (the Python SDK runs its listener in a child process). Peers run one after another
//! against the same engine, each with its own workflow names (`bench-<peer>-noop`,
//! `bench-<peer>-sleep`) and the same slot count.
//!
//! # Figures, per peer
//!
//! | figure | how |
//! |---|---|
//! | throughput | `--tasks` no-op runs triggered with one bulk trigger; tasks/s from before the trigger to the last result |
//! | trigger→start | `--latency-runs` sequential runs; the no-op task returns the wall-clock time it started (same machine, same clock), minus the client's time just before the trigger |
//! | trigger→result | the same runs: trigger to the result arriving at the client (p50 / p99) |
//! | CPU per task | user + system time of the worker's process tree during the throughput phase, divided by `--tasks` |
//! | RSS | of the worker's process tree: idle (after warm-up), and the peak while `--inflight` sleeping tasks (`--sleep-ms`) run at once |
//!
//! Event push throughput is a client-side figure shared by all peers: `--events` events with
//! bulk pushes, and a tenth of that with one `Push` call each, sequentially.
//!
//! Each worker keeps its SDK's default logging, to its log file: the Python SDK's INFO lines;
//! the Go SDK's JSON lines at its default level, debug (two per task); the Rust worker
//! installs no `tracing` subscriber.
//!
//! Ratios are relative to the raw floor measured in the same run. Against the in-process
//! engine, the engine and the client share the benchmark's process, so every peer pays the
//! same engine cost; the figures compare workers, not engines.
//!
//! # Output
//!
//! A table on stdout, `results.json` and `chart.svg` in `--out` (default `target/bench/` of
//! the workspace, or `$CARGO_TARGET_DIR/bench/`), and each worker's output in `--out/logs/`.
//! Nothing here asserts on timings: the numbers are for reading and comparing.

mod cli;
mod measure;
mod procfs;
mod report;
mod spawn;
mod target;
mod workers;

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match cli::Options::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Run(options)) => options,
        Err(message) => {
            eprintln!("hatchet-bench: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hatchet-bench: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match options.worker {
        Some(kind) => runtime.block_on(workers::serve(kind, &options)),
        None => runtime.block_on(measure::run(&options)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hatchet-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark's error type: every failure is reported as a message and ends the run.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// This package's directory, read at run time when cargo gives it (a build shared through
/// one target directory by checkouts at other paths must not point elsewhere).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}
