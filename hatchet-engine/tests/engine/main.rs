//! The in-process engine's rules, checked the way a client observes them: raw protocol
//! workers and the SDK client against [`hatchet_rs::testing::TestEngine`].

#![allow(clippy::unwrap_used)] // tests unwrap to inspect answers
#![allow(dead_code)] // helpers are shared by the area modules; not every module uses all

mod support;

mod auth;
mod batches;
mod cancel;
mod children;
mod conditions;
mod cron;
mod durable;
mod events;
mod faults;
mod options;
mod registration;
mod rest;
mod retries;
mod robustness;
mod rules;
mod runs;
mod streams;
mod timeouts;
mod workers;
