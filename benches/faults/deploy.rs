//! A rolling deploy: three worker processes share N tasks of 0.2-2 s; each in turn gets
//! SIGTERM (its drain deadline shorter than some tasks) and a new process takes its place.
//! Nothing may be lost, no application retry may be spent, and no attempt may start while
//! an earlier attempt of the same task still runs. Also measured: the p99 of trigger to
//! result, against the same workload without deploys.
//!
//! In-process by default; with `--live`, against the engine named by `HATCHET_CLIENT_*`.
//! Every task has 0 retries, so a failure report at shutdown would fail its run for good.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{
    Client, ClientConfigBuilder, Context, RunOptions, Task, TaskError, Worker, Workflow,
};
use serde_json::{Value, json};

use crate::Outcome;

/// Run as a deploy worker process.
pub(crate) const CHILD_FLAG: &str = "--deploy-worker";
const WORKFLOW: &str = "faults-deploy";
const WORKERS: usize = 3;
const SLOTS: u32 = 50;
/// Shorter than the longest tasks: some are always running at the deadline.
const DRAIN: Duration = Duration::from_millis(1500);
const LOG_ENV: &str = "HATCHET_FAULTS_DEPLOY_LOG";
const NAMESPACE_ENV: &str = "HATCHET_FAULTS_DEPLOY_NAMESPACE";
/// How long all runs may take to finish (reassignment waits 30 s of silence).
const FINISH_WITHIN: Duration = Duration::from_secs(300);

fn workflow() -> Result<Workflow<Value, Value>, hatchet_rs::DefinitionError> {
    Workflow::standalone(
        Task::new(WORKFLOW, |input: Value, ctx: Context| async move {
            let ms = input["ms"].as_u64().unwrap_or(0);
            let _attempt = AttemptRecord::start(ctx.task_run_id(), ctx.retry_count());
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, TaskError>(json!({"slept_ms": ms}))
        })
        .timeout("5m"),
    )
    .build()
}

