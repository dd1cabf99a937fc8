//! Tokens: the engine mints Hatchet-format tokens and rejects anything else.

use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto as pb;
use tonic::Code;

use crate::support::Raw;

async fn version_with(
    engine: &TestEngine,
    header: Option<String>,
) -> Result<String, tonic::Status> {
    Raw::with_header(engine, header)
        .await
        .dispatcher
        .get_version(pb::GetVersionRequest {})
        .await
        .map(|r| r.into_inner().version)
}

#[tokio::test]
async fn minted_token_carries_hatchet_claims_and_is_accepted() {
    let engine = TestEngine::start().await.unwrap();
    let config = engine.client_config();
    assert_eq!(config.tenant_id(), engine.tenant_id());
    assert_eq!(config.host_port(), engine.host_port());
    let token = hatchet_rs::config::ApiToken::parse(engine.token()).unwrap();
    assert_eq!(
        token.claims().grpc_broadcast_address.as_deref(),
        Some(engine.host_port().as_str())
    );
    assert_eq!(
        token.claims().server_url.as_deref(),
        Some(format!("http://{}", engine.addr()).as_str())
    );
    assert_eq!(engine.client().engine_version().await.unwrap(), "v0.104.7");
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let engine = TestEngine::start().await.unwrap();
    for scheme in ["bearer", "Bearer", "BEARER"] {
        let header = format!("{scheme} {}", engine.token());
        assert!(
            version_with(&engine, Some(header)).await.is_ok(),
            "{scheme}"
        );
    }
    let second = engine.mint_token();
    assert!(
        version_with(&engine, Some(format!("bearer {second}")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn missing_malformed_and_foreign_tokens_are_unauthenticated() {
    let engine = TestEngine::start().await.unwrap();
    let other = TestEngine::start().await.unwrap();
    let cases = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer not-a-jwt".to_owned()),
        Some(format!("Basic {}", engine.token())),
        Some(format!("Bearer {}", other.token())),
        Some(format!("Bearer {}x", engine.token())),
    ];
    for header in cases {
        let status = version_with(&engine, header.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{header:?}");
        assert_eq!(status.message(), "invalid auth token");
    }
}

#[tokio::test]
async fn every_service_checks_the_token() {
    let engine = TestEngine::start().await.unwrap();
    let mut raw = Raw::with_header(&engine, None).await;
    let push = raw.events.push(pb::PushEventRequest::default()).await;
    assert_eq!(push.unwrap_err().code(), Code::Unauthenticated);
    let trigger = raw
        .workflows
        .trigger_workflow(hatchet_rs_proto::v1::TriggerWorkflowRequest::default())
        .await;
    assert_eq!(trigger.unwrap_err().code(), Code::Unauthenticated);
    let put = raw
        .admin
        .put_workflow(hatchet_rs_proto::v1::CreateWorkflowVersionRequest::default())
        .await;
    assert_eq!(put.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test]
async fn env_vars_configure_a_client() {
    let engine = TestEngine::start().await.unwrap();
    let vars = engine.env_vars();
    let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = hatchet_rs::config::ClientConfigBuilder::from_lookup(lookup)
        .build()
        .unwrap();
    let client = hatchet_rs::Client::new(config).unwrap();
    assert_eq!(client.engine_version().await.unwrap(), "v0.104.7");
}
