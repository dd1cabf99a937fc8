//! Option types of workflows and tasks: concurrency, rate limits, backoff, conditions,
//! stickiness, idempotency and event filters.

use std::time::Duration;

use crate::rate_limits::RateLimitDuration;
use crate::workflow::duration::EngineDuration;

/// What happens to runs over a concurrency limit (reference §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ConcurrencyStrategy {
    /// Cancel the running ones to make room for the newest (engine default).
    #[default]
    CancelInProgress,
    /// Cancel the newest run instead of queueing it.
    CancelNewest,
    /// Queue runs and take turns between groups (fair scheduling).
    GroupRoundRobin,
    /// Cancel queued runs except the newest.
    CancelQueuedExceptNewest,
    /// Cancel queued runs except the oldest.
    CancelQueuedExceptOldest,
}

impl ConcurrencyStrategy {
    /// The strategy's name as written in attributes and by the engine.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyStrategy::CancelInProgress => "CANCEL_IN_PROGRESS",
            ConcurrencyStrategy::CancelNewest => "CANCEL_NEWEST",
            ConcurrencyStrategy::GroupRoundRobin => "GROUP_ROUND_ROBIN",
            ConcurrencyStrategy::CancelQueuedExceptNewest => "CANCEL_QUEUED_EXCEPT_NEWEST",
            ConcurrencyStrategy::CancelQueuedExceptOldest => "CANCEL_QUEUED_EXCEPT_OLDEST",
        }
    }
}

/// A concurrency limit: at most `max_runs` runs (or tasks) per value of a CEL expression.
///
/// ```
/// use hatchet_rs::{Concurrency, ConcurrencyStrategy};
/// let per_user = Concurrency::new("input.user_id").max_runs(2).strategy(ConcurrencyStrategy::GroupRoundRobin);
/// # let _ = per_user;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    pub(crate) expression: String,
    pub(crate) max_runs: Option<i32>,
    pub(crate) strategy: Option<ConcurrencyStrategy>,
}

impl Concurrency {
    /// Groups runs by the value of the CEL `expression` (over `input` and
    /// `additional_metadata`); at most one run per group unless [`Concurrency::max_runs`].
    pub fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            max_runs: None,
            strategy: None,
        }
    }

    /// One group for everything: at most `max_runs` at once, taking turns fairly
    /// (the official SDKs' `concurrency = N`).
    pub fn limit(max_runs: i32) -> Self {
        Self::new("'constant'")
            .max_runs(max_runs)
            .strategy(ConcurrencyStrategy::GroupRoundRobin)
    }

    /// How many runs of one group may run at once (engine default 1).
    pub fn max_runs(mut self, max_runs: i32) -> Self {
        self.max_runs = Some(max_runs);
        self
    }

    /// What happens to runs over the limit.
    pub fn strategy(mut self, strategy: ConcurrencyStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }
}

/// Units of a rate limit a task consumes each time it runs.
///
/// ```
/// use hatchet_rs::{RateLimit, RateLimitDuration};
/// let global = RateLimit::fixed("openai", 1);
/// let per_user = RateLimit::dynamic("input.user_id", "10", RateLimitDuration::Minute).units_expr("input.cost");
/// # let _ = (global, per_user);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub(crate) key: String,
    pub(crate) units: Option<i32>,
    pub(crate) key_expr: Option<String>,
    pub(crate) units_expr: Option<String>,
    pub(crate) limit_expr: Option<String>,
    pub(crate) duration: Option<RateLimitDuration>,
}

impl RateLimit {
    /// Consumes `units` of the rate limit `key`, whose budget is set with
    /// [`RateLimits::put`](crate::RateLimits::put).
    pub fn fixed(key: impl Into<String>, units: i32) -> Self {
        Self {
            key: key.into(),
            units: Some(units),
            key_expr: None,
            units_expr: None,
            limit_expr: None,
            duration: None,
        }
    }

