//! Capped, jittered exponential delays for reconnecting streams.

use std::time::Duration;

use rand::Rng as _;

/// Delay before reconnect attempt `attempt` (1-based): `min(100 ms · 2^attempt, cap)` plus up
/// to 100 ms of jitter, so many workers that lost the same engine do not return in lockstep.
pub(crate) fn reconnect_delay(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << attempt.min(16));
    let jitter = Duration::from_millis(rand::rng().random_range(0..=100));
    base.min(cap) + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let cap = Duration::from_secs(5);
        let first = reconnect_delay(1, cap);
        assert!(first >= Duration::from_millis(200) && first <= Duration::from_millis(300));
        let third = reconnect_delay(3, cap);
        assert!(third >= Duration::from_millis(800) && third <= Duration::from_millis(900));
        for attempt in [6, 20, u32::MAX] {
            let d = reconnect_delay(attempt, cap);
            assert!(
                d >= cap && d <= cap + Duration::from_millis(100),
                "{attempt}: {d:?}"
            );
        }
    }
}
