//! What a run found, as one serializable value (`results.json`), a table and a chart.

mod svg;
mod table;

use serde::Serialize;

use crate::cli::{Options, Peer};

pub(crate) use svg::svg;
pub(crate) use table::table;

/// The whole run.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    /// `"in-process"` or `"live <host:port> (<version>)"`.
    pub(crate) engine: String,
    /// Logical CPUs of the machine (`available_parallelism`).
    pub(crate) cpus: usize,
    pub(crate) config: Config,
    /// The peer the ratios divide by.
    pub(crate) ratio_basis: &'static str,
    pub(crate) peers: Vec<PeerResult>,
    /// Client-side, shared by all peers.
    pub(crate) events: Option<EventFigures>,
}

/// The flags that shape the figures.
#[derive(Debug, Serialize)]
pub(crate) struct Config {
    pub(crate) tasks: usize,
    pub(crate) latency_runs: usize,
    pub(crate) inflight: usize,
    pub(crate) sleep_ms: u64,
    pub(crate) slots: u32,
}

/// One peer: its figures, or why there are none.
#[derive(Debug, Serialize)]
pub(crate) struct PeerResult {
    pub(crate) peer: &'static str,
    /// `"ok"`, `"skipped"` or `"failed"`.
    pub(crate) status: &'static str,
    pub(crate) note: Option<String>,
    pub(crate) figures: Option<Figures>,
    /// This peer's figures divided by the raw floor's (1.0 for the floor itself).
    pub(crate) ratios: Option<Ratios>,
}

/// What was measured for one peer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figures {
    pub(crate) throughput_tasks_per_s: f64,
    /// `None` if the task's output had no start time.
    pub(crate) trigger_to_start_ms: Option<Percentiles>,
    pub(crate) trigger_to_result_ms: Percentiles,
    pub(crate) cpu_us_per_task: f64,
    pub(crate) rss_idle_kib: u64,
    /// Peak RSS while `config.inflight` sleeping tasks ran.
    pub(crate) rss_inflight_kib: u64,
    /// Processes in the worker's tree (the Python SDK runs two).
    pub(crate) worker_processes: usize,
}

/// p50 and p99 of a sample, nearest-rank.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) samples: usize,
}

impl Percentiles {
    /// `None` for an empty sample.
    pub(crate) fn of(mut sample: Vec<f64>) -> Option<Self> {
        if sample.is_empty() {
            return None;
        }
        sample.sort_by(f64::total_cmp);
        let rank =
            |p: f64| sample[((p * sample.len() as f64).ceil() as usize).clamp(1, sample.len()) - 1];
        Some(Self {
            p50: rank(0.50),
            p99: rank(0.99),
            samples: sample.len(),
        })
    }
}

/// A peer's figures over the floor's: above 1 means more throughput, more latency, more
/// CPU or more memory than the floor.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratios {
    pub(crate) throughput: f64,
    pub(crate) trigger_to_start_p50: Option<f64>,
    pub(crate) trigger_to_result_p50: f64,
    pub(crate) cpu_per_task: f64,
    pub(crate) rss_inflight: f64,
}

impl Ratios {
    fn of(peer: &Figures, floor: &Figures) -> Self {
        let start = |f: &Figures| f.trigger_to_start_ms.map(|p| p.p50);
        Self {
            throughput: peer.throughput_tasks_per_s / floor.throughput_tasks_per_s,
            trigger_to_start_p50: start(peer).zip(start(floor)).map(|(p, f)| p / f),
            trigger_to_result_p50: peer.trigger_to_result_ms.p50 / floor.trigger_to_result_ms.p50,
            cpu_per_task: peer.cpu_us_per_task / floor.cpu_us_per_task,
            rss_inflight: peer.rss_inflight_kib as f64 / floor.rss_inflight_kib as f64,
        }
    }
}

/// Client-side event push figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventFigures {
    pub(crate) bulk_events: usize,
    pub(crate) bulk_events_per_s: f64,
    pub(crate) single_events: usize,
    pub(crate) single_events_per_s: f64,
}

impl PeerResult {
    pub(crate) fn measured(peer: Peer, figures: Figures) -> Self {
        Self {
            peer: peer.name(),
            status: "ok",
            note: None,
            figures: Some(figures),
            ratios: None,
        }
    }

    /// Adds `note` (e.g. how the worker was built) before any note the result has.
    pub(crate) fn with_note(mut self, note: Option<String>) -> Self {
        self.note = match (note, self.note.take()) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        self
    }

    pub(crate) fn skipped(peer: Peer, why: String) -> Self {
        Self {
            peer: peer.name(),
            status: "skipped",
            note: Some(why),
            figures: None,
            ratios: None,
        }
    }

    pub(crate) fn failed(peer: Peer, why: String) -> Self {
        Self {
            peer: peer.name(),
            status: "failed",
            note: Some(why),
            figures: None,
            ratios: None,
        }
    }
}

impl Results {
    /// Assembles the run and divides every peer's figures by the floor's.
    pub(crate) fn new(
        engine: &str,
        options: &Options,
        mut peers: Vec<PeerResult>,
        events: Option<EventFigures>,
    ) -> Self {
        let floor = peers
            .iter()
            .find(|p| p.peer == Peer::Raw.name())
            .and_then(|p| p.figures.clone());
        if let Some(floor) = &floor {
            for peer in &mut peers {
                peer.ratios = peer.figures.as_ref().map(|f| Ratios::of(f, floor));
            }
        }
        Self {
            engine: engine.to_owned(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            config: Config {
                tasks: options.tasks,
                latency_runs: options.latency_runs,
                inflight: options.inflight,
                sleep_ms: options.sleep_ms,
                slots: options.slots,
            },
            ratio_basis: Peer::Raw.name(),
            peers,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).expect("a sample");
        assert_eq!((p.p50, p.p99, p.samples), (50.0, 99.0, 100));
        let one = Percentiles::of(vec![7.0]).expect("a sample");
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(Percentiles::of(Vec::new()).is_none());
    }
}
