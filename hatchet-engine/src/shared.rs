//! The state every service shares: one lock around the engine's data, the clock, the token
//! keys, and a change counter that wait helpers watch.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::auth::Auth;
use super::clock::Clock;
use super::state::State;

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) clock: Clock,
    pub(crate) auth: RwLock<Auth>,
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) version: String,
    pub(crate) refuse_until: Mutex<Option<Instant>>,
    /// Injected: `PutLog` answers UNAVAILABLE until then.
    pub(crate) refuse_logs_until: Mutex<Option<Instant>>,
    /// Injected: the next `PutStreamEvent` calls (how many) are applied, then answered only
    /// after a delay.
    pub(crate) late_stream_answers: Mutex<(u32, Duration)>,
    /// When the engine started: its tenant's creation time.
    pub(crate) started_at: std::time::SystemTime,
}

impl Shared {
    pub(crate) fn new(state: State, clock: Clock, auth: Auth, version: String) -> Self {
        let started_at = clock.now();
        Self {
            state: Mutex::new(state),
            started_at,
            clock,
            auth: RwLock::new(auth),
            changed: watch::channel(0).0,
            version,
            refuse_until: Mutex::new(None),
            refuse_logs_until: Mutex::new(None),
            late_stream_answers: Mutex::new((0, Duration::ZERO)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state at the engine's current time, then wakes every waiter.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State, SystemTime) -> R) -> R {
        let now = self.clock.now();
        let result = {
            let mut state = self.lock();
            f(&mut state, now)
        };
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    /// Reads the state without waking waiters.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Runs every time-based rule that came due.
    pub(crate) fn tick(&self) {
        self.with(|state, now| state.tick(now));
    }

    /// Moves a manual clock forward, credits connected workers with heartbeats (see
    /// [`TestClock`](super::TestClock)), and runs what came due.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let mut state = self.lock();
        if !self.clock.advance(by) {
            return false;
        }
        state.credit_heartbeats(by);
        state.tick(self.clock.now());
        drop(state);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        true
    }

    pub(crate) fn refusing_logs(&self) -> bool {
        let until = self
            .refuse_logs_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|t| Instant::now() < t)
    }

    /// How long to hold back the answer to a `PutStreamEvent` call that was applied.
    pub(crate) fn late_stream_answer(&self) -> Option<Duration> {
        let mut late = self
            .late_stream_answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if late.0 == 0 {
            return None;
        }
        late.0 -= 1;
        Some(late.1)
    }

    pub(crate) fn refusing(&self) -> bool {
        let until = self
            .refuse_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|t| Instant::now() < t)
    }
}
