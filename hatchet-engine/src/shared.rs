//! The state every service shares: one lock around the engine's data, the clock, the token
//! keys, and a change counter that wait helpers watch.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Injected: how many of the next `v1.AdminService/PutWorkflow` calls fail with INTERNAL.
    pub(crate) failing_registrations: AtomicU64,
    /// Injected: the next tick pass panics.
    pub(crate) panic_next_tick: std::sync::atomic::AtomicBool,
    /// When the engine started: its tenant's creation time.
    pub(crate) started_at: std::time::SystemTime,
    /// Requests and tick passes that panicked (each is logged; see [`Shared::with`]).
    pub(crate) panics: AtomicU64,
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
            panics: AtomicU64::new(0),
            failing_registrations: AtomicU64::new(0),
            panic_next_tick: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The state. Every change goes through [`Shared::with`], which catches a panic before
    /// the guard drops, so the lock is poisoned only if that net failed: then the panic was
    /// already counted and logged, and the engine carries on with the state as it is rather
    /// than refuse every later call.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            tracing::error!("the engine's state lock was poisoned by a panic; carrying on");
            self.state.clear_poison();
            poisoned.into_inner()
        })
    }

    /// Runs `f` on the state at the engine's current time, then wakes every waiter.
    ///
    /// A panic in `f` is a bug in the engine: it is logged and counted ([`Shared::panics`]),
    /// the lock is released unpoisoned, and the panic goes on to end the one request (or
    /// tick pass) that hit it while the engine keeps serving.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State, SystemTime) -> R) -> R {
        let now = self.clock.now();
        let result = {
            let mut state = self.lock();
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut state, now)))
        };
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        result.unwrap_or_else(|payload| self.failed(payload))
    }

    /// Reads the state without waking waiters; a panic is handled as in [`Shared::with`].
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let result = {
            let state = self.lock();
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&state)))
        };
        result.unwrap_or_else(|payload| self.failed(payload))
    }

    /// Counts and logs a panic caught under the lock, then lets it go on.
    fn failed(&self, payload: Box<dyn std::any::Any + Send>) -> ! {
        self.panics.fetch_add(1, Ordering::SeqCst);
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned());
        tracing::error!(panic = %message, "the engine panicked handling a request or a tick; the rest of the engine keeps running");
        std::panic::resume_unwind(payload)
    }

    /// Runs every time-based rule that came due. A pass that panics is logged and counted,
    /// and the next pass runs as usual: one bad task must not stop every timer.
    pub(crate) fn tick(&self) {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.with(|state, now| {
                if self.panic_next_tick.swap(false, Ordering::SeqCst) {
                    panic!("a tick pass failed (injected fault)");
                }
                state.tick(now);
            });
        }));
    }

    /// Moves a manual clock forward, credits connected workers with heartbeats (see
    /// [`TestClock`](super::TestClock)), and runs what came due.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let mut state = self.lock();
        if !self.clock.advance(by) {
            return false;
        }
        state.credit_heartbeats(by);
        let now = self.clock.now();
        let ticked = std::panic::catch_unwind(AssertUnwindSafe(|| state.tick(now)));
        drop(state);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        if let Err(payload) = ticked {
            // Logged and counted; the clock has moved and the engine goes on.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| self.failed(payload)));
        }
        true
    }

    /// Whether this `PutWorkflow` call is one of the injected failures.
    pub(crate) fn take_failed_registration(&self) -> bool {
        self.failing_registrations
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
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
