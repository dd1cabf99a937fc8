//! The REST feature clients, as a user calls them: workers (list, get, pause, unpause) and
//! workflows (find, list, get, delete), against the in-process engine and a real
//! `hatchet-api`.

use hatchet_rs::rest::{ListOptions, WorkerStatus};
use hatchet_rs::{Context, Error, TaskError, task};
use serde_json::Value;

use crate::harness::{Harness, within};

#[task(name = "rest-echo")]
async fn echo(input: Value, _ctx: Context) -> Result<Value, TaskError> {
    Ok(input)
}

#[tokio::test]
async fn workers_are_listed_read_paused_and_unpaused() {
    let h = Harness::start().await;
    let name = format!(
        "rest-worker-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let handle = h
        .worker(&name, |w| w.register::<echo>().slots(3).label("zone", "eu"))
        .await;
    let id = handle.worker_id();
    let workers = h.client.workers();

    // The engine lists a worker once it has heartbeated.
    let (mine, listed) = within(async {
        loop {
            let listed = workers
                .list(ListOptions::new().limit(10_000))
                .await
                .expect("list");
            if let Some(mine) = listed.rows.iter().find(|w| w.metadata.id == id) {
                return (mine.clone(), listed);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await;
    assert_eq!(mine.name, name);
    assert_eq!(mine.status, Some(WorkerStatus::Active));
    assert_eq!(listed.pagination.current_page, Some(1));

    let got = within(workers.get(&id)).await.expect("get");
    assert_eq!(got.name, name);
    assert!(
        got.actions
            .iter()
            .any(|a| a.ends_with("rest-echo:rest-echo")),
        "{:?}",
        got.actions
    );
    assert_eq!(got.slot_config.get("default").map(|s| s.limit), Some(3));
    assert!(
        got.labels
            .iter()
            .any(|l| l.key == "zone" && l.value.as_deref() == Some("eu")),
        "{:?}",
        got.labels
    );

    let paused = within(workers.pause(&id)).await.expect("pause");
    assert_eq!(paused.status, Some(WorkerStatus::Paused));
    let unpaused = within(workers.unpause(&id)).await.expect("unpause");
    assert_eq!(unpaused.status, Some(WorkerStatus::Active));

    match within(workers.get("00000000-0000-4000-8000-000000000000")).await {
        Err(Error::NotFound(message)) => assert!(message.contains("/api/v1/workers/"), "{message}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn workflows_are_found_listed_read_and_deleted() {
    let h = Harness::start().await;
    h.worker("rest-workflows-worker", |w| w.register::<echo>())
        .await;
    let workflows = h.client.workflows();
    let found = within(workflows.find("rest-echo")).await.expect("find");
    assert_eq!(found.name, h.client.config().namespace().apply("rest-echo"));
    assert!(!found.metadata.id.is_empty());

    let listed = within(workflows.list(Some("rest-echo"), ListOptions::new()))
        .await
        .expect("list");
    assert!(
        listed
            .rows
            .iter()
            .any(|w| w.metadata.id == found.metadata.id)
    );
    let all_one_per_page = within(workflows.list(None, ListOptions::new().limit(1)))
        .await
        .expect("list one");
    assert_eq!(all_one_per_page.rows.len(), 1);
    assert_eq!(all_one_per_page.pagination.current_page, Some(1));

    let got = within(workflows.get(&found.metadata.id))
        .await
        .expect("get");
    assert_eq!(got.name, found.name);
    assert_eq!(got.tenant_id, h.client.config().tenant_id());

    within(workflows.delete(&found.metadata.id))
        .await
        .expect("delete");
    match within(workflows.get(&found.metadata.id)).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
    match within(workflows.find("rest-echo")).await {
        Err(Error::NotFound(message)) => assert!(message.contains("rest-echo"), "{message}"),
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
}
