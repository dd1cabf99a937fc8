//! The table printed on stdout.

use std::fmt::Write as _;

use super::{Figures, Ratios, Results};

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"))
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn row(peer: &str, f: &Figures, r: Option<&Ratios>) -> String {
    let (start50, start99) = f
        .trigger_to_start_ms
        .map_or(("-".to_owned(), "-".to_owned()), |p| {
            (format!("{:.2}", p.p50), format!("{:.2}", p.p99))
        });
    format!(
        "{peer:<10} {:>9.0} {:>6} | {:>8} {:>8} | {:>8.2} {:>8.2} {:>6} | {:>8.1} {:>6} | {:>7} {:>8} {:>6}\n",
        f.throughput_tasks_per_s,
        ratio(r.map(|r| r.throughput)),
        start50,
        start99,
        f.trigger_to_result_ms.p50,
        f.trigger_to_result_ms.p99,
        ratio(r.map(|r| r.trigger_to_result_p50)),
        f.cpu_us_per_task,
        ratio(r.map(|r| r.cpu_per_task)),
        mib(f.rss_idle_kib),
        mib(f.rss_inflight_kib),
        ratio(r.map(|r| r.rss_inflight)),
    )
}

/// Renders the run as a fixed-width table, ratios relative to the raw floor.
pub(crate) fn table(results: &Results) -> String {
    let c = &results.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hatchet-bench: engine {}, {} CPUs; {} no-op tasks, {} latency runs, {} in flight (sleep {} ms), {} slots\n",
        results.engine, results.cpus, c.tasks, c.latency_runs, c.inflight, c.sleep_ms, c.slots
    );
    let _ = writeln!(
        out,
        "{:<10} {:>16} | {:>17} | {:>24} | {:>15} | {:>23}",
        "", "throughput", "trigger->start ms", "trigger->result ms", "worker CPU", "worker RSS MiB",
    );
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>6} | {:>8} {:>8} | {:>8} {:>8} {:>6} | {:>8} {:>6} | {:>7} {:>8} {:>6}",
        "peer",
        "tasks/s",
        "/raw",
        "p50",
        "p99",
        "p50",
        "p99",
        "/raw",
        "us/task",
        "/raw",
        "idle",
        format!("@{}", c.inflight),
        "/raw",
    );
    let mut notes = String::new();
    for peer in &results.peers {
        match &peer.figures {
            Some(f) => out.push_str(&row(peer.peer, f, peer.ratios.as_ref())),
            None => {
                let _ = writeln!(out, "{:<10} ({})", peer.peer, peer.status);
            }
        }
        if let Some(note) = &peer.note {
            let _ = writeln!(notes, "  {}: {note}", peer.peer);
        }
    }
    if !notes.is_empty() {
        let _ = write!(out, "\nnotes:\n{notes}");
    }
    if let Some(e) = &results.events {
        let _ = writeln!(
            out,
            "\nevent push (client side): {:.0} events/s in bulk ({} events), {:.0} events/s one call each ({} events)",
            e.bulk_events_per_s, e.bulk_events, e.single_events_per_s, e.single_events
        );
    }
    out
}
