//! CEL, as the engine evaluates it: the environments of its expressions (concurrency keys,
//! rate-limit keys, units and limits, idempotency keys), their variables, and the engine's
//! result rules and error texts (engine-semantics §2, §3, §4.6, §5.4).
//!
//! Expressions are interpreted by the `cel` crate with cel-go's strings extension. Two
//! differences from cel-go are bridged here: cel-go type-checks variable names when it
//! compiles (undeclared names are compile errors, checked here against each environment's
//! declarations), and the engine decodes JSON with Go's `encoding/json`, so every JSON
//! number reaches CEL as a double.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Program, Value as CelValue};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The engine's CEL environments, by the variables they declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CelEnv {
    /// `workflowStrEnv`: `input`, `additional_metadata`, `workflow_run_id`.
    Workflow,
    /// `stepRunEnv`: the workflow environment plus `parents` (registration checks only: the
    /// engine evaluates step expressions in the workflow environment).
    StepRun,
    /// `BoolExprEvaluator`: task conditions, with `input` and `output` (§4.5).
    Match,
    /// `eventEnv`: event filters, with the event's `input`, `additional_metadata`, `event_id`
    /// and `event_key`, and the filter's `payload`.
    Event,
    /// Incoming webhooks' event key and scope: the request's `input` (its body) and
    /// `headers` (lower-cased names).
    Webhook,
}

impl CelEnv {
    fn declared(self) -> &'static [&'static str] {
        match self {
            Self::Workflow => &["input", "additional_metadata", "workflow_run_id"],
            Self::StepRun => &["input", "additional_metadata", "workflow_run_id", "parents"],
            Self::Match => &["input", "output"],
            Self::Event => &[
                "input",
                "additional_metadata",
                "payload",
                "event_id",
                "event_key",
            ],
            Self::Webhook => &["input", "headers"],
        }
    }
}

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // cel-go's `ext.Strings()`, which the engine enables; registering a built-in extension
    // on the standard environment cannot fail.
    let _ = env.add_extension(cel::extensions::strings);
    Arc::new(env)
});

/// What the variables of one evaluation hold.
#[derive(Debug, Default)]
pub(crate) struct Vars<'a> {
    pub(crate) input: Option<&'a Value>,
    pub(crate) additional_metadata: Option<&'a Map<String, Value>>,
    pub(crate) workflow_run_id: Option<&'a str>,
    pub(crate) output: Option<&'a Value>,
    /// An event filter's payload.
    pub(crate) payload: Option<&'a Value>,
    pub(crate) event_id: Option<&'a str>,
    pub(crate) event_key: Option<&'a str>,
    /// An incoming webhook request's headers.
    pub(crate) headers: Option<&'a Map<String, Value>>,
}

/// A step expression's result (`StepRunOut`): a string or an integer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepOut {
    Str(String),
    Int(i64),
}

impl StepOut {
    /// The engine's `CheckStepRunOutAgainstKnownV1` wording for a result of the wrong kind.
    pub(crate) fn expect_str(self, what: &str) -> Result<String, String> {
        match self {
            Self::Str(s) => Ok(s),
            Self::Int(_) => Err(format!("expected string output for {what}, got int")),
        }
    }

    pub(crate) fn expect_int(self, what: &str) -> Result<i64, String> {
        match self {
            Self::Int(i) => Ok(i),
            Self::Str(_) => Err(format!("expected int output for {what}, got string")),
        }
    }
}

/// Compiles `expr` as the engine's registration validation does: a syntax error or an
/// undeclared variable is an error whose text says which.
pub(crate) fn check(expr: &str, env: CelEnv) -> Result<(), String> {
    compile(expr, env).map(|_| ())
}

fn compile(expr: &str, env: CelEnv) -> Result<Program, String> {
    let program = ENV.compile(expr).map_err(|e| e.to_string())?;
    let declared = env.declared();
    if let Some(name) = program
        .references()
        .variables()
        .into_iter()
        .find(|v| !declared.contains(v))
    {
        return Err(format!(
            "ERROR: <input>:1:1: undeclared reference to '{name}' (in container '')"
        ));
    }
    Ok(program)
}

