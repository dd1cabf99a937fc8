//! CPU time and RSS of a process and all its descendants, from `/proc` (Linux only).
//!
//! The whole tree counts because the Python SDK runs its action listener in a child process;
//! a Rust worker is a single process and its tree is itself.

use std::collections::HashMap;
use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// A snapshot of a process tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TreeStats {
    /// User + system CPU time of the live processes of the tree.
    pub(crate) cpu: Duration,
    /// Sum of the processes' resident set sizes, in KiB.
    pub(crate) rss_kib: u64,
    /// How many processes the tree has.
    pub(crate) processes: usize,
}

/// Clock ticks per second of the `utime`/`stime` fields (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// `(ppid, utime + stime in ticks)` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `VmRSS` of `/proc/<pid>/status`, in KiB (0 for a zombie).
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `root` and every live descendant.
fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = stat(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut all = vec![root];
    let mut next = 0;
    while next < all.len() {
        all.extend(children.get(&all[next]).into_iter().flatten());
        next += 1;
    }
    all
}

/// CPU time and RSS of `root`'s process tree right now.
pub(crate) fn tree_stats(root: u32) -> TreeStats {
    let pids = tree(root);
    let ticks: u64 = pids.iter().filter_map(|&p| stat(p)).map(|(_, t)| t).sum();
    TreeStats {
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64),
        rss_kib: pids.iter().map(|&p| rss_kib(p)).sum(),
        processes: pids.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let stats = tree_stats(std::process::id());
        assert!(stats.rss_kib > 0);
        assert!(stats.processes >= 1);
    }
}
