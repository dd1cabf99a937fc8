//! Paused workflows: their runs are created as usual and their tasks stay QUEUED, never
//! assigned, until the workflow is unpaused; a task waiting longer than the pause's queue TTL
//! (counted from its creation) is cancelled; cron ticks and scheduled runs follow the pause's
//! DROP / QUEUE behaviours.

use std::time::SystemTime;

use crate::model::{Pause, TaskStatus};
use crate::state::State;

/// The reason (and task event message) of a task cancelled by a paused workflow's TTL.
pub(crate) const PAUSE_TTL_EXPIRED: &str = "paused workflow queue item TTL expired.";

impl State {
    /// The pause of the workflow `task_id` belongs to, if that workflow is paused.
    pub(crate) fn pause_of_task(&self, task_id: &str) -> Option<&Pause> {
        let task = self.tasks.get(task_id)?;
        let run = self.runs.get(&task.run_id)?;
        self.workflows
            .get(&run.version.workflow_name)?
            .paused
            .as_ref()
    }

    /// The pause of the workflow named `name`, if it is paused.
    pub(crate) fn pause_of_workflow(&self, name: &str) -> Option<&Pause> {
        self.workflows.get(name)?.paused.as_ref()
    }

    /// Pauses (`Some`) or unpauses (`None`) the workflow with id `workflow_id`; `false` if
    /// there is none. Pausing arms the TTL of its waiting tasks; unpausing gives them a fresh
    /// scheduling timeout, fires its deferred scheduled runs and assigns what it can.
    pub(crate) fn set_paused(
        &mut self,
        workflow_id: &str,
        pause: Option<Pause>,
        now: SystemTime,
    ) -> bool {
        let Some(workflow) = self.workflows.values_mut().find(|w| w.id == workflow_id) else {
            return false;
        };
        let name = workflow.name.clone();
        workflow.paused = pause.clone();
        workflow.updated_at = Some(now);
        let waiting: Vec<String> = self
            .runs
            .values()
            .filter(|run| run.version.workflow_name == name)
            .flat_map(|run| run.tasks.iter())
            .filter(|id| {
                self.tasks
                    .get(*id)
                    .is_some_and(|t| t.status == TaskStatus::Queued)
            })
            .cloned()
            .collect();
        for id in waiting {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            match &pause {
                Some(pause) => {
                    let expires = task.created_at + pause.ttl;
                    self.arm(&id, expires);
                }
                None => {
                    // Requeued with a fresh scheduling timeout, as the engine does.
                    task.queued_at = Some(now);
                    let deadline = now + task.def.schedule_timeout;
                    self.arm(&id, deadline);
                }
            }
        }
        self.tick(now);
        true
    }

    /// Arms the TTL of a task queued while its workflow is paused.
    pub(crate) fn arm_pause_ttl(&mut self, task_id: &str) {
        let expires = self
            .pause_of_task(task_id)
            .zip(self.tasks.get(task_id))
            .map(|(pause, task)| task.created_at + pause.ttl);
        if let Some(at) = expires {
            self.arm(task_id, at);
        }
    }
}
