//! The REST endpoints official SDKs call (served on the gRPC port over HTTP/1.1): task
//! cancellation as the Python SDK's `runs.cancel` sends it, and a worker pausing itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use hatchet_rs::RunOptions;
use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use serde_json::{Value, json};

use crate::support::{Raw, RawWorker, WAIT, action, single, tagged_and_untagged_runs};

/// One HTTP/1.1 answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Value,
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub(crate) async fn http(
    engine: &TestEngine,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n",
        engine.addr(),
        body.len()
    );
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let addr = engine.addr();
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        String::from_utf8(raw).unwrap()
    })
    .await
    .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let content_type = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_owned())
    });
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
    };
    Answer {
        status,
        content_type,
        body,
    }
}

pub(crate) fn bearer(engine: &TestEngine) -> String {
    format!("Bearer {}", engine.token())
}

fn cancel_path(tenant: &str) -> String {
    format!("/api/v1/stable/tenants/{tenant}/tasks/cancel")
}

fn error(description: &str) -> Value {
    json!({ "errors": [{ "description": description }] })
}

#[tokio::test]
async fn rest_cancel_by_run_id_cancels_its_tasks_and_answers_their_ids() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("long")).await;
    let mut worker = RawWorker::start(&engine, &[action("long", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("long", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let started = worker.next().await;
    let body = json!({ "externalIds": [run.id()] }).to_string();
    let answer = http(
        &engine,
        "POST",
        &cancel_path(engine.tenant_id()),
        Some(&bearer(&engine)),
        &body,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        answer.body,
        json!({ "ids": [started.task_run_external_id.clone()] })
    );
    let cancel = worker.next().await;
    assert_eq!(cancel.action_type, pb::ActionType::CancelStepRun as i32);
    assert_eq!(cancel.retry_count, started.retry_count);
    let done = engine.wait_for_run(run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn rest_cancel_by_filter_selects_runs_like_the_grpc_call() {
    let engine = TestEngine::start().await.unwrap();
    let (tagged, other) = tagged_and_untagged_runs(&engine).await;
    let since = chrono::DateTime::<chrono::Utc>::from(SystemTime::now() - Duration::from_secs(60))
        .to_rfc3339();
    let body = json!({ "filter": { "since": since, "additionalMetadata": ["batch:7"] } });
    let answer = http(
        &engine,
        "POST",
        &cancel_path(engine.tenant_id()),
        Some(&bearer(&engine)),
        &body.to_string(),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let tagged_task = engine.run(tagged.id()).unwrap().tasks[0].id.clone();
    assert_eq!(answer.body, json!({ "ids": [tagged_task] }));
    assert_eq!(
        engine.run(tagged.id()).unwrap().status,
        TaskStatus::Cancelled
    );
    assert_eq!(engine.run(other.id()).unwrap().status, TaskStatus::Queued);
}

#[tokio::test]
async fn rest_rejects_bad_credentials_tenants_and_bodies_with_api_errors() {
    let engine = TestEngine::start().await.unwrap();
    let other_engine = TestEngine::start().await.unwrap();
    let path = cancel_path(engine.tenant_id());
    let ok_body = r#"{"externalIds":[]}"#;
    let forbidden = error("Please provide valid credentials");

    for authorization in [
        None,
        Some("Basic abc".to_owned()),
        // The engine splits the header on the exact word `Bearer`.
        Some(format!("bearer {}", engine.token())),
        Some(format!("Bearer {}", other_engine.token())),
    ] {
        let answer = http(&engine, "POST", &path, authorization.as_deref(), ok_body).await;
        assert_eq!(answer.status, 403, "{authorization:?}: {answer:?}");
        assert_eq!(answer.body, forbidden);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    }

    let auth = bearer(&engine);
    let answer = http(
        &engine,
        "POST",
        &cancel_path("not-a-uuid"),
        Some(&auth),
        ok_body,
    )
    .await;
    assert_eq!(
        (answer.status, answer.body),
        (400, error("invalid tenant id"))
    );
    let stranger = cancel_path("00000000-0000-4000-8000-000000000000");
    let answer = http(&engine, "POST", &stranger, Some(&auth), ok_body).await;
    assert_eq!((answer.status, answer.body), (403, forbidden));

    for body in [
        "",
        "{",
        r#"{"externalIds":["nope"]}"#,
        r#"{"filter":{"since":"yesterday"}}"#,
    ] {
        let answer = http(&engine, "POST", &path, Some(&auth), body).await;
        assert_eq!(answer.status, 400, "{body:?}: {answer:?}");
        let description = answer.body["errors"][0]["description"].as_str().unwrap();
        assert!(
            description.starts_with("can't decode JSON body"),
            "{description}"
        );
    }

    let both = json!({
        "externalIds": ["00000000-0000-4000-8000-000000000000"],
        "filter": { "since": "2024-01-01T00:00:00Z" },
    });
    // The engine's REST layer passes the proxied call's InvalidArgument on as a 500.
    let answer = http(&engine, "POST", &path, Some(&auth), &both.to_string()).await;
    assert_eq!(
        (answer.status, answer.body),
        (500, error("Internal Server Error"))
    );

    let answer = http(&engine, "GET", "/api/v1/nothing-here", Some(&auth), "").await;
    assert_eq!((answer.status, answer.body), (404, error("Not Found")));
}

#[tokio::test]
async fn a_paused_worker_gets_no_new_tasks_until_it_is_resumed() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("work")).await;
    let mut worker = RawWorker::start(&engine, &[action("work", "task")]).await;
    let auth = bearer(&engine);
    let path = format!("/api/v1/workers/{}", worker.id);

    let answer = http(&engine, "PATCH", &path, Some(&auth), r#"{"isPaused":true}"#).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["metadata"]["id"], json!(worker.id));
    assert!(answer.body["metadata"]["createdAt"].is_string());
    assert!(answer.body["metadata"]["updatedAt"].is_string());
    assert_eq!(answer.body["name"], json!("raw"));
    assert_eq!(answer.body["type"], json!("SELFHOSTED"));
    assert_eq!(answer.body["status"], json!("PAUSED"));
    assert!(engine.workers()[0].paused);

    let run = engine
        .client()
        .runs()
        .trigger("work", &json!({}), RunOptions::new())
        .await
        .unwrap();
    worker.nothing_within(Duration::from_millis(300)).await;
    assert_eq!(engine.run(run.id()).unwrap().status, TaskStatus::Queued);

    let answer = http(
        &engine,
        "PATCH",
        &path,
        Some(&auth),
        r#"{"isPaused":false}"#,
    )
    .await;
    assert_eq!(answer.body["status"], json!("ACTIVE"), "{answer:?}");
    let action = worker.next().await;
    assert_eq!(action.workflow_run_id, run.id());
}

#[tokio::test]
async fn worker_update_rejects_bad_and_unknown_ids_and_bad_credentials() {
    let engine = TestEngine::start().await.unwrap();
    let auth = bearer(&engine);
    let body = r#"{"isPaused":true}"#;
    let answer = http(&engine, "PATCH", "/api/v1/workers/nope", Some(&auth), body).await;
    assert_eq!(
        (answer.status, answer.body),
        (400, error("invalid worker id"))
    );
    let unknown = "/api/v1/workers/00000000-0000-4000-8000-000000000000";
    let answer = http(&engine, "PATCH", unknown, Some(&auth), body).await;
    assert_eq!(
        (answer.status, answer.body),
        (404, error("worker not found"))
    );
    let answer = http(&engine, "PATCH", unknown, None, body).await;
    assert_eq!(answer.status, 403);
}

/// A cron's priority is not checked by the engine's handler; the table's CHECK (1..4) refuses
/// the rest, and the handler answers that as any failure to create it.
#[tokio::test]
async fn a_cron_priority_outside_what_the_table_holds_is_refused() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine)
        .await
        .register(single("prioritised"))
        .await;
    let path = format!(
        "/api/v1/tenants/{}/workflows/prioritised/crons",
        engine.tenant_id()
    );
    let auth = bearer(&engine);
    for (priority, status) in [(4, 200), (0, 400), (5, 400), (i32::MIN, 400)] {
        let body = json!({
            "cronName": format!("p{priority}"),
            "cronExpression": "* * * * *",
            "priority": priority,
        });
        let answer = http(&engine, "POST", &path, Some(&auth), &body.to_string()).await;
        assert_eq!(answer.status, status, "priority {priority}: {answer:?}");
        if status == 400 {
            assert_eq!(answer.body, error("error creating cron trigger"));
        }
    }
}