fn execute(program: &Program, vars: &Vars<'_>) -> Result<CelValue, String> {
    let mut ctx = Context::with_env(ENV.clone());
    // Registering a function under a fresh name on a new context cannot clash.
    let _ = ctx.add_function("checksum", |s: Arc<String>| -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    });
    if let Some(input) = vars.input {
        ctx.add_variable_from_value("input", to_cel(input));
    }
    if let Some(metadata) = vars.additional_metadata {
        ctx.add_variable_from_value("additional_metadata", map_to_cel(metadata));
    }
    if let Some(output) = vars.output {
        ctx.add_variable_from_value("output", to_cel(output));
    }
    if let Some(payload) = vars.payload {
        ctx.add_variable_from_value("payload", to_cel(payload));
    }
    if let Some(id) = vars.event_id {
        ctx.add_variable_from_value("event_id", id.to_owned());
    }
    if let Some(key) = vars.event_key {
        ctx.add_variable_from_value("event_key", key.to_owned());
    }
    if let Some(headers) = vars.headers {
        ctx.add_variable_from_value("headers", map_to_cel(headers));
    }
    if let Some(id) = vars.workflow_run_id {
        ctx.add_variable_from_value("workflow_run_id", id.to_owned());
    }
    program.execute(&ctx).map_err(|e| e.to_string())
}

/// `ParseAndEvalStepRun`: concurrency keys and rate-limit expressions. Compiled in the
/// workflow environment (so `parents` fails here even though registration accepts it); a
/// double result is truncated to an integer.
pub(crate) fn eval_step(expr: &str, vars: &Vars<'_>) -> Result<StepOut, String> {
    let program = compile(expr, CelEnv::Workflow)?;
    match execute(&program, vars)? {
        CelValue::String(s) => Ok(StepOut::Str(s.to_string())),
        CelValue::Int(i) => Ok(StepOut::Int(i)),
        // Go's int(float64) conversion; NaN and out-of-range values saturate here.
        #[allow(clippy::cast_possible_truncation)]
        CelValue::Float(f) => Ok(StepOut::Int(f as i64)),
        other => Err(format!(
            "output must evaluate to a string or integer: got {}",
            type_name(&other)
        )),
    }
}

/// A condition's expression (`BoolExprEvaluator`): an empty expression holds; a result that
/// is not a bool, an evaluation error or a compile error never holds.
pub(crate) fn eval_match(expr: &str, input: &Value, output: &Value) -> bool {
    if expr.trim().is_empty() {
        return true;
    }
    let Ok(program) = compile(expr, CelEnv::Match) else {
        return false;
    };
    let vars = Vars {
        input: Some(input),
        output: Some(output),
        ..Vars::default()
    };
    matches!(execute(&program, &vars), Ok(CelValue::Bool(true)))
}

/// `EvaluateEventExpression`: an event filter holds when its expression evaluates to `true`;
/// the error says why it could not be evaluated.
pub(crate) fn eval_event(expr: &str, vars: &Vars<'_>) -> Result<bool, String> {
    let program =
        compile(expr, CelEnv::Event).map_err(|e| format!("failed to compile expression: {e}"))?;
    match execute(&program, vars).map_err(|e| format!("failed to evaluate expression: {e}"))? {
        CelValue::Bool(b) => Ok(b),
        other => Err(format!(
            "expression did not evaluate to a boolean: got {}",
            type_name(&other)
        )),
    }
}

/// `EvaluateIncomingWebhookExpression`: a webhook's event key or scope, a string.
pub(crate) fn eval_webhook(expr: &str, vars: &Vars<'_>) -> Result<String, String> {
    let program = compile(expr, CelEnv::Webhook)?;
    match execute(&program, vars)? {
        CelValue::String(s) => Ok(s.to_string()),
        other => Err(format!(
            "expression did not evaluate to a string: got {}",
            type_name(&other)
        )),
    }
}

