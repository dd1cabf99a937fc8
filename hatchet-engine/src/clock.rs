//! The engine's clock: real time by default, or a manual clock a test moves forward.
//!
//! Every engine rule that depends on time (execution and schedule timeouts, retry backoff,
//! scheduled runs, crons, worker liveness) reads this clock, so a test on a manual clock
//! makes them fire with [`TestClock::advance`] instead of sleeping.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::shared::Shared;

/// The source of "now" for one engine.
#[derive(Debug)]
pub(crate) enum Clock {
    /// The system clock.
    Real,
    /// A clock that only moves when a test advances it.
    Manual(Mutex<SystemTime>),
}

impl Clock {
    pub(crate) fn manual(start: SystemTime) -> Self {
        Self::Manual(Mutex::new(start))
    }

    pub(crate) fn now(&self) -> SystemTime {
        match self {
            Self::Real => SystemTime::now(),
            Self::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    pub(crate) fn is_manual(&self) -> bool {
        matches!(self, Self::Manual(_))
    }

    /// Moves a manual clock forward; a real clock cannot be moved.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        match self {
            Self::Real => false,
            Self::Manual(now) => {
                let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
                *now += by;
                true
            }
        }
    }
}

/// A handle on an engine's clock, from [`Engine::clock`](super::Engine::clock).
///
/// On a manual clock ([`EngineBuilder::manual_clock`](super::EngineBuilder::manual_clock))
/// [`advance`](Self::advance) moves time and immediately runs every rule that came due:
/// timeouts fail tasks, backoffs requeue them, scheduled runs and crons fire.
///
/// **Worker liveness on a manual clock.** The engine only hands work to a worker whose last
/// heartbeat is under 5 s old, and reassigns the tasks of a worker silent for 30 s. A test
/// that advances the clock by a minute would otherwise make every connected worker look dead,
/// although its heartbeat loop (running on real time) is perfectly healthy. The rule: when
/// the clock advances, every worker whose `ListenV2` stream is open is credited with the
/// heartbeats it would have sent, i.e. its last-heartbeat time moves forward by the same
/// amount. A worker without an open stream is not credited, so "the worker's stream is gone
/// and it stays silent" is expressed by closing the stream (or
/// [`Engine::drop_all_streams`](super::Engine::drop_all_streams)) and advancing.
/// [`Engine::silence_worker`](super::Engine::silence_worker) stops the credit for a
/// worker whose stream stays open (a hung worker).
#[derive(Debug, Clone)]
pub struct TestClock {
    pub(crate) shared: Arc<Shared>,
}

impl TestClock {
    /// The engine's current time.
    pub fn now(&self) -> SystemTime {
        self.shared.clock.now()
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.shared.clock.is_manual()
    }

    /// Moves a manual clock forward by `by` and runs every rule that came due.
    ///
    /// # Panics
    ///
    /// On a real clock, which cannot be moved: build the engine with
    /// [`EngineBuilder::manual_clock`](super::EngineBuilder::manual_clock).
    pub fn advance(&self, by: Duration) {
        assert!(
            self.shared.advance(by),
            "TestClock::advance needs a manual clock: build the engine with Engine::builder().manual_clock()"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        assert!(clock.advance(Duration::from_secs(5)));
        assert_eq!(clock.now(), start + Duration::from_secs(5));
        assert!(!Clock::Real.advance(Duration::from_secs(1)));
    }
}
