//! Scenario suite: each feature as a user meets it — define workflows, start a worker,
//! trigger runs, and assert what comes back. Runs against the in-process engine, or against a
//! real engine with `HATCHET_LIVE_TEST=1` (see README, "Live integration testing").

#![allow(clippy::unwrap_used)] // scenarios unwrap errors to inspect them

mod harness;

mod batches;
mod cancellation;
mod children;
mod conditions;
mod dag;
mod durable;
mod events;
mod otel;
mod rest;
mod retries;
mod schedules;
mod scheduling;
mod streaming;
mod worker_lifecycle;
