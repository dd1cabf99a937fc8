//! Rate limits (engine-semantics §3): fixed-window buckets created by `PutRateLimit` or by
//! a dynamic limit, keys and units rendered by CEL when a task is created, units taken at
//! each assignment and never given back. A task whose units are not available stays
//! queued until the window refills or its schedule timeout ends it.

use std::time::{Duration, SystemTime};

use hatchet_rs_proto::v1;
use serde_json::{Map, Value};

use crate::expressions::{self, Vars};
use crate::state::State;

/// The engine refills a little early, so a window never waits on rounding.
const REFILL_SLACK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    limit: i64,
    window: Duration,
    value: i64,
    last_refill: SystemTime,
}

impl Bucket {
    /// Takes units at assignment; they are not given back when the task ends.
    pub(crate) fn take(&mut self, units: i64) {
        self.value = self.value.saturating_sub(units);
    }

    /// (limit, window, units left, last refill), for the REST listing.
    pub(crate) fn state(&self) -> (i64, Duration, i64, SystemTime) {
        (self.limit, self.window, self.value, self.last_refill)
    }

    pub(crate) fn refill(&mut self, now: SystemTime) {
        if now.duration_since(self.last_refill).unwrap_or_default() + REFILL_SLACK >= self.window {
            self.value = self.limit;
            self.last_refill = now;
        }
    }
}

/// The engine's windows (`1 SECOND` ... `1 YEAR`, as PostgreSQL intervals).
pub(crate) fn window(duration: i32) -> Duration {
    const DAY: u64 = 86_400;
    Duration::from_secs(match v1::RateLimitDuration::try_from(duration) {
        Ok(v1::RateLimitDuration::Second) | Err(_) => 1,
        Ok(v1::RateLimitDuration::Minute) => 60,
        Ok(v1::RateLimitDuration::Hour) => 3600,
        Ok(v1::RateLimitDuration::Day) => DAY,
        Ok(v1::RateLimitDuration::Week) => 7 * DAY,
        Ok(v1::RateLimitDuration::Month) => 30 * DAY,
        // PostgreSQL compares intervals with a month as 30 days and a year as 12 months:
        // `NOW() - last_refill >= '1 year'` holds after 360 days.
        Ok(v1::RateLimitDuration::Year) => 360 * DAY,
    })
}

/// One rendered rate limit of a task.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) key: String,
    pub(crate) units: i64,
    /// Set for dynamic limits: (limit, window) to upsert.
    pub(crate) upsert: Option<(i64, Duration)>,
}

/// Renders a task's rate limits as `insertTasks` does; an error is the task's failure text.
pub(crate) fn render(
    limits: &[v1::CreateTaskRateLimit],
    input: &Value,
    metadata: &Map<String, Value>,
    task_id: &str,
) -> Result<Vec<Rendered>, String> {
    let vars = Vars {
        input: Some(input),
        additional_metadata: Some(metadata),
        workflow_run_id: Some(task_id),
        output: None,
        ..Vars::default()
    };
    let eval = |expr: &str| {
        expressions::eval_step(expr, &vars)
            .map_err(|e| format!("failed to parse step expression ({expr}): {e}"))
    };
    let fail = |expr: &str, e: String| format!("failed to parse step expression ({expr}): {e}");
    limits
        .iter()
        .map(|limit| {
            let dynamic = limit.key_expr.is_some()
                || limit.units_expr.is_some()
                || limit.limit_values_expr.is_some();
            if !dynamic {
                return Ok(Rendered {
                    key: limit.key.clone(),
                    units: i64::from(limit.units.unwrap_or(1)),
                    upsert: None,
                });
            }
            let key = match &limit.key_expr {
                Some(expr) => eval(expr)?
                    .expect_str("dynamic rate limit key")
                    .map_err(|e| fail(expr, e))?,
                None => limit.key.clone(),
            };
            let units = match &limit.units_expr {
                Some(expr) => eval(expr)?
                    .expect_int("dynamic rate limit units")
                    .map_err(|e| fail(expr, e))?,
                None => i64::from(limit.units.unwrap_or(1)),
            };
            // No limit expression renders as limit 0, which blocks the key (§3).
            let value = match &limit.limit_values_expr {
                Some(expr) => eval(expr)?
                    .expect_int("dynamic rate limit value")
                    .map_err(|e| fail(expr, e))?,
                None => 0,
            };
            let window = window(
                limit
                    .duration
                    .unwrap_or(v1::RateLimitDuration::Minute as i32),
            );
            Ok(Rendered {
                key,
                units,
                // The `-1` sentinel: the key must already exist.
                upsert: (value >= 0).then_some((value, window)),
            })
        })
        .collect()
}

impl State {
    /// `PutRateLimit`: a new key starts full; an existing one keeps what is left unless the
    /// new limit is lower.
    pub(crate) fn put_rate_limit(
        &mut self,
        key: String,
        limit: i64,
        window: Duration,
        now: SystemTime,
    ) {
        match self.buckets.get_mut(&key) {
            Some(bucket) => {
                bucket.limit = limit;
                bucket.window = window;
                bucket.value = bucket.value.min(limit);
            }
            None => {
                self.buckets.insert(
                    key,
                    Bucket {
                        limit,
                        window,
                        value: limit,
                        last_refill: now,
                    },
                );
            }
        }
    }

    /// Upserts the dynamic limits of a new task.
    pub(crate) fn upsert_dynamic_limits(&mut self, rendered: &[Rendered], now: SystemTime) {
        for r in rendered {
            if let Some((limit, window)) = r.upsert {
                self.put_rate_limit(r.key.clone(), limit, window, now);
            }
        }
    }

    /// Whether every bucket the task uses has its units now (refilling due windows).
    pub(crate) fn rate_limits_allow(&mut self, task_id: &str, now: SystemTime) -> bool {
        let Some(task) = self.tasks.get(task_id) else {
            return false;
        };
        let uses = &task.rate_uses;
        uses.iter()
            .all(|(key, units)| match self.buckets.get_mut(key) {
                Some(bucket) => {
                    bucket.refill(now);
                    bucket.value >= *units
                }
                // An unknown static key never fits (the engine logs it and waits).
                None => false,
            })
    }

    /// The units left on `key`, for inspection.
    pub(crate) fn rate_limit_left(&mut self, key: &str, now: SystemTime) -> Option<i64> {
        let bucket = self.buckets.get_mut(key)?;
        bucket.refill(now);
        Some(bucket.value)
    }
}
