//! Retry backoff, as the engine can express it.
//!
//! The engine has one backoff rule: with a factor `f` and a cap `m` seconds, retry `n` (1 for
//! the first retry) waits `min(f^n, m)` seconds, without jitter; without a factor a failed
//! task is queued again at once. Two kinds of backoff map onto that rule exactly:
//!
//! - exponential, `f^n` capped at `m` ([`Backoff::exponential`]);
//! - constant, `c` whole seconds from 1 to 1000 ([`Backoff::constant`]): `f = m = c`, so retry
//!   `n` waits `min(c^n, c) = c`.
//!
//! Linear backoff, and an exponential curve that starts at one second (`1, 2, 4, ...`), are
//! not expressible by the engine (`f^1` is the first delay, and there is no additive term).
//! This module offers no constructor for them rather than approximate them behind the user's
//! back: use [`Backoff::exponential`] with the factor of the first delay you want, or
//! [`Backoff::constant`].

use std::time::Duration;

use crate::workflow::DefinitionError;

/// The largest cap the engine accepts: one day.
const MAX_CAP_SECONDS: u64 = 86_400;

/// How long the engine waits before retrying a failed task.
///
/// ```
/// use std::time::Duration;
/// use hatchet_rs::Backoff;
/// // 2 s, 4 s, 8 s, 16 s, ... capped at one minute.
/// let backoff = Backoff::exponential(2.0).max_delay(Duration::from_secs(60));
/// # let _ = backoff;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    factor: f32,
    max_delay: Option<Duration>,
    /// Set by [`Backoff::constant`], for its own error message.
    constant: Option<Duration>,
}

impl Backoff {
    /// Waits `factor^n` seconds before retry `n` (`n` counts from 1), capped at one day unless
    /// [`Backoff::max_delay`] says less. `factor` must be between 1 and 1000.
    pub fn exponential(factor: f32) -> Self {
        Self {
            factor,
            max_delay: None,
            constant: None,
        }
    }

    /// Waits `delay` before every retry: whole seconds from 1 s to 1000 s (as the engine's
    /// factor and cap, `min(c^n, c) = c`). Anything else is refused when the definition is
    /// built.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hatchet_rs::Backoff;
    /// let every_30s = Backoff::constant(Duration::from_secs(30));
    /// assert_eq!(every_30s.delay_before_retry(4), Duration::from_secs(30));
    /// ```
    pub fn constant(delay: Duration) -> Self {
        #[allow(clippy::cast_precision_loss)] // whole seconds up to 1000 are exact in f32
        let seconds = delay.as_secs() as f32;
        Self {
            factor: seconds,
            max_delay: Some(delay),
            constant: Some(delay),
        }
    }

    /// Waits one second before every retry.
    pub fn one_second() -> Self {
        Self::constant(Duration::from_secs(1))
    }

    /// Caps each delay; must be whole seconds between 1 s and one day.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// The delay the engine waits before retry `retry` (1 for the first retry).
    pub fn delay_before_retry(&self, retry: u32) -> Duration {
        let cap = self
            .max_delay
            .map_or(MAX_CAP_SECONDS as f64, |d| d.as_secs_f64());
        let secs = f64::from(self.factor).powi(i32::try_from(retry).unwrap_or(i32::MAX));
        Duration::from_secs_f64(secs.min(cap))
    }

    /// `(backoff_factor, backoff_max_seconds)` as sent to the engine, checked against its
    /// ranges.
    pub(crate) fn to_engine(self) -> Result<(f32, i32), DefinitionError> {
        if let Some(delay) = self.constant
            && (delay.subsec_nanos() != 0 || !(1..=1000).contains(&delay.as_secs()))
        {
            return Err(DefinitionError::new(format!(
                "a constant backoff of {delay:?} cannot be expressed: the engine waits min(factor^n, max) seconds, so a constant delay must be whole seconds from 1 s to 1000 s (its factor)"
            )));
        }
        if !(1.0..=1000.0).contains(&self.factor) || self.factor.is_nan() {
            return Err(DefinitionError::new(format!(
                "backoff factor {} is out of range: the engine accepts 1 to 1000",
                self.factor
            )));
        }
        let cap = match self.max_delay {
            None => MAX_CAP_SECONDS,
            Some(cap) => {
                if cap.subsec_nanos() != 0 || cap.as_secs() == 0 || cap.as_secs() > MAX_CAP_SECONDS
                {
                    return Err(DefinitionError::new(format!(
                        "backoff max delay {cap:?} cannot be expressed: the engine takes whole seconds from 1 s to 1 day"
                    )));
                }
                cap.as_secs()
            }
        };
        Ok((self.factor, cap as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delays_follow_the_engine_rule() {
        let b = Backoff::exponential(2.0).max_delay(Duration::from_secs(10));
        let delays: Vec<u64> = (1..=5).map(|n| b.delay_before_retry(n).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        assert_eq!(
            Backoff::one_second().delay_before_retry(7),
            Duration::from_secs(1)
        );
        assert_eq!(b.to_engine().expect("valid"), (2.0, 10));
        assert_eq!(
            Backoff::exponential(3.0).to_engine().expect("valid"),
            (3.0, 86_400)
        );
    }

    #[test]
    fn constant_delays_are_factor_and_cap_of_the_same_seconds() {
        for secs in [1u64, 5, 30, 1000] {
            let b = Backoff::constant(Duration::from_secs(secs));
            #[allow(clippy::cast_precision_loss)]
            let factor = secs as f32;
            assert_eq!(b.to_engine().expect("valid"), (factor, secs as i32));
            for retry in 1..=6 {
                assert_eq!(b.delay_before_retry(retry), Duration::from_secs(secs));
            }
        }
        for delay in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(1001),
        ] {
            let err = Backoff::constant(delay).to_engine().unwrap_err();
            assert!(
                err.to_string().contains("whole seconds from 1 s to 1000 s"),
                "{err}"
            );
        }
    }

    #[test]
    fn values_the_engine_rejects_are_rejected_here() {
        for factor in [0.5, 1001.0, f32::NAN] {
            assert!(
                Backoff::exponential(factor).to_engine().is_err(),
                "{factor}"
            );
        }
        for cap in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(86_401),
        ] {
            let err = Backoff::exponential(2.0)
                .max_delay(cap)
                .to_engine()
                .unwrap_err();
            assert!(err.to_string().contains("whole seconds"), "{err}");
        }
    }
}
