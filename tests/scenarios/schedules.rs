//! Cron triggers and scheduled runs fire on the engine's clock.

use std::time::Duration;

use hatchet_rs::{Context, RunOptions, TaskError, TriggeredBy, workflow};
use serde_json::{Value, json};

use crate::harness::{Harness, WAIT, within};

struct Hourly;

#[workflow(name = "hourly-report", on_crons = ["0 * * * *"], cron_input = serde_json::json!({"scope": "all"}))]
impl Hourly {
    #[task]
    async fn report(input: Value, ctx: Context) -> Result<Value, TaskError> {
        let by_cron = matches!(
            ctx.triggered_by(),
            TriggeredBy::Cron { expression, .. } if expression == "0 * * * *"
        );
        Ok(json!({"scope": input["scope"], "by_cron": by_cron}))
    }
}

#[tokio::test]
async fn cron_fires_at_each_matching_minute_of_the_engine_clock() {
    let Some(h) = Harness::with_manual_clock().await else {
        return;
    };
    let engine = h.local().expect("in-process");
    h.worker("cron-worker", |w| w.register::<Hourly>()).await;
    assert!(engine.runs().is_empty());

    // Move to the next full hour: exactly one run, with the cron input.
    let now = engine
        .clock()
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch");
    let to_next_hour = Duration::from_secs(3600 - now.as_secs() % 3600);
    engine.clock().advance(to_next_hour);
    let run = engine
        .wait_for("the cron run to finish", WAIT, |e| {
            e.runs().into_iter().find(|r| r.status.is_final())
        })
        .await
        .expect("cron fired");
    assert_eq!(run.origin, "cron");
    let output = run.tasks[0].output_json().expect("output");
    assert_eq!(output["scope"], "all");
    assert_eq!(output["by_cron"], true, "the task knows a cron started it");

    engine.clock().advance(Duration::from_secs(1800));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(engine.runs().len(), 1, "nothing fires between hours");
    engine.clock().advance(Duration::from_secs(1800));
    engine
        .wait_for("the second cron run", WAIT, |e| {
            (e.runs().len() == 2).then_some(())
        })
        .await
        .expect("second run");
}

#[tokio::test]
async fn scheduled_runs_start_at_their_time() {
    let Some(h) = Harness::with_manual_clock().await else {
        return;
    };
    let engine = h.local().expect("in-process");
    h.worker("cron-worker", |w| w.register::<Hourly>()).await;
    let at = engine.clock().now() + Duration::from_secs(600);
    let scheduled = within(h.client.runs().schedule(
        "hourly-report",
        &json!({"scope": "one"}),
        [at],
        RunOptions::new(),
    ))
    .await
    .expect("schedule");
    assert_eq!(scheduled.scheduled.len(), 1);
    engine.clock().advance(Duration::from_secs(599));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        engine.runs().iter().all(|r| r.origin != "schedule"),
        "not before its time"
    );
    engine.clock().advance(Duration::from_secs(1));
    let run = engine
        .wait_for("the scheduled run", WAIT, |e| {
            e.runs()
                .into_iter()
                .find(|r| r.origin == "schedule" && r.status.is_final())
        })
        .await
        .expect("scheduled run finished");
    assert_eq!(run.tasks[0].output_json().expect("output")["scope"], "one");
}
