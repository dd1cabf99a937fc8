//! `v1.AdminService/ReplayTasks`: finished tasks and everything downstream run again.

use std::collections::HashSet;
use std::time::SystemTime;

use hatchet_rs_proto::v1;
use tonic::Status;

use crate::model::TaskStatus;
use crate::state::State;

/// How many runs a replay by filter selects at most, as in the engine.
const REPLAY_LIMIT: usize = 1_000;

impl State {
    /// `v1.AdminService/ReplayTasks`: finished tasks (and everything downstream) run again.
    pub(crate) fn replay_tasks(
        &mut self,
        req: v1::ReplayTasksRequest,
        now: SystemTime,
    ) -> Result<v1::ReplayTasksResponse, Status> {
        let selected = self.select_tasks(&req.external_ids, req.filter.as_ref(), REPLAY_LIMIT)?;
        let mut replayed = Vec::new();
        for id in selected {
            let Some(task) = self.tasks.get(&id) else {
                continue;
            };
            if !task.status.is_final() || task.is_on_failure {
                continue;
            }
            let run_id = task.run_id.clone();
            let name = task.def.readable_id.clone();
            replayed.push(id.clone());
            self.reset_from(&run_id, &name, now);
        }
        self.dispatch(now);
        Ok(v1::ReplayTasksResponse {
            replayed_tasks: replayed,
        })
    }

    /// Resets the named task and its descendants and reopens the run.
    fn reset_from(&mut self, run_id: &str, name: &str, now: SystemTime) {
        let Some(run) = self.runs.get_mut(run_id) else {
            return;
        };
        run.status = TaskStatus::Running;
        run.finished_at = None;
        let ids = run.tasks.clone();
        if let Some(task) = run
            .on_failure_task
            .as_ref()
            .and_then(|id| self.tasks.get_mut(id))
        {
            task.status = TaskStatus::Pending;
            task.output = None;
            task.error = None;
            task.step_run_errors.clear();
        }
        let mut reset: HashSet<String> = HashSet::from([name.to_owned()]);
        let mut changed = true;
        while changed {
            changed = false;
            for id in &ids {
                if let Some(t) = self.tasks.get(id)
                    && !reset.contains(&t.def.readable_id)
                    && t.def.parents.iter().any(|p| reset.contains(p))
                {
                    reset.insert(t.def.readable_id.clone());
                    changed = true;
                }
            }
        }
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        for id in &ids {
            let Some(task) = self.tasks.get_mut(id) else {
                continue;
            };
            if !reset.contains(&task.def.readable_id) {
                continue;
            }
            if task.status == TaskStatus::Running {
                continue;
            }
            task.retry_count += 1;
            task.app_retry_count = 0;
            task.internal_retry_count = 0;
            task.record(
                now,
                "RETRIED_BY_USER",
                "Task was replayed, resetting task result.",
            );
            task.output = None;
            task.error = None;
            task.cancel_reason = None;
            task.status = TaskStatus::Pending;
            task.waiting = None;
            task.trigger_data.clear();
            if task.def.readable_id == name {
                ready.push(id.clone());
            } else {
                waiting.push(id.clone());
            }
        }
        // Its descendants wait on their parents (and conditions) again.
        for id in waiting {
            self.open_match(&id, now);
        }
        for id in ready {
            self.enqueue(&id, now);
        }
    }
}
