//! Triggering, awaiting, inspecting, cancelling and replaying runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hatchet_rs::{
    DesiredLabel, Error, LabelComparator, Priority, RateLimitDuration, RunFilter, RunOptions,
    RunStatus, TriggerRequest,
};
use hatchet_rs_proto::v1 as pb;

use crate::recorder::{Recorded, TestServer, failure, output};
use crate::within;

#[tokio::test]
async fn trigger_sends_namespaced_name_input_and_options() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.namespace("prod"));
    let options = RunOptions::new()
        .metadata("customer", "acme")
        .priority(Priority::Low)
        .desired_worker("worker-7")
        .desired_label(DesiredLabel::new("gpu", "a100").required())
        .desired_label(
            DesiredLabel::new("memory_gb", 64)
                .comparator(LabelComparator::GreaterThan)
                .weight(10),
        );
    let run = within(client.runs().trigger(
        "ImportOrders",
        &serde_json::json!({"since": 1}),
        options,
    ))
    .await
    .expect("trigger");
    assert_eq!(run.id(), "run-1");

    let Recorded::Trigger(request) = &server.recorder.calls_to("TriggerWorkflow")[0].request else {
        panic!()
    };
    assert_eq!(request.name, "prod_ImportOrders");
    assert_eq!(request.input, r#"{"since":1}"#);
    assert_eq!(
        request.additional_metadata.as_deref(),
        Some(r#"{"customer":"acme"}"#)
    );
    assert_eq!(request.priority, Some(1));
    assert_eq!(request.desired_worker_id.as_deref(), Some("worker-7"));
    assert_eq!(request.parent_id, None);
    assert_eq!(request.child_index, None);
    let gpu = &request.desired_worker_labels["gpu"];
    assert_eq!(gpu.str_value.as_deref(), Some("a100"));
    assert_eq!(gpu.required, Some(true));
    assert_eq!(
        gpu.comparator,
        Some(pb::WorkerLabelComparator::Equal as i32)
    );
    let memory = &request.desired_worker_labels["memory_gb"];
    assert_eq!(memory.int_value, Some(64));
    assert_eq!(
        memory.comparator,
        Some(pb::WorkerLabelComparator::GreaterThan as i32)
    );
    assert_eq!(memory.weight, Some(10));
}

#[tokio::test]
async fn result_returns_every_task_output() {
    let server = TestServer::start().await;
    let client = server.client();
    let run = within(
        client
            .runs()
            .trigger("wf", &serde_json::json!({}), RunOptions::new()),
    )
    .await
    .expect("trigger");
    let waiter = tokio::spawn({
        let run = run.clone();
        async move { run.result().await }
    });
    within(async {
        while server.recorder.watched_run_ids() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.recorder.finish_run(
        run.id(),
        vec![
            output("fetch", r#"{"rows":3}"#),
            output("load", r#"{"ok":true}"#),
        ],
    );
    let result = within(waiter).await.expect("join").expect("result");
    assert_eq!(result.run_id(), "run-1");
    assert_eq!(result.get("fetch"), Some(&serde_json::json!({"rows": 3})));

    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Load {
        ok: bool,
    }
    assert_eq!(
        result.task::<Load>("load").expect("typed"),
        Load { ok: true }
    );
    let err = result.task::<Load>("missing").unwrap_err();
    assert!(
        err.to_string().contains("no output for task `missing`"),
        "{err}"
    );
}

#[tokio::test]
async fn failed_run_reports_each_failed_task() {
    let server = TestServer::start().await;
    server
        .recorder
        .finish_run("run-x", vec![output("a", "{}"), failure("b", "boom")]);
    let err = within(server.client().runs().result("run-x"))
        .await
        .unwrap_err();
    let Error::RunFailed(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.run_id, "run-x");
    assert_eq!(failure.errors, vec![("b".to_owned(), "boom".to_owned())]);
    assert_eq!(err.to_string(), "workflow run run-x failed; task b: boom");
}

#[tokio::test]
async fn all_waiters_share_one_stream_and_each_run_is_subscribed_once() {
    let server = TestServer::start().await;
    let client = server.client();
    let mut waiters = Vec::new();
    for run_id in ["r1", "r2", "r2", "r3"] {
        let client = client.clone();
        waiters.push(tokio::spawn(
            async move { client.runs().result(run_id).await },
        ));
    }
    within(async {
        while server.recorder.watched_run_ids() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    for run_id in ["r1", "r2", "r3"] {
        server.recorder.finish_run(
            run_id,
            vec![output("t", &format!(r#"{{"run":"{run_id}"}}"#))],
        );
    }
    for (waiter, run_id) in waiters.into_iter().zip(["r1", "r2", "r2", "r3"]) {
        let result = within(waiter).await.expect("join").expect("result");
        assert_eq!(result.get("t"), Some(&serde_json::json!({"run": run_id})));
    }
    assert_eq!(server.recorder.run_streams_opened(), 1);
    assert_eq!(
        server.recorder.calls_to("SubscribeToWorkflowRuns").len(),
        3,
        "r2 is sent once"
    );
}

#[tokio::test]
async fn lost_stream_is_reopened_and_pending_runs_resubscribed() {
    let server = TestServer::start().await;
    let client = server.client();
    let waiter = tokio::spawn({
        let client = client.clone();
        async move { client.runs().result("slow-run").await }
    });
    within(async {
        while server.recorder.watched_run_ids() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.recorder.drop_run_streams();
    within(async {
        while server.recorder.watched_run_ids() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(server.recorder.run_streams_opened(), 2);
    server
        .recorder
        .finish_run("slow-run", vec![output("t", r#"{"done":true}"#)]);
    let result = within(waiter)
        .await
        .expect("join")
        .expect("result after reconnect");
    assert_eq!(result.get("t"), Some(&serde_json::json!({"done": true})));
}

#[tokio::test]
async fn result_without_results_reads_run_details() {
    let server = TestServer::start().await;
    server.recorder.finish_run("big-run", Vec::new());
    server.recorder.set_details(
        "big-run",
        pb::GetRunDetailsResponse {
            status: pb::RunStatus::Completed as i32,
            done: true,
            task_runs: [(
                "t".to_owned(),
                pb::TaskRunDetail {
                    external_id: "t-id".into(),
                    status: pb::RunStatus::Completed as i32,
                    output: Some(br#"{"large":true}"#.to_vec()),
                    readable_id: "t".into(),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        },
    );
    let result = within(server.client().runs().result("big-run"))
        .await
        .expect("result");
    assert_eq!(result.get("t"), Some(&serde_json::json!({"large": true})));
}

#[tokio::test]
async fn a_cancelled_run_is_its_own_outcome_and_the_large_result_fallback_reads_the_status() {
    let server = TestServer::start().await;
    // A cancellation's result carries an empty error (reference: engine-semantics §2).
    server
        .recorder
        .finish_run("cancelled-run", vec![failure("t", "")]);
    server.recorder.set_details(
        "cancelled-run",
        pb::GetRunDetailsResponse {
            status: pb::RunStatus::Cancelled as i32,
            done: true,
            ..Default::default()
        },
    );
    let err = within(server.client().runs().result("cancelled-run"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RunCancelled { run_id } if run_id == "cancelled-run"),
        "{err:?}"
    );
    // No results (too large to send) and a failed run with no task error: still a failure.
    server.recorder.finish_run("failed-run", Vec::new());
    server.recorder.set_details(
        "failed-run",
        pb::GetRunDetailsResponse {
            status: pb::RunStatus::Failed as i32,
            done: true,
            ..Default::default()
        },
    );
    let err = within(server.client().runs().result("failed-run"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RunFailed(_)), "{err:?}");
}

#[tokio::test]
async fn a_status_from_a_newer_engine_is_kept_not_refused() {
    let server = TestServer::start().await;
    server.recorder.set_details(
        "run-new",
        pb::GetRunDetailsResponse {
            status: 42,
            done: false,
            ..Default::default()
        },
    );
    let details = within(server.client().runs().details("run-new"))
        .await
        .expect("details of a run in a status this SDK does not know");
    assert_eq!(details.status, hatchet_rs::RunStatus::Unknown(42));
}

#[tokio::test]
async fn details_decode_status_input_metadata_and_tasks() {
    let server = TestServer::start().await;
    server.recorder.set_details(
        "run-d",
        pb::GetRunDetailsResponse {
            input: br#"{"n":1}"#.to_vec(),
            status: pb::RunStatus::Failed as i32,
            done: true,
            additional_metadata: br#"{"k":"v"}"#.to_vec(),
            task_runs: [(
                "step".to_owned(),
                pb::TaskRunDetail {
                    external_id: "step-id".into(),
                    status: pb::RunStatus::Failed as i32,
                    error: Some("boom".into()),
                    readable_id: "step".into(),
                    ..Default::default()
                },
            )]
            .into(),
            is_evicted: false,
        },
    );
    let details = within(server.client().runs().details("run-d"))
        .await
        .expect("details");
    assert_eq!(details.status, RunStatus::Failed);
    assert!(details.done);
    assert_eq!(details.input, serde_json::json!({"n": 1}));
    assert_eq!(details.metadata.get("k"), Some(&serde_json::json!("v")));
    let step = &details.tasks["step"];
    assert_eq!(
        (step.id.as_str(), step.status, step.error.as_deref()),
        ("step-id", RunStatus::Failed, Some("boom"))
    );

    let err = within(server.client().runs().details("unknown"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn bulk_trigger_keeps_order_and_chunks() {
    let server = TestServer::start().await;
    let requests = (0..1500).map(|i| {
        TriggerRequest::new("wf", &serde_json::json!({"i": i}))
            .expect("request")
            .options(RunOptions::new().metadata("i", i))
    });
    let runs = within(server.client().runs().bulk_trigger(requests))
        .await
        .expect("bulk");
    assert_eq!(runs.len(), 1500);
    assert_eq!(runs[0].id(), "run-1");
    assert_eq!(runs[1499].id(), "run-1500");
    let calls = server.recorder.calls_to("BulkTriggerWorkflow");
    let Recorded::BulkTrigger(first) = &calls[0].request else {
        panic!()
    };
    assert_eq!(first.workflows.len(), 1000);
    assert_eq!(first.workflows[5].input, r#"{"i":5}"#);
    assert_eq!(
        first.workflows[5].additional_metadata.as_deref(),
        Some(r#"{"i":5}"#)
    );
    assert_eq!(calls.len(), 2);
}

#[tokio::test]
async fn a_bulk_trigger_failing_part_way_keeps_the_runs_already_created() {
    let server = TestServer::start().await;
    server.recorder.fail_call(
        "BulkTriggerWorkflow",
        1,
        tonic::Status::unavailable("engine restarting"),
    );
    let requests = (0..1500)
        .map(|i| TriggerRequest::new("wf", &serde_json::json!({"i": i})).expect("request"));
    let err = within(server.client().runs().bulk_trigger(requests))
        .await
        .unwrap_err();
    let Error::BulkTriggerIncomplete {
        created_run_ids,
        source,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(created_run_ids.len(), 1000, "the first call's runs exist");
    assert_eq!(created_run_ids[0], "run-1");
    assert!(matches!(*source, Error::Connection { .. }), "{source:?}");
}

#[tokio::test]
async fn a_bulk_trigger_answered_with_too_few_ids_keeps_the_ids_it_got() {
    let server = TestServer::start().await;
    server.recorder.answer_bulk_triggers_short(2);
    let requests =
        (0..5).map(|i| TriggerRequest::new("wf", &serde_json::json!({"i": i})).expect("request"));
    let err = within(server.client().runs().bulk_trigger(requests))
        .await
        .unwrap_err();
    let Error::BulkTriggerIncomplete {
        created_run_ids,
        source,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(created_run_ids, ["run-1", "run-2", "run-3"]);
    assert!(
        source
            .to_string()
            .contains("bulk trigger of 5 runs returned 3 run ids"),
        "{source}"
    );
}

#[tokio::test]
async fn calls_to_a_stuck_engine_fail_at_their_deadline() {
    let server = TestServer::start().await;
    server.recorder.hang("TriggerWorkflow");
    server.recorder.hang("Push");
    let client = server.client_with(|b| b.request_timeout(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let err = within(
        client
            .runs()
            .trigger("wf", &serde_json::json!({}), RunOptions::new()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    let err = within(client.events().push("k", &serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let calls = server.recorder.calls_to("TriggerWorkflow");
    assert!(calls.len() == 1, "the call reached the engine once");
}

#[tokio::test]
async fn schedule_sends_each_time_and_returns_scheduled_ids() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.namespace("ns"));
    let t1 = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let t2 = t1 + Duration::from_secs(60);
    let scheduled = within(
        client.runs().schedule(
            "report",
            &serde_json::json!({"day": "mon"}),
            [t1, t2],
            RunOptions::new()
                .priority(Priority::Medium)
                .metadata("by", "test"),
        ),
    )
    .await
    .expect("schedule");
    assert_eq!(scheduled.workflow_version_id, "version-1");
    assert_eq!(scheduled.scheduled.len(), 2);
    assert_eq!(scheduled.scheduled[1].1, Some(t2));
    let Recorded::Schedule(request) = &server.recorder.calls_to("ScheduleWorkflow")[0].request
    else {
        panic!()
    };
    assert_eq!(request.name, "ns_report");
    assert_eq!(request.schedules.len(), 2);
    assert_eq!(request.priority, Some(2));
    assert_eq!(
        request.additional_metadata.as_deref(),
        Some(r#"{"by":"test"}"#)
    );

    let err = within(client.runs().schedule(
        "report",
        &serde_json::json!({}),
        [],
        RunOptions::new(),
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("at least one time"), "{err}");
}

#[tokio::test]
async fn cancel_and_replay_by_ids_and_by_filter() {
    let server = TestServer::start().await;
    let client = server.client();
    let cancelled = within(client.runs().cancel("run-1")).await.expect("cancel");
    assert_eq!(cancelled, ["run-1"]);
    let replayed = within(client.runs().replay(vec!["a".to_owned(), "b".to_owned()]))
        .await
        .expect("replay");
    assert_eq!(replayed, ["a", "b"]);

    let since = SystemTime::now() - Duration::from_secs(3600);
    let filter = RunFilter::since(since)
        .status(RunStatus::Running)
        .status(RunStatus::Queued)
        .workflow_id("wf-id")
        .metadata("customer", "acme");
    within(client.runs().cancel(filter))
        .await
        .expect("cancel by filter");
    let calls = server.recorder.calls_to("CancelTasks");
    let Recorded::Cancel(by_filter) = &calls[1].request else {
        panic!()
    };
    assert!(by_filter.external_ids.is_empty());
    let f = by_filter.filter.as_ref().expect("filter");
    assert_eq!(f.statuses, ["RUNNING", "QUEUED"]);
    assert_eq!(f.workflow_ids, ["wf-id"]);
    assert_eq!(f.additional_metadata, ["customer:acme"]);
    assert!(f.since.is_some() && f.until.is_none());

    let err = within(client.runs().cancel(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no run ids given"), "{err}");
}

#[tokio::test]
async fn rate_limits_are_upserted_without_namespace() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.namespace("prod"));
    within(
        client
            .rate_limits()
            .put("openai", 100, RateLimitDuration::Minute),
    )
    .await
    .expect("put");
    let Recorded::PutRateLimit(request) = &server.recorder.calls_to("PutRateLimit")[0].request
    else {
        panic!()
    };
    assert_eq!(request.key, "openai");
    assert_eq!(request.limit, 100);
    assert_eq!(
        request.duration,
        hatchet_rs_proto::RateLimitDuration::Minute as i32
    );
    assert!(
        within(client.rate_limits().put(" ", 1, RateLimitDuration::Second))
            .await
            .is_err()
    );
    assert!(
        within(client.rate_limits().put("k", -1, RateLimitDuration::Second))
            .await
            .is_err()
    );
}