/// Milliseconds of the run's task: spread over 0.2-2 s.
fn duration_ms(i: usize) -> u64 {
    200 + (i as u64 * 7919) % 1801
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Appends `S`/`E` lines for one attempt to the shared log: `E` when the body ends, however
/// it ends (an abort drops it).
struct AttemptRecord {
    task: String,
    retry: i32,
}

impl AttemptRecord {
    fn start(task: &str, retry: i32) -> Self {
        append(&format!(
            "S {task} {retry} {} {}\n",
            std::process::id(),
            now_ns()
        ));
        Self {
            task: task.to_owned(),
            retry,
        }
    }
}

impl Drop for AttemptRecord {
    fn drop(&mut self) {
        append(&format!(
            "E {} {} {} {}\n",
            self.task,
            self.retry,
            std::process::id(),
            now_ns()
        ));
    }
}

/// One `write` of a short line to a file opened for appending: atomic among processes.
fn append(line: &str) {
    if let Some(path) = std::env::var_os(LOG_ENV)
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The worker process: serves until SIGTERM, drains, then prints its figures as JSON.
pub(crate) fn child_main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(_) => return ExitCode::FAILURE,
    };
    let served = runtime.block_on(async {
        let mut config = ClientConfigBuilder::from_env();
        if let Ok(namespace) = std::env::var(NAMESPACE_ENV) {
            config = config.namespace(namespace);
        }
        let client = Client::new(config.build()?)?;
        let worker = Worker::builder(&client, "faults-deploy")
            .slots(SLOTS)
            .shutdown_timeout(DRAIN)
            .workflow(&workflow().map_err(|e| hatchet_rs::Error::InvalidPayload(e.to_string()))?)
            .build()?
            .start()
            .await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| hatchet_rs::Error::InvalidPayload(e.to_string()))?;
        let _ = term.recv().await;
        worker.shutdown().await?;
        let stats = worker.stats();
        println!(
            "{}",
            json!({"completed": stats.completed, "failed": stats.failed, "handed_back": stats.handed_back})
        );
        Ok::<_, hatchet_rs::Error>(())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deploy worker: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn run(tasks: usize, live: bool) -> Outcome {
    let name = if live {
        "rolling deploy (live)"
    } else {
        "rolling deploy"
    };
    check(tasks, live).await.unwrap_or_else(|e| Outcome {
        name,
        passed: false,
        figures: format!("error: {e}"),
    })
}

/// Where the workers connect: the in-process engine or the live one, with a namespace.
struct Target {
    engine: Option<TestEngine>,
    env: Vec<(String, String)>,
    client: Client,
}

impl Target {
    async fn start(live: bool, phase: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let namespace = format!("deploy{}{phase}", std::process::id());
        if live {
            let client = Client::new(
                ClientConfigBuilder::from_env()
                    .namespace(namespace.clone())
                    .build()?,
            )?;
            return Ok(Self {
                engine: None,
                env: vec![(NAMESPACE_ENV.to_owned(), namespace)],
                client,
            });
        }
        let engine = TestEngine::start().await?;
        let client = engine.client();
        let env = engine.env_vars();
        Ok(Self {
            engine: Some(engine),
            env,
            client,
        })
    }
}

/// A worker process; killed if the check ends early.
struct Child {
    process: std::process::Child,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn spawn_worker(target: &Target, log: &Path) -> Result<Child, Box<dyn std::error::Error>> {
    let process = Command::new(std::env::current_exe()?)
        .arg(CHILD_FLAG)
        .envs(target.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(LOG_ENV, log)
        .stdout(Stdio::piped())
        .spawn()?;
    Ok(Child { process })
}

/// What one phase (with or without deploys) measured.
struct Phase {
    latencies: Vec<Duration>,
    /// Runs that ended but not COMPLETED, or did not end in time.
    lost: usize,
    /// Failure reports the workers sent (each spends a retry).
    failure_reports: u64,
    handed_back: u64,
    /// Attempts recorded FAILED by the engine (in-process only).
    failed_attempts: Option<usize>,
    overlaps: usize,
    reassigned: usize,
    elapsed: Duration,
}

async fn phase(
    tasks: usize,
    live: bool,
    deploy: bool,
) -> Result<Phase, Box<dyn std::error::Error>> {
    let target = Target::start(live, if deploy { "d" } else { "b" }).await?;
    let log = std::env::temp_dir().join(format!(
        "hatchet-faults-deploy-{}-{}.log",
        std::process::id(),
        if deploy { "deploy" } else { "baseline" }
    ));
    let _ = std::fs::remove_file(&log);
    let mut children = Vec::new();
    for _ in 0..WORKERS {
        children.push(spawn_worker(&target, &log)?);
    }
    if let Some(engine) = &target.engine {
        engine
            .wait_for(
                "the worker processes to listen",
                Duration::from_secs(60),
                |e| (e.workers().iter().filter(|w| w.listening).count() >= WORKERS).then_some(()),
            )
            .await?;
    } else {
        // The live engine's workers are read over REST: wait until three of ours are there.
        wait_live_workers(&target.client, WORKERS).await?;
    }
    let workflow = workflow()?;
    let started = Instant::now();
    let runs = workflow
        .run_many(
            &target.client,
            (0..tasks).map(|i| (json!({"ms": duration_ms(i)}), RunOptions::new())),
        )
        .await?;
    let results = tokio::spawn({
        let runs = runs.clone();
        async move {
            futures::future::join_all(runs.iter().map(|run| async move {
                let result = tokio::time::timeout(FINISH_WITHIN, run.result()).await;
                (result, started.elapsed())
            }))
            .await
        }
    });
    let mut failure_reports = 0;
    let mut handed_back = 0;
    if deploy {
        for child in &mut children {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let old = std::mem::replace(child, spawn_worker(&target, &log)?);
            let (failed, back) = terminate(old).await?;
            failure_reports += failed;
            handed_back += back;
        }
    }
    let results = results.await?;
    let elapsed = started.elapsed();
    for child in children {
        let (failed, back) = terminate(child).await?;
        failure_reports += failed;
        handed_back += back;
    }
    let mut latencies = Vec::new();
    let mut completed = 0;
    for (result, at) in &results {
        if let Ok(Ok(_)) = result {
            completed += 1;
            latencies.push(*at);
        }
    }
    let failed_attempts = target.engine.as_ref().map(|engine| {
        engine
            .runs()
            .iter()
            .flat_map(|r| r.tasks.iter())
            .flat_map(|t| t.attempts.iter())
            .filter(|a| a.status == TaskStatus::Failed)
            .count()
    });
    let (overlaps, reassigned) = read_log(&log)?;
    let _ = std::fs::remove_file(&log);
    Ok(Phase {
        latencies,
        lost: tasks - completed,
        failure_reports,
        handed_back,
        failed_attempts,
        overlaps,
        reassigned,
        elapsed,
    })
}

/// SIGTERM, then the process's own figures once it exited.
async fn terminate(mut child: Child) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let pid = child.process.id().to_string();
    if !Command::new("kill")
        .args(["-TERM", &pid])
        .status()?
        .success()
    {
        return Err("kill -TERM failed".into());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.process.try_wait()? {
            if !status.success() {
                return Err(format!("a worker process exited with {status}").into());
            }
            break;
        }
        if Instant::now() > deadline {
            return Err("a worker process did not exit within 60 s of SIGTERM".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.process.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out)?;
    }
    let figures: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or("a worker process printed no figures")?;
    Ok((
        figures["failed"].as_u64().unwrap_or(0),
        figures["handed_back"].as_u64().unwrap_or(0),
    ))
}

/// (attempts that started while an earlier one of the same task ran, tasks run more than once)
fn read_log(path: &PathBuf) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // (task, retry) -> (start, end)
    let mut attempts: HashMap<(String, String), (Option<u128>, Option<u128>)> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let [kind, task, retry, _pid, at] = parts.as_slice() else {
            return Err(format!("a malformed attempt record: {line:?}").into());
        };
        let at: u128 = at.parse()?;
        let entry = attempts
            .entry(((*task).to_owned(), (*retry).to_owned()))
            .or_default();
        match *kind {
            "S" => entry.0 = Some(at),
            _ => entry.1 = Some(at),
        }
    }
    let mut by_task: HashMap<&str, Vec<(u128, u128)>> = HashMap::new();
    for ((task, _), (start, end)) in &attempts {
        // An attempt with no end record counts as never ending.
        by_task
            .entry(task)
            .or_default()
            .push((start.unwrap_or(0), end.unwrap_or(u128::MAX)));
    }
    let mut overlaps = 0;
    let mut reassigned = 0;
    for intervals in by_task.values_mut() {
        if intervals.len() > 1 {
            reassigned += 1;
        }
        intervals.sort_unstable();
        let mut running_until = 0;
        for (start, end) in intervals.iter() {
            if *start < running_until {
                overlaps += 1;
            }
            running_until = running_until.max(*end);
        }
    }
    Ok((overlaps, reassigned))
}

async fn wait_live_workers(
    client: &Client,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let workers: Vec<_> =
            futures::TryStreamExt::try_collect(client.workers().list_all()).await?;
        let ours = workers
            .iter()
            .filter(|w| {
                w.name == "faults-deploy"
                    && matches!(w.status, Some(hatchet_rs::rest::WorkerStatus::Active))
            })
            .count();
        if ours >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {ours} of {count} deploy workers became active").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort_unstable();
    latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

async fn check(tasks: usize, live: bool) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut baseline = phase(tasks, live, false).await?;
    let mut deploy = phase(tasks, live, true).await?;
    let base_p99 = p99(&mut baseline.latencies);
    let deploy_p99 = p99(&mut deploy.latencies);
    let failed_attempts = deploy.failed_attempts.unwrap_or(0);
    let passed = deploy.lost == 0
        && baseline.lost == 0
        && deploy.failure_reports == 0
        && failed_attempts == 0
        && deploy.overlaps == 0;
    Ok(Outcome {
        name: if live {
            "rolling deploy (live)"
        } else {
            "rolling deploy"
        },
        passed,
        figures: format!(
            "{tasks} runs of 0.2-2 s on {WORKERS} worker processes, each sent SIGTERM in turn (drain deadline {:.1} s) and replaced: {} lost, {} application retries spent ({} failure reports{}), {} attempts started while an earlier one ran; {} handed back and reassigned ({} tasks ran twice); p99 trigger to result {:.1} s against {:.1} s without deploys (+{:.1} s); all done in {:.1} s",
            DRAIN.as_secs_f64(),
            deploy.lost,
            deploy.failure_reports.max(failed_attempts as u64),
            deploy.failure_reports,
            deploy.failed_attempts.map_or(String::new(), |n| format!(
                ", {n} failed attempts on the engine"
            )),
            deploy.overlaps,
            deploy.handed_back,
            deploy.reassigned,
            deploy_p99.as_secs_f64(),
            base_p99.as_secs_f64(),
            deploy_p99.saturating_sub(base_p99).as_secs_f64(),
            deploy.elapsed.as_secs_f64(),
        ),
    })
}
