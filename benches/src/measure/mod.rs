//! The benchmark run: the engine, each peer in turn, the shared event figure, the report.

mod events;
mod go_worker;
mod launch;
mod phases;

use std::path::PathBuf;
use std::time::Duration;

use crate::BoxError;
use crate::cli::{Options, Peer};
use crate::report::{self, PeerResult, Results};
use crate::target::Target;

/// A peer's whole measurement (startup included) must end within this.
const PEER_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a worker gets to exit on SIGTERM before its process group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs every requested peer against one engine and writes the report.
pub(crate) async fn run(options: &Options) -> Result<(), BoxError> {
    let out = out_dir(options);
    let target = Target::connect(options.live).await?;
    eprintln!(
        "hatchet-bench: engine {}; output in {}",
        target.label,
        out.display()
    );

    let mut peers = Vec::new();
    for &peer in &options.peers {
        eprintln!("hatchet-bench: measuring the {} worker", peer.name());
        let result = measure_peer(&target, options, peer, &out).await;
        if let Some(note) = &result.note {
            eprintln!("hatchet-bench: {}: {note}", peer.name());
        }
        peers.push(result);
    }
    eprintln!("hatchet-bench: measuring event push throughput");
    let events = events::measure(&target.client, options.events).await?;

    let results = Results::new(&target.label, options, peers, events);
    print!("{}", report::table(&results));
    let json = out.join("results.json");
    let chart = out.join("chart.svg");
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)?;
    std::fs::write(&chart, report::svg(&results))?;
    println!("\nJSON: {}\nchart: {}", json.display(), chart.display());
    Ok(())
}

async fn measure_peer(
    target: &Target,
    options: &Options,
    peer: Peer,
    out: &std::path::Path,
) -> PeerResult {
    let (mut process, note) = match launch::start(target, options, peer, out) {
        Ok(launch::Started::Running(process, note)) => (process, note),
        Ok(launch::Started::Skipped(why)) => return PeerResult::skipped(peer, why),
        Err(e) => return PeerResult::failed(peer, e.to_string()),
    };
    let measured = tokio::time::timeout(
        PEER_TIMEOUT,
        phases::measure(&target.client, options, peer, &mut process),
    )
    .await;
    process.stop(STOP_GRACE).await;
    let result = match measured {
        Ok(Ok(figures)) => PeerResult::measured(peer, figures),
        Ok(Err(e)) => PeerResult::failed(peer, e.to_string()),
        Err(_) => PeerResult::failed(peer, format!("did not finish within {PEER_TIMEOUT:?}")),
    };
    result.with_note(note)
}

/// `--out`, else `$CARGO_TARGET_DIR/bench`, else the workspace's `target/bench`.
fn out_dir(options: &Options) -> PathBuf {
    if let Some(dir) = &options.out {
        return dir.clone();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("bench"),
        None => crate::manifest_dir().join("../target/bench"),
    }
}
