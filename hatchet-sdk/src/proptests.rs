//! Property tests: nothing a user, the network or the engine controls panics the SDK. Each
//! input either decodes or is a clear error.

use std::collections::BTreeMap;

use base64::Engine as _;
use hatchet_rs_proto as pb;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::config::ApiToken;
use crate::context::Assignment;
use crate::payload;

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only through Debug: the test is that decoding never panics
struct Order {
    id: u64,
    items: Vec<String>,
    note: Option<String>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_a_token_or_an_error(raw in ".{0,300}") {
        let _ = ApiToken::parse(&raw);
    }

    #[test]
    fn any_three_parts_are_a_token_or_an_error(
        header in "[A-Za-z0-9_=+/-]{0,40}",
        body in "[A-Za-z0-9_=+/-]{0,300}",
        signature in "[A-Za-z0-9_=+/-]{0,40}",
    ) {
        let _ = ApiToken::parse(&format!("{header}.{body}.{signature}"));
    }

    #[test]
    fn any_json_claims_are_a_token_or_an_error(claims in json()) {
        let body = b64(claims.to_string().as_bytes());
        let _ = ApiToken::parse(&format!("{}.{body}.c2ln", b64(br#"{"alg":"ES256"}"#)));
    }

    #[test]
    fn any_input_decodes_or_names_what_is_wrong(value in json()) {
        if let Err(e) = payload::decode::<Order>("the workflow input", value) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn any_assigned_action_is_read_or_refused(
        action_payload in prop_oneof![".{0,200}", json().prop_map(|v| v.to_string())],
        metadata in proptest::option::of(prop_oneof![".{0,60}", json().prop_map(|v| v.to_string())]),
        action_id in ".{0,40}",
        retry_count in any::<i32>(),
        priority in proptest::option::of(any::<i32>()),
        child_index in proptest::option::of(any::<i32>()),
    ) {
        let action = pb::AssignedAction {
            action_payload,
            additional_metadata: metadata,
            action_id,
            retry_count,
            priority: priority.unwrap_or_default(),
            child_workflow_index: child_index,
            ..Default::default()
        };
        let _ = Assignment::from_action(&action, "worker");
    }

    #[test]
    fn any_engine_payload_shape_is_read_or_refused(
        input in json(),
        parents in json(),
        triggers in json(),
    ) {
        let payload = serde_json::json!({
            "input": input,
            "parents": parents,
            "triggers": triggers,
            "step_run_errors": parents,
        });
        let action = pb::AssignedAction {
            action_payload: payload.to_string(),
            ..Default::default()
        };
        let _ = Assignment::from_action(&action, "worker");
    }
}
