//! Command-line flags. Hand-parsed: a dozen flags do not justify an argument-parser dependency.

use std::path::PathBuf;
use std::str::FromStr;

/// Printed by `--help` and after a usage error.
pub(crate) const USAGE: &str = "\
Usage: hatchet-bench [FLAGS]

Measures, in one run against one engine, a raw-protocol worker (the floor), this SDK's
worker and the official Go and Python SDK workers: no-op throughput, trigger->start and
trigger->result latency, worker CPU per task and worker RSS; plus event push throughput.

Flags:
  --tasks N          no-op tasks for the throughput figure, triggered in bulk  [10000]
  --latency-runs N   sequential runs for the latency percentiles                  [200]
  --inflight N       sleeping tasks in flight at once for the RSS figure          [200]
  --sleep-ms MS      how long each of those tasks sleeps                          [2000]
  --slots N          worker slots (raised to --inflight if lower)                 [200]
  --events N         events pushed in bulk (and N/10 pushed one by one)          [20000]
  --peers LIST       comma-separated subset of raw,rust,rust-batch,go,python      [all]
  --python PATH      Python with the official hatchet-sdk [$HATCHET_PYTHON, else .venv]
  --go PATH          Go toolchain that builds the Go SDK worker  [$HATCHET_GO, else go]
  --out DIR          where results.json, chart.svg and logs/ go     [target/bench]
  --live             use the engine named by HATCHET_CLIENT_* instead of the in-process one
  -h, --help         this text
";

/// A worker the benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The hand-written tonic loop.
    Raw,
    /// This SDK's `Worker`.
    Rust,
    /// This SDK's `Worker` with batch tasks (100 items, 10 ms interval).
    RustBatch,
    /// The official Go SDK.
    Go,
    /// The official Python SDK.
    Python,
}

impl Peer {
    pub(crate) const ALL: [Peer; 5] = [
        Peer::Raw,
        Peer::Rust,
        Peer::RustBatch,
        Peer::Go,
        Peer::Python,
    ];

    /// The short name used in flags, workflow names and the output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Raw => "raw",
            Peer::Rust => "rust",
            Peer::RustBatch => "rust-batch",
            Peer::Go => "go",
            Peer::Python => "python",
        }
    }

    /// The peer's no-op workflow (a standalone task).
    pub(crate) fn noop_workflow(self) -> String {
        format!("bench-{}-noop", self.name())
    }

    /// The peer's sleeping workflow (a standalone task).
    pub(crate) fn sleep_workflow(self) -> String {
        format!("bench-{}-sleep", self.name())
    }
}

impl FromStr for Peer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown peer `{s}`: expected raw, rust, rust-batch, go or python")
            })
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    Help,
    Run(Options),
}

/// Every flag, with its default.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) tasks: usize,
    pub(crate) latency_runs: usize,
    pub(crate) inflight: usize,
    pub(crate) sleep_ms: u64,
    pub(crate) slots: u32,
    pub(crate) events: usize,
    pub(crate) peers: Vec<Peer>,
    pub(crate) python: Option<PathBuf>,
    pub(crate) go: Option<PathBuf>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) live: bool,
    /// Internal: serve as this peer's worker (the benchmark re-executes itself).
    pub(crate) worker: Option<Peer>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tasks: 10_000,
            latency_runs: 200,
            inflight: 200,
            sleep_ms: 2000,
            slots: 200,
            events: 20_000,
            peers: Peer::ALL.to_vec(),
            python: None,
            go: None,
            out: None,
            live: false,
            worker: None,
        }
    }
}

fn number<T: FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag} expects a number, got `{value}`"))
}

impl Options {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "--tasks" => o.tasks = number(&flag, args.next())?,
                "--latency-runs" => o.latency_runs = number(&flag, args.next())?,
                "--inflight" => o.inflight = number(&flag, args.next())?,
                "--sleep-ms" => o.sleep_ms = number(&flag, args.next())?,
                "--slots" => o.slots = number(&flag, args.next())?,
                "--events" => o.events = number(&flag, args.next())?,
                "--peers" => {
                    let list = args.next().ok_or("--peers needs a value")?;
                    o.peers = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
                }
                "--python" => o.python = Some(args.next().ok_or("--python needs a path")?.into()),
                "--go" => o.go = Some(args.next().ok_or("--go needs a path")?.into()),
                "--out" => o.out = Some(args.next().ok_or("--out needs a directory")?.into()),
                "--live" => o.live = true,
                "--worker" => o.worker = Some(args.next().ok_or("--worker needs a peer")?.parse()?),
                // `cargo bench` passes `--bench`; accept it so both ways of running work.
                "--bench" => {}
                other => return Err(format!("unknown flag `{other}`")),
            }
        }
        if o.tasks == 0 || o.latency_runs == 0 || o.inflight == 0 {
            return Err("--tasks, --latency-runs and --inflight must be at least 1".to_owned());
        }
        o.slots = o.slots.max(u32::try_from(o.inflight).unwrap_or(u32::MAX));
        Ok(Command::Run(o))
    }

    /// The flags a worker child needs to serve like its parent asked.
    pub(crate) fn worker_args(&self, peer: Peer) -> Vec<String> {
        vec![
            "--worker".to_owned(),
            peer.name().to_owned(),
            "--slots".to_owned(),
            self.slots.to_string(),
            "--sleep-ms".to_owned(),
            self.sleep_ms.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Options::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn slots_are_raised_to_the_inflight_count() {
        let Ok(Command::Run(o)) = parse(&["--inflight", "500", "--slots", "10"]) else {
            panic!("flags should parse");
        };
        assert_eq!(o.slots, 500);
    }

    #[test]
    fn the_go_peer_and_its_toolchain_are_flags() {
        let Ok(Command::Run(o)) = parse(&["--peers", "go,raw", "--go", "/opt/go/bin/go"]) else {
            panic!("flags should parse");
        };
        assert_eq!(o.peers, [Peer::Go, Peer::Raw]);
        assert_eq!(
            o.go.as_deref(),
            Some(std::path::Path::new("/opt/go/bin/go"))
        );
    }

    #[test]
    fn unknown_peers_and_flags_are_named() {
        assert_eq!(
            parse(&["--peers", "raw,java"]).err().as_deref(),
            Some("unknown peer `java`: expected raw, rust, rust-batch, go or python")
        );
        assert_eq!(
            parse(&["--fast"]).err().as_deref(),
            Some("unknown flag `--fast`")
        );
    }
}
