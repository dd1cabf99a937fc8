//! The Go peer's worker: `go-worker/` (its `main.go`, `go.mod` and `go.sum`) is compiled
//! into this binary as text, written under `--out/go/src/` and built there with `go build`
//! when the peer runs. Never at `cargo build` or `cargo test` time: without Go, or when the
//! module cannot be built, the peer is skipped with a note.
//!
//! The build is cached twice: `go build` relinks nothing when its inputs are unchanged, and
//! its packages come from Go's build cache. `GOMODCACHE` and `GOCACHE` are Go's own (the
//! environment, then `go env`) unless neither is set in the environment and
//! `scripts/live-engine`'s cache (`$HATCHET_LIVE_CACHE`, else `~/.cache/hatchet-rs/live`)
//! holds a module cache: then the benchmark shares that one, which already has the Hatchet
//! module the engine was built from.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cli::Options;

const MAIN_GO: &str = include_str!("../../go-worker/main.go");
const GO_MOD: &str = include_str!("../../go-worker/go.mod");
const GO_SUM: &str = include_str!("../../go-worker/go.sum");
/// The module `go.mod` requires; the official Go SDK is its `sdks/go` package.
const MODULE: &str = "github.com/hatchet-dev/hatchet";

/// A built worker binary.
#[derive(Debug)]
pub(super) struct Built {
    pub(super) binary: PathBuf,
    /// What the notes say about the build: toolchain, time, log.
    pub(super) summary: String,
}

/// Builds the Go worker under `out/go/`; `Err` is the note that says why the peer is
/// skipped.
pub(super) fn build(options: &Options, out: &Path) -> Result<Built, String> {
    let (go, from) = match (&options.go, std::env::var_os("HATCHET_GO")) {
        (Some(path), _) => (path.clone(), "--go"),
        (None, Some(path)) => (PathBuf::from(path), "HATCHET_GO"),
        (None, None) => (PathBuf::from("go"), "PATH"),
    };
    let dir = out.join("go");
    let src = dir.join("src");
    let binary = dir.join("bench-go-worker");
    let log = out.join("logs").join("go-build.log");
    write_sources(&src).map_err(|e| {
        format!(
            "SKIPPED: cannot write the Go worker's sources to {}: {e}",
            src.display()
        )
    })?;

    let mut command = Command::new(&go);
    command
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&src)
        // go.sum is committed: never rewrite it; the sources sit in no repository of their own.
        .env("GOFLAGS", "-mod=readonly -buildvcs=false")
        .env("GOWORK", "off");
    if let Some((modcache, buildcache)) = live_engine_cache() {
        command
            .env("GOMODCACHE", modcache)
            .env("GOCACHE", buildcache);
    }
    let version = go_version(&go);
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => format!(
                "SKIPPED: no Go toolchain at `{}` ({from}); install Go 1.26+ or pass --go",
                go.display()
            ),
            _ => format!("SKIPPED: cannot run `{}` ({from}): {e}", go.display()),
        })?;
    let elapsed = started.elapsed();
    let _ = std::fs::create_dir_all(out.join("logs"));
    let _ = std::fs::write(
        &log,
        [output.stdout.as_slice(), output.stderr.as_slice()].concat(),
    );
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "SKIPPED: `go build` of the Go SDK worker failed ({}, {}): {}; see {}",
            output.status,
            version,
            last.unwrap_or("no output"),
            log.display()
        ));
    }
    Ok(Built {
        binary,
        summary: format!(
            "official Go SDK {}, worker built with {version} in {:.1} s",
            sdk_version(),
            elapsed.as_secs_f64()
        ),
    })
}

/// The Hatchet module version `go.mod` pins.
fn sdk_version() -> &'static str {
    GO_MOD
        .lines()
        .find_map(|line| line.trim().strip_prefix(MODULE)?.split_whitespace().next())
        .unwrap_or("(version unknown)")
}

/// Writes `main.go`, `go.mod` and `go.sum` into `src`, leaving identical files alone.
fn write_sources(src: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(src)?;
    for (name, text) in [("main.go", MAIN_GO), ("go.mod", GO_MOD), ("go.sum", GO_SUM)] {
        let path = src.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(path, text)?;
        }
    }
    Ok(())
}

/// `scripts/live-engine`'s Go module and build caches, if the environment names neither
/// cache and that module cache exists.
fn live_engine_cache() -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("GOMODCACHE").is_some() || std::env::var_os("GOCACHE").is_some() {
        return None;
    }
    let cache = match std::env::var_os("HATCHET_LIVE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/hatchet-rs/live"),
    };
    let modcache = cache.join("gomod");
    modcache.is_dir().then(|| (modcache, cache.join("gocache")))
}

/// `go1.26.8`, or `go (version unknown)`.
fn go_version(go: &Path) -> String {
    Command::new(go)
        .args(["env", "GOVERSION"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "go (version unknown)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_version_is_read_from_go_mod() {
        let version = sdk_version();
        assert!(version.starts_with("v0."), "{version}");
        assert!(GO_SUM.contains(&format!("{MODULE} {version} ")));
    }
}