    /// A rate limit per value of the CEL `key_expr`, allowing `limit_expr` units per
    /// `duration`; one unit per run unless [`RateLimit::units`] or [`RateLimit::units_expr`].
    pub fn dynamic(
        key_expr: impl Into<String>,
        limit_expr: impl Into<String>,
        duration: RateLimitDuration,
    ) -> Self {
        let key_expr = key_expr.into();
        Self {
            key: key_expr.clone(),
            units: None,
            key_expr: Some(key_expr),
            units_expr: None,
            limit_expr: Some(limit_expr.into()),
            duration: Some(duration),
        }
    }

    /// A dynamic limit whose window is given as a [`Duration`]. The engine only has
    /// windows of one second, minute, hour, day, week, month (30 days) or year (365 days);
    /// any other length is rejected rather than rounded.
    pub fn dynamic_window(
        key_expr: impl Into<String>,
        limit_expr: impl Into<String>,
        window: Duration,
    ) -> Result<Self, crate::workflow::DefinitionError> {
        let duration = window_to_rate_limit_duration(window).ok_or_else(|| {
            crate::workflow::DefinitionError::new(format!(
                "a rate-limit window of {} cannot be expressed: the engine counts per second, minute, hour, day, week, month or year",
                EngineDuration::new(window)
            ))
        })?;
        Ok(Self::dynamic(key_expr, limit_expr, duration))
    }

    /// Consumes `units` per run.
    pub fn units(mut self, units: i32) -> Self {
        self.units = Some(units);
        self
    }

    /// Consumes the value of the CEL `expr` per run.
    pub fn units_expr(mut self, expr: impl Into<String>) -> Self {
        self.units_expr = Some(expr.into());
        self
    }
}

/// The engine's rate-limit window for `window`, if it is one of the windows it has.
pub(crate) fn window_to_rate_limit_duration(window: Duration) -> Option<RateLimitDuration> {
    const DAY: u64 = 86_400;
    if window.subsec_nanos() != 0 {
        return None;
    }
    Some(match window.as_secs() {
        1 => RateLimitDuration::Second,
        60 => RateLimitDuration::Minute,
        3600 => RateLimitDuration::Hour,
        DAY => RateLimitDuration::Day,
        s if s == 7 * DAY => RateLimitDuration::Week,
        s if s == 30 * DAY => RateLimitDuration::Month,
        s if s == 365 * DAY => RateLimitDuration::Year,
        _ => return None,
    })
}

/// Whether a workflow's runs prefer (soft) or require (hard) to stay on one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StickyStrategy {
    /// Prefer the worker that ran the first task.
    Soft,
    /// Require it.
    Hard,
}

/// How idempotency keys expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdempotencyMethod {
    /// A key blocks duplicates for a fixed time.
    Ttl,
    /// A key blocks duplicates while its run is not finished.
    Status,
}

/// Rejects a trigger whose CEL `expression` value matches a recent run's
/// (`ALREADY_EXISTS "idempotency key collision"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub(crate) expression: String,
    pub(crate) ttl: Duration,
    pub(crate) method: Option<IdempotencyMethod>,
}

impl Idempotency {
    /// Duplicates of the key computed by `expression` are rejected for `ttl`.
    pub fn new(expression: impl Into<String>, ttl: Duration) -> Self {
        Self {
            expression: expression.into(),
            ttl,
            method: None,
        }
    }
    /// How keys expire.
    pub fn method(mut self, method: IdempotencyMethod) -> Self {
        self.method = Some(method);
        self
    }
}

/// An event filter created with the workflow: events with `scope` trigger it only if the CEL
/// `expression` holds; `payload` is handed to the run as the filter payload.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultFilter {
    pub(crate) expression: String,
    pub(crate) scope: String,
    pub(crate) payload: Option<serde_json::Value>,
}

impl DefaultFilter {
    /// A filter for `scope`.
    pub fn new(expression: impl Into<String>, scope: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            scope: scope.into(),
            payload: None,
        }
    }
    /// The JSON object handed to triggered runs.
    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = Some(payload);
        self
    }
}
