//! JSON payload rules shared by events, runs and tasks.
//!
//! The engine stores inputs, outputs and metadata as JSON objects and rejects JSON containing
//! `\u0000` (reference §3.1), so both are checked here before anything is sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Additional metadata: a JSON object attached to events and runs.
pub type Metadata = Map<String, Value>;

/// Serialises `value`, which must become a JSON object, into its JSON text.
pub(crate) fn object_to_string<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::json(format!("cannot encode {what} as JSON"), e))?;
    object_value_to_string(what, &value)
}

/// Serialises `value`, which must become a JSON object, into that object.
pub(crate) fn to_object<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Value> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::json(format!("cannot encode {what} as JSON"), e))?;
    object_value_to_string(what, &value)?;
    Ok(value)
}

/// Checks that `value` is a JSON object and returns its text.
pub(crate) fn object_value_to_string(what: &str, value: &Value) -> Result<String> {
    if !value.is_object() {
        return Err(Error::InvalidPayload(format!(
            "{what} must be a JSON object (a struct or map), not {}",
            kind(value)
        )));
    }
    let text = value.to_string();
    check_no_nul(what, &text)?;
    Ok(text)
}

/// Metadata as JSON text, or `None` when empty.
pub(crate) fn metadata_to_string(metadata: &Metadata) -> Result<Option<String>> {
    if metadata.is_empty() {
        return Ok(None);
    }
    let text = Value::Object(metadata.clone()).to_string();
    check_no_nul("additional metadata", &text)?;
    Ok(Some(text))
}

/// The metadata of a run or event being sent: with the feature `opentelemetry`, plus the
/// current span's `traceparent` when the metadata has none.
pub(crate) fn outgoing_metadata(metadata: &Metadata) -> Result<Option<String>> {
    #[cfg(feature = "opentelemetry")]
    return metadata_to_string(&crate::otel::with_traceparent(metadata));
    #[cfg(not(feature = "opentelemetry"))]
    metadata_to_string(metadata)
}

fn check_no_nul(what: &str, text: &str) -> Result<()> {
    if text.contains("\\u0000") {
        return Err(Error::InvalidPayload(format!(
            "{what} contains a NUL character (\\u0000), which the Hatchet engine rejects"
        )));
    }
    Ok(())
}

/// Parses JSON text from the engine; empty text is `null`.
pub(crate) fn parse_json(what: &str, text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| Error::json(format!("the engine sent {what} that is not JSON"), e))
}

/// Parses a JSON object sent by the engine into metadata; anything but an object is empty.
pub(crate) fn parse_metadata(text: Option<&str>) -> Metadata {
    match text.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => Metadata::new(),
    }
}

/// Decodes `value` into `T`, naming `what` and the failing field path in the error.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let context = if path == "." {
            format!("cannot decode {what}")
        } else {
            format!("cannot decode {what} at `{path}`")
        };
        Error::json(context, e.into_inner())
    })
}

/// Decodes a task output: like [`decode`], but `{}` also decodes as `()` or `None`, since
/// tasks returning those send `{}` (outputs must be objects).
pub(crate) fn decode_output<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    let empty = value.as_object().is_some_and(Map::is_empty);
    match decode(what, value) {
        Err(error) if empty => serde_json::from_value(Value::Null).map_err(|_| error),
        result => result,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    time.into()
}

pub(crate) fn from_timestamp(ts: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    let ts = ts?;
    let secs = u64::try_from(ts.seconds).ok()?;
    let nanos = u32::try_from(ts.nanos).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_pass_and_other_shapes_are_named() {
        assert_eq!(
            object_to_string("input", &json!({"a": 1})).expect("object"),
            r#"{"a":1}"#
        );
        for (value, kind) in [
            (json!(null), "null"),
            (json!([1]), "an array"),
            (json!("s"), "a string"),
            (json!(3), "a number"),
            (json!(true), "a boolean"),
        ] {
            let err = object_to_string("workflow input", &value).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("workflow input must be a JSON object (a struct or map), not {kind}")
            );
        }
    }

    #[test]
    fn nul_characters_are_rejected() {
        let err = object_to_string("event payload", &json!({"a": "x\u{0}y"})).unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        let mut meta = Metadata::new();
        meta.insert("k".into(), json!("\u{0}"));
        assert!(metadata_to_string(&meta).is_err());
    }

    #[test]
    fn empty_metadata_is_not_sent() {
        assert_eq!(metadata_to_string(&Metadata::new()).expect("empty"), None);
    }

    #[test]
    fn decode_errors_name_the_field_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Input {
            order: Order,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Order {
            id: u64,
        }
        let err = decode::<Input>("task input", json!({"order": {"id": "x"}})).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot decode task input at `order.id`"),
            "{text}"
        );
        assert!(text.contains("invalid type"), "{text}");
    }

    #[test]
    fn timestamps_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        assert_eq!(from_timestamp(Some(&timestamp(t))), Some(t));
        assert_eq!(from_timestamp(None), None);
    }
}
