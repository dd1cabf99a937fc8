//! The engine's scheduling rules, one module per family: concurrency strategies, rate
//! limits, worker affinity (labels and sticky) and trigger idempotency. The queue and the
//! clock-driven rules that use them are in [`scheduler`](crate::scheduler).

mod affinity;
mod concurrency;
mod idempotency;
mod rate_limits;

pub(crate) use affinity::Rank;
pub(crate) use concurrency::{Group, gates};
pub(crate) use idempotency::{Claim, bulk_collision, collision, collision_of, render_key};
pub(crate) use rate_limits::{Bucket, render as render_rate_limits, window as rate_limit_window};