/// `ParseAndEvalWorkflowString`: idempotency keys.
pub(crate) fn eval_string(expr: &str, vars: &Vars<'_>) -> Result<String, String> {
    let program = compile(expr, CelEnv::Workflow)?;
    match execute(&program, vars)? {
        CelValue::String(s) => Ok(s.to_string()),
        other => Err(format!(
            "output must evaluate to a string: got {}",
            type_name(&other)
        )),
    }
}

/// cel-go's type names, as the engine's messages print them.
fn type_name(value: &CelValue) -> &'static str {
    match value {
        CelValue::List(_) => "list",
        CelValue::Map(_) => "map",
        CelValue::Int(_) => "int",
        CelValue::UInt(_) => "uint",
        CelValue::Float(_) => "double",
        CelValue::String(_) => "string",
        CelValue::Bytes(_) => "bytes",
        CelValue::Bool(_) => "bool",
        CelValue::Null => "null_type",
        CelValue::Duration(_) => "google.protobuf.Duration",
        CelValue::Timestamp(_) => "google.protobuf.Timestamp",
        _ => "unknown",
    }
}

/// JSON as the engine hands it to CEL: every number a double, as Go decodes JSON.
pub(crate) fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => map_to_cel(map),
    }
}

fn map_to_cel(map: &Map<String, Value>) -> CelValue {
    let entries: HashMap<Key, CelValue> = map
        .iter()
        .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
        .collect();
    CelValue::Map(CelMap {
        map: Arc::new(entries),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars<'a>(input: &'a Value, metadata: &'a Map<String, Value>) -> Vars<'a> {
        Vars {
            input: Some(input),
            additional_metadata: Some(metadata),
            workflow_run_id: Some("run-1"),
            output: None,
            ..Vars::default()
        }
    }

    #[test]
    fn keys_read_input_metadata_and_the_run_id() {
        let input = json!({"customer": "acme", "n": 3});
        let meta = json!({"region": "eu"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let v = vars(&input, &meta);
        assert_eq!(
            eval_step("input.customer", &v),
            Ok(StepOut::Str("acme".into()))
        );
        assert_eq!(
            eval_step("additional_metadata.region + '-' + workflow_run_id", &v),
            Ok(StepOut::Str("eu-run-1".into()))
        );
        // JSON numbers are doubles; a double result is truncated, as the engine does.
        assert_eq!(eval_step("input.n", &v), Ok(StepOut::Int(3)));
        assert_eq!(eval_step("input.n * 1.5", &v), Ok(StepOut::Int(4)));
        assert_eq!(
            eval_step("'x'.upperAscii()", &v),
            Ok(StepOut::Str("X".into()))
        );
        assert_eq!(
            eval_step("checksum('a')", &v),
            Ok(StepOut::Str(
                "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb".into()
            ))
        );
    }

    #[test]
    fn wrong_types_and_unknown_names_fail_with_the_engines_words() {
        let input = json!({"flag": true});
        let meta = Map::new();
        let v = vars(&input, &meta);
        assert_eq!(
            eval_step("input.flag", &v),
            Err("output must evaluate to a string or integer: got bool".into())
        );
        assert_eq!(
            eval_string("1", &v),
            Err("output must evaluate to a string: got int".into())
        );
        let parents = eval_step("parents.a.b", &v).unwrap_err();
        assert!(
            parents.contains("undeclared reference to 'parents'"),
            "{parents}"
        );
        assert!(check("parents.a.b", CelEnv::StepRun).is_ok());
        assert!(check("input.", CelEnv::Workflow).is_err());
        assert!(eval_step("input.missing", &v).is_err());
        assert_eq!(
            StepOut::Int(1).expect_str("concurrency key"),
            Err("expected string output for concurrency key, got int".into())
        );
    }
}
