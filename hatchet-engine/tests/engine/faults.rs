//! Fault injection: dropped streams and refused connections.

use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto as pb;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single};

#[tokio::test]
async fn dropped_streams_end_with_unavailable_and_workers_must_listen_again() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("flaky")).await;
    let mut worker = RawWorker::start(&engine, &[action("flaky", "task")]).await;
    engine.drop_all_streams();
    let ended = tokio::time::timeout(WAIT, worker.actions.message())
        .await
        .unwrap();
    assert_eq!(ended.unwrap_err().code(), Code::Unavailable);
    let heartbeat = worker.heartbeat().await.unwrap_err();
    assert_eq!(heartbeat.code(), Code::FailedPrecondition);
    worker.actions = worker
        .raw
        .dispatcher
        .clone()
        .listen_v2(pb::WorkerListenRequest {
            worker_id: worker.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    worker.heartbeat().await.unwrap();
    let run = engine
        .client()
        .runs()
        .trigger("flaky", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let action = worker.next().await;
    worker.complete(&action, "{}").await;
    assert!(run.result().await.is_ok());
}

#[tokio::test]
async fn refused_connections_answer_unavailable_for_a_while() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    engine.refuse_connections_for(Duration::from_millis(300));
    let refused = raw
        .dispatcher
        .clone()
        .get_version(pb::GetVersionRequest {})
        .await
        .unwrap_err();
    // On an open connection the call is answered UNAVAILABLE; a new connection is closed
    // right after accept, which tonic reports as UNAVAILABLE or CANCELLED.
    assert!(
        matches!(refused.code(), Code::Unavailable | Code::Cancelled),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        raw.dispatcher
            .clone()
            .get_version(pb::GetVersionRequest {})
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let engine = TestEngine::start().await.unwrap();
    let addr = engine.addr();
    engine.shutdown().await;
    let connect = tokio::net::TcpStream::connect(addr).await;
    assert!(connect.is_err(), "the port is closed after shutdown");
}
