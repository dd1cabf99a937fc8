//! What a worker counts about itself, for [`WorkerHandle::stats`](super::WorkerHandle::stats)
//! and the health endpoint: plain atomics, updated on the path of each task.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    /// Attempts given back to the engine unreported at shutdown.
    pub(crate) handed_back: AtomicU64,
    pub(crate) listening: AtomicBool,
    /// Unix milliseconds of the last heartbeat the engine accepted (0: none yet).
    pub(crate) last_heartbeat_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn heartbeat_accepted(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.last_heartbeat_ms.store(now, Ordering::Relaxed);
    }
}

/// A worker's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Slots of every type the worker offers.
    pub slots: usize,
    /// Attempts running now.
    pub running: usize,
    /// Attempts that completed since the worker started.
    pub completed: u64,
    /// Attempts that failed (and were reported) since the worker started.
    pub failed: u64,
    /// Times the action stream was re-opened after it ended.
    pub reconnects: u64,
    /// Attempts still running at the shutdown deadline, given back to the engine without a
    /// report: the engine runs them again once the worker has gone silent, without
    /// spending one of the task's retries.
    pub handed_back: u64,
    /// Task log lines dropped because the log queue was full (the engine was unreachable
    /// for long, or tasks logged faster than it takes lines).
    pub log_lines_dropped: u64,
    /// Whether the action stream is open now.
    pub listening: bool,
    /// How long ago the engine last accepted a heartbeat, if it ever did.
    pub since_last_heartbeat: Option<Duration>,
}

impl WorkerStats {
    /// Ready to take work: listening, with a heartbeat accepted in the last 10 s.
    pub fn is_ready(&self) -> bool {
        self.listening
            && self
                .since_last_heartbeat
                .is_some_and(|age| age < Duration::from_secs(10))
    }

    pub(crate) fn read(
        counters: &Counters,
        slots: usize,
        running: usize,
        log_lines_dropped: u64,
    ) -> Self {
        let last = counters.last_heartbeat_ms.load(Ordering::Relaxed);
        let since_last_heartbeat = (last > 0).then(|| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            Duration::from_millis(now.saturating_sub(last))
        });
        Self {
            slots,
            running,
            completed: counters.completed.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            reconnects: counters.reconnects.load(Ordering::Relaxed),
            handed_back: counters.handed_back.load(Ordering::Relaxed),
            log_lines_dropped,
            listening: counters.listening.load(Ordering::Relaxed),
            since_last_heartbeat,
        }
    }

    /// The figures in the Prometheus text format.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "hatchet_worker_slots",
            "gauge",
            "Slots the worker offers.",
            self.slots.to_string(),
        );
        metric(
            "hatchet_worker_running_tasks",
            "gauge",
            "Attempts running now.",
            self.running.to_string(),
        );
        metric(
            "hatchet_worker_completed_total",
            "counter",
            "Attempts completed.",
            self.completed.to_string(),
        );
        metric(
            "hatchet_worker_failed_total",
            "counter",
            "Attempts failed.",
            self.failed.to_string(),
        );
        metric(
            "hatchet_worker_reconnects_total",
            "counter",
            "Action stream re-opens.",
            self.reconnects.to_string(),
        );
        metric(
            "hatchet_worker_handed_back_total",
            "counter",
            "Attempts given back to the engine unreported at shutdown.",
            self.handed_back.to_string(),
        );
        metric(
            "hatchet_worker_log_lines_dropped_total",
            "counter",
            "Task log lines dropped because the log queue was full.",
            self.log_lines_dropped.to_string(),
        );
        metric(
            "hatchet_worker_listening",
            "gauge",
            "1 while the action stream is open.",
            u8::from(self.listening).to_string(),
        );
        metric(
            "hatchet_worker_ready",
            "gauge",
            "1 while listening with a fresh heartbeat.",
            u8::from(self.is_ready()).to_string(),
        );
        out
    }
}
