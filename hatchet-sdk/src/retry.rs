//! The one retry policy of the SDK's background loops: capped exponential delays with jitter,
//! and how long a loop keeps trying. Each loop names the policy it follows.

use std::time::Duration;

use rand::Rng as _;

/// How a background loop retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// The delay before the first retry (before jitter).
    first: Duration,
    /// The longest delay (before jitter).
    cap: Duration,
    /// How long the loop keeps trying after the first failure; `None`: until stopped.
    give_up_after: Option<Duration>,
}

impl RetryPolicy {
    /// The worker's connection: registration, the action stream. Never gives up on its own:
    /// the worker stops when told to, or on an error retrying cannot fix.
    pub(crate) const RECONNECT: Self = Self {
        first: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        give_up_after: None,
    };

    /// A task's STARTED / COMPLETED / FAILED event. By 5 minutes the engine has timed the
    /// attempt out and retried the task anyway (reference §5 step 5).
    pub(crate) const TASK_EVENT: Self = Self {
        first: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        give_up_after: Some(Duration::from_secs(300)),
    };

    /// The shared run-result stream: waiters get the error once the engine has been
    /// unreachable this long; a restart shorter than that is ridden out.
    pub(crate) const RUN_RESULTS: Self = Self {
        first: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        give_up_after: Some(Duration::from_secs(60)),
    };

    /// A task's log line: later lines wait behind it in the log queue.
    pub(crate) const LOG_LINE: Self = Self {
        first: Duration::from_millis(100),
        cap: Duration::from_secs(2),
        give_up_after: Some(Duration::from_secs(30)),
    };

    /// A stream chunk from a task: later chunks wait behind it, so it is not retried for long.
    pub(crate) const STREAM_CHUNK: Self = Self {
        first: Duration::from_millis(100),
        cap: Duration::from_secs(2),
        give_up_after: Some(Duration::from_secs(30)),
    };

    /// A worker starting while the engine is unreachable (compose or Kubernetes start-up
    /// order): keeps trying for 5 minutes before `start` fails.
    pub(crate) const STARTUP: Self = Self {
        first: Duration::from_millis(500),
        cap: Duration::from_secs(10),
        give_up_after: Some(Duration::from_secs(300)),
    };

    /// The delay before retry `attempt` (1-based): `first · 2^(attempt-1)`, capped, then a
    /// uniformly random point in its upper half, so workers that lost the same engine spread
    /// their returns over half the delay instead of arriving in lockstep.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        let half = base / 2;
        let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=spread))
    }

    /// Whether a loop failing for `failing_for` should stop.
    pub(crate) fn gives_up(&self, failing_for: Duration) -> bool {
        self.give_up_after.is_some_and(|limit| failing_for >= limit)
    }

    /// The same policy, giving up after `limit`.
    pub(crate) fn giving_up_after(self, limit: Duration) -> Self {
        Self {
            give_up_after: Some(limit),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_cap_and_spread_over_half_the_delay() {
        let policy = RetryPolicy::RECONNECT;
        for _ in 0..200 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            let third = policy.delay(3);
            assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
            for attempt in [6, 20, u32::MAX] {
                let d = policy.delay(attempt);
                assert!(
                    d >= Duration::from_millis(2500) && d <= Duration::from_secs(5),
                    "{attempt}: {d:?}"
                );
            }
        }
        // Capped delays are spread out: 200 draws never all land within 10% of each other.
        let draws: Vec<Duration> = (0..200).map(|_| policy.delay(10)).collect();
        let (min, max) = (draws.iter().min(), draws.iter().max());
        assert!(
            max.zip(min)
                .is_some_and(|(max, min)| *max - *min > Duration::from_millis(500))
        );
    }

    #[test]
    fn only_bounded_policies_give_up() {
        assert!(!RetryPolicy::RECONNECT.gives_up(Duration::from_secs(86_400)));
        assert!(RetryPolicy::TASK_EVENT.gives_up(Duration::from_secs(300)));
        assert!(!RetryPolicy::RUN_RESULTS.gives_up(Duration::from_secs(59)));
        assert!(RetryPolicy::RUN_RESULTS.gives_up(Duration::from_secs(60)));
    }
}
