//! `chart.svg`: one bar panel per figure, one bar per measured peer. Hand-written SVG; a
//! plotting dependency would outweigh the benchmark.

use std::fmt::Write as _;

use super::{Figures, Results};

const PANEL_W: f64 = 260.0;
const PANEL_H: f64 = 260.0;
const PLOT_TOP: f64 = 40.0;
const PLOT_H: f64 = 170.0;
/// A peer's bar colour: grey for the floor, the language's usual colour for the others.
fn color(peer: &str) -> &'static str {
    match peer {
        "raw" => "#7f7f7f",
        "rust" => "#d9622b",
        "rust-batch" => "#f0a070",
        "go" => "#00add8",
        "python" => "#3572a5",
        _ => "#999999",
    }
}

/// A figure to chart: its title, and how to read it off a peer's figures.
struct Panel {
    title: String,
    value: fn(&Figures) -> f64,
    decimals: usize,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the measured peers as a row of bar charts.
pub(crate) fn svg(results: &Results) -> String {
    let panels = [
        Panel {
            title: "no-op throughput (tasks/s)".to_owned(),
            value: |f| f.throughput_tasks_per_s,
            decimals: 0,
        },
        Panel {
            title: "trigger->result p50 (ms)".to_owned(),
            value: |f| f.trigger_to_result_ms.p50,
            decimals: 2,
        },
        Panel {
            title: "worker CPU per task (us)".to_owned(),
            value: |f| f.cpu_us_per_task,
            decimals: 1,
        },
        Panel {
            title: format!("worker RSS, {} in flight (MiB)", results.config.inflight),
            value: |f| f.rss_inflight_kib as f64 / 1024.0,
            decimals: 1,
        },
    ];
    let peers: Vec<(&str, &Figures)> = results
        .peers
        .iter()
        .filter_map(|p| p.figures.as_ref().map(|f| (p.peer, f)))
        .collect();
    let width = PANEL_W * panels.len() as f64 + 20.0;
    let height = PANEL_H + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">hatchet-bench: engine {}, {} no-op tasks; ratios relative to the raw floor</text>"#,
        escape(&results.engine),
        results.config.tasks
    );
    for (n, panel) in panels.iter().enumerate() {
        let x0 = 10.0 + PANEL_W * n as f64;
        let y0 = 30.0;
        let _ = writeln!(
            out,
            r#"<g transform="translate({x0},{y0})"><text x="{}" y="20" text-anchor="middle" font-weight="bold">{}</text>"#,
            PANEL_W / 2.0,
            escape(&panel.title)
        );
        let max = peers
            .iter()
            .map(|(_, f)| (panel.value)(f))
            .fold(0.0_f64, f64::max);
        let floor = peers
            .iter()
            .find(|(name, _)| *name == "raw")
            .map(|(_, f)| (panel.value)(f));
        let slot = (PANEL_W - 30.0) / peers.len().max(1) as f64;
        let bar_w = slot * 0.6;
        let base = PLOT_TOP + PLOT_H;
        let _ = writeln!(
            out,
            r##"<line x1="10" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
            PANEL_W - 20.0
        );
        for (k, (name, figures)) in peers.iter().enumerate() {
            let value = (panel.value)(figures);
            let h = if max > 0.0 { value / max * PLOT_H } else { 0.0 };
            let x = 15.0 + slot * k as f64 + (slot - bar_w) / 2.0;
            let center = x + bar_w / 2.0;
            let ratio = floor
                .filter(|f| *f > 0.0)
                .map(|f| format!(" ({:.2}x)", value / f))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                r##"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{}"/><text x="{center:.1}" y="{:.1}" text-anchor="middle">{value:.prec$}</text><text x="{center:.1}" y="{:.1}" text-anchor="middle">{name}</text><text x="{center:.1}" y="{:.1}" text-anchor="middle" fill="#555">{ratio}</text>"##,
                base - h,
                color(name),
                base - h - 4.0,
                base + 14.0,
                base + 28.0,
                prec = panel.decimals,
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}
