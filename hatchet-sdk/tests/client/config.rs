//! Transport-level behaviour shared by every call.

use hatchet_rs::{Client, ClientConfig, Error, TlsStrategy};
use tonic::Status;

use crate::recorder::{TestServer, token};
use crate::within;

#[tokio::test]
async fn every_call_carries_the_bearer_token_and_gzip() {
    let server = TestServer::start().await;
    let client = server.client();
    within(client.events().push("k", &serde_json::json!({})))
        .await
        .expect("push");
    let call = &server.recorder.calls_to("Push")[0];
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("bearer {}", token()).as_str())
    );
    assert_eq!(call.encoding.as_deref(), Some("gzip"));
}

#[tokio::test]
async fn engine_version_is_read_with_get_version() {
    let server = TestServer::start().await;
    let version = within(server.client().engine_version())
        .await
        .expect("version");
    assert_eq!(version, "v0.104.7");
}

#[tokio::test]
async fn grpc_statuses_become_typed_errors_keeping_the_message() {
    let server = TestServer::start().await;
    let client = server.client();
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Status, Check)> = vec![
        (
            Status::unauthenticated("invalid auth token"),
            |e| matches!(e, Error::Unauthenticated(m) if m == "invalid auth token"),
        ),
        (
            Status::not_found("workflow x not found"),
            |e| matches!(e, Error::NotFound(m) if m == "workflow x not found"),
        ),
        (
            Status::invalid_argument("bad input"),
            |e| matches!(e, Error::InvalidArgument(m) if m == "bad input"),
        ),
        (
            Status::resource_exhausted("slow down"),
            |e| matches!(e, Error::ResourceExhausted(m) if m == "slow down"),
        ),
        (Status::already_exists("idempotency key collision"), |e| {
            matches!(e, Error::AlreadyExists(_))
        }),
        (Status::deadline_exceeded("late"), |e| {
            matches!(e, Error::Timeout(_))
        }),
        (Status::unavailable("down"), |e| {
            matches!(e, Error::Connection { .. })
        }),
        (
            Status::internal("boom"),
            |e| matches!(e, Error::Status { code: tonic::Code::Internal, message } if message == "boom"),
        ),
    ];
    for (status, expected) in cases {
        let code = status.code();
        server.recorder.fail_next("Push", status);
        let err = within(client.events().push("k", &serde_json::json!({})))
            .await
            .unwrap_err();
        assert!(expected(&err), "{code:?} became {err:?}");
    }
}

#[tokio::test]
async fn unreachable_engine_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let config = ClientConfig::builder()
        .token(token())
        .host_port(addr.to_string())
        .tls_strategy(TlsStrategy::None)
        .build()
        .expect("config");
    let client = Client::new(config).expect("lazy client needs no engine");
    let err = within(client.engine_version()).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
}

#[test]
fn client_outside_a_runtime_is_an_error_not_a_panic() {
    let config = ClientConfig::builder()
        .token(token())
        .tls_strategy(TlsStrategy::None)
        .build()
        .expect("config");
    let err = Client::new(config).unwrap_err();
    assert!(err.to_string().contains("inside a Tokio runtime"), "{err}");
}

#[tokio::test]
async fn oversized_messages_fail_before_sending() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.max_send_message_size(1024));
    let big = serde_json::json!({ "blob": "x".repeat(2000) });
    let err = within(client.events().push("k", &big)).await.unwrap_err();
    assert!(
        matches!(err, Error::PayloadTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("HATCHET_CLIENT_GRPC_MAX_SEND_MESSAGE_LENGTH"),
        "{err}"
    );
    let err = within(client.runs().trigger("wf", &big, Default::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert!(server.recorder.calls().is_empty(), "nothing may be sent");
}

#[tokio::test]
async fn gzip_can_be_turned_off() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.gzip(false));
    within(client.events().push("k", &serde_json::json!({})))
        .await
        .expect("push");
    let call = &server.recorder.calls_to("Push")[0];
    assert_eq!(call.encoding, None, "sent uncompressed");
}
