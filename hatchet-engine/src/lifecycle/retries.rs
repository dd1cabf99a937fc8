//! A failed attempt: another attempt after the engine's backoff while retries remain,
//! otherwise a failed task, cancelled descendants and the on-failure task.

use std::time::{Duration, SystemTime};

use hatchet_rs_proto as pb;

use crate::lifecycle::conditions::ParentEvent;
use crate::model::TaskStatus;
use crate::state::State;

/// The engine's backoff rule: `min(backoff_max_seconds (default 86400), factor^n)` seconds
/// after the n-th application retry; no factor means an immediate requeue.
pub(crate) fn backoff_delay(
    factor: Option<f64>,
    max_seconds: Option<i32>,
    retry: i32,
) -> Option<Duration> {
    let factor = factor?;
    let max = f64::from(max_seconds.unwrap_or(86_400).max(1));
    let delay = if factor > 1.0 && f64::from(retry) * factor.ln() >= max.ln() {
        max
    } else {
        factor.powi(retry).min(max)
    };
    Duration::try_from_secs_f64(delay).ok()
}

impl State {
    /// An attempt failed: retry (after backoff) while retries remain, else fail the task.
    pub(crate) fn fail(
        &mut self,
        task_id: &str,
        error: String,
        non_retryable: bool,
        now: SystemTime,
    ) {
        self.fail_attempt(task_id, error, non_retryable, true, now);
    }

    /// Like [`fail`](Self::fail); `announce` is false for execution timeouts, which the
    /// engine does not publish as STEP_RUN FAILED events.
    pub(crate) fn fail_attempt(
        &mut self,
        task_id: &str,
        error: String,
        non_retryable: bool,
        announce: bool,
        now: SystemTime,
    ) {
        self.release_slots(task_id);
        self.release_task_gates(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if let Some(attempt) = task.attempts.last_mut() {
            attempt.status = TaskStatus::Failed;
            attempt.finished_at = Some(now);
            attempt.error = Some(error.clone());
        }
        if announce {
            task.record(now, "FAILED", "").error = Some(error.clone());
        } else {
            task.record(now, "TIMED_OUT", error.clone());
        }
        task.timeout_at = None;
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        let is_on_failure = task.is_on_failure;
        let retry = !non_retryable && task.app_retry_count < task.def.retries;
        let delay = if retry {
            task.retry_count += 1;
            task.app_retry_count += 1;
            task.worker_id = None;
            backoff_delay(
                task.def.backoff_factor,
                task.def.backoff_max_seconds,
                task.app_retry_count,
            )
        } else {
            task.status = TaskStatus::Failed;
            task.error = Some(error.clone());
            None
        };
        // One FAILED event either way, carrying the failed attempt's retry count; it only
        // reads the run's metadata, so it goes out before the retry is queued.
        if announce {
            self.emit_task_event(
                &run_id,
                task_id,
                pb::ResourceEventType::Failed,
                error,
                Some(retry_count),
                now,
            );
        }
        if retry && let Some(task) = self.tasks.get_mut(task_id) {
            let mut message = format!("This is retry number {}.", task.app_retry_count);
            if let Some(delay) = delay {
                let at = chrono::DateTime::<chrono::Utc>::from(now + delay)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let text = crate::lifecycle::batches::go_duration(delay);
                message.push_str(&format!(" Retrying in {text} ({at})."));
            }
            task.record(now, "RETRYING", message);
        }
        if retry {
            match delay {
                Some(delay) => {
                    if let Some(task) = self.tasks.get_mut(task_id) {
                        task.status = TaskStatus::Backoff;
                        task.retry_after = Some(now + delay);
                    }
                    self.arm(task_id, now + delay);
                }
                None => self.enqueue(task_id, now),
            }
            self.dispatch(now);
            return;
        }
        self.upstream_ended(&run_id, task_id, ParentEvent::Failed, now);
        if !is_on_failure {
            self.start_on_failure(&run_id, now);
        }
        self.finish_if_done(&run_id, now);
        self.dispatch(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_engine_formula() {
        assert_eq!(backoff_delay(None, None, 1), None);
        assert_eq!(
            backoff_delay(Some(2.0), None, 1),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            backoff_delay(Some(2.0), None, 3),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            backoff_delay(Some(2.0), Some(5), 3),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            backoff_delay(Some(1000.0), None, 100),
            Some(Duration::from_secs(86_400))
        );
    }
}
