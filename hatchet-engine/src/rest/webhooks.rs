//! Incoming webhooks: `GET`/`POST /api/v1/stable/tenants/{tenant}/webhooks` (list, create),
//! `GET`/`PATCH`/`DELETE .../webhooks/{name}` (read, change, delete), and `POST
//! .../webhooks/{name}` without a token: a request from the outside world that passes the
//! webhook's check (basic auth, an API key, or an HMAC signature, per source) becomes an
//! event whose key (and scope) are CEL over the request's body and headers.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hatchet_rs_proto as pb;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};

use super::query::Query;
use super::{ApiError, authenticate, check_tenant, json_response, respond, tenant_scoped, time};
use crate::expressions::{Vars, eval_webhook};
use crate::model::{Webhook, WebhookAuth};
use crate::shared::Shared;

const SOURCES: &[&str] = &["GENERIC", "GITHUB", "STRIPE", "SLACK", "LINEAR", "SVIX"];
const ALGORITHMS: &[&str] = &["SHA1", "SHA256", "SHA512", "MD5"];
const ENCODINGS: &[&str] = &["HEX", "BASE64", "BASE64URL"];
/// The engine names every webhook with the zero id.
const ZERO_ID: &str = "00000000-0000-0000-0000-000000000000";

/// `V1Webhook`: no secrets, the zero id.
fn webhook_json(tenant: &str, hook: &Webhook) -> Value {
    let mut out = json!({
        "metadata": {"id": ZERO_ID, "createdAt": time(hook.created_at), "updatedAt": time(hook.updated_at)},
        "tenantId": tenant,
        "name": hook.name,
        "sourceName": hook.source,
        "eventKeyExpression": hook.event_key_expression,
        "authType": hook.auth.kind(),
        "returnEventAsResponsePayload": hook.return_event,
    });
    if let Some(scope) = &hook.scope_expression {
        out["scopeExpression"] = json!(scope);
    }
    if let Some(payload) = &hook.static_payload {
        out["staticPayload"] = Value::Object(payload.clone());
    }
    out
}

/// The webhook named `name`, or the engine's 404 (found before the token is checked).
fn lookup(shared: &Shared, tenant: &str, name: &str) -> Result<Webhook, ApiError> {
    check_tenant_id(tenant)?;
    shared
        .read(|st| st.webhooks.get(name).cloned())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))
}

/// The webhook named `name` for a token of its tenant (found first, as the engine does).
fn authorized(
    shared: &Shared,
    tenant: &str,
    name: &str,
    headers: &HeaderMap,
) -> Result<Webhook, ApiError> {
    let hook = lookup(shared, tenant, name)?;
    authenticate(shared, headers)?;
    check_tenant(shared, tenant)?;
    Ok(hook)
}

fn check_tenant_id(tenant: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(tenant)
        .map(drop)
        .map_err(|_| ApiError::bad_request("invalid tenant id"))
}

/// `GET .../webhooks`: newest first, by name; no pagination in the answer. A source filter
/// fails, as on the engine.
pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let failed = || ApiError::bad_request("failed to list webhooks");
        let offset: i64 = query.number("offset", 0).map_err(|_| failed())?;
        let limit: i64 = query.number("limit", 20_000).map_err(|_| failed())?;
        let (sources, names) = (query.all("sourceNames"), query.all("webhookNames"));
        // The engine's query fails on any source filter (its enum array does not cast).
        if offset < 0 || limit < 1 || !sources.is_empty() {
            return Err(failed());
        }
        let rows = shared.read(|st| {
            let mut hooks: Vec<&Webhook> = st
                .webhooks
                .values()
                .filter(|h| names.is_empty() || names.contains(&h.name.as_str()))
                .collect();
            hooks.sort_by_key(|h| std::cmp::Reverse(h.created_at));
            hooks
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(|h| webhook_json(&st.tenant_id, h))
                .collect::<Vec<_>>()
        });
        Ok(json!({ "rows": rows }))
    })
}

/// Reads `auth` for `auth_type` as the engine's create handler does.
fn auth_from(auth_type: &str, auth: &Value) -> Result<WebhookAuth, ApiError> {
    let params = |e: String| {
        ApiError::bad_request(format!("failed to construct webhook create params: {e}"))
    };
    let text = |field: &str, what: &str| -> Result<String, ApiError> {
        match &auth[field] {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            other => Err(params(format!(
                "failed to parse {what}: json: cannot unmarshal {} into field {field} of type string",
                json_kind(other)
            ))),
        }
    };
    // Required fields the engine's validator checks (an empty one is a 500 there).
    let required = |value: String| {
        if value.is_empty() {
            Err(ApiError::internal())
        } else {
            Ok(value)
        }
    };
    Ok(match auth_type {
        "BASIC" => WebhookAuth::Basic {
            username: required(text("username", "basic auth")?)?,
            password: text("password", "basic auth")?,
        },
        "API_KEY" => WebhookAuth::ApiKey {
            header: required(text("headerName", "api key auth")?)?,
            key: text("apiKey", "api key auth")?,
        },
        "HMAC" => {
            let algorithm = required(text("algorithm", "hmac auth")?)?;
            let encoding = required(text("encoding", "hmac auth")?)?;
            if !ALGORITHMS.contains(&algorithm.as_str()) || !ENCODINGS.contains(&encoding.as_str())
            {
                return Err(ApiError::internal());
            }
            WebhookAuth::Hmac {
                algorithm,
                encoding,
                header: required(text("signatureHeaderName", "hmac auth")?)?,
                secret: text("signingSecret", "hmac auth")?,
            }
        }
        other => return Err(params(format!("unsupported auth type: {other}"))),
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Null => "null",
    }
}

/// `POST .../webhooks`: `V1CreateWebhookRequest` (one shape per `authType`). The engine
/// checks neither expression here: a bad one fails when a request arrives.
pub(super) async fn create(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: Value = super::decode(&body)?;
        let auth_type = match &body["authType"] {
            Value::Null => {
                return Err(ApiError::bad_request(
                    "failed to construct webhook create params: failed to get discriminator: \
                     authType field is missing in the request body",
                ));
            }
            Value::String(s) => s.clone(),
            // The engine panics on a discriminator that is not a string.
            _ => return Err(ApiError::internal()),
        };
        let auth = auth_from(&auth_type, &body["auth"])?;
        let text = |field: &str| body[field].as_str().map(str::to_owned);
        let name = text("name").unwrap_or_default();
        let source = text("sourceName").unwrap_or_default();
        let event_key = text("eventKeyExpression").unwrap_or_default();
        let scope = text("scopeExpression");
        // What the engine's validator, enums and table checks refuse (all 500s there).
        if name.is_empty()
            || !SOURCES.contains(&source.as_str())
            || event_key.is_empty()
            || scope.as_deref() == Some("")
        {
            return Err(ApiError::internal());
        }
        let static_payload = match &body["staticPayload"] {
            Value::Null => None,
            Value::Object(map) => Some(map.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "can't decode JSON body: staticPayload must be an object",
                ));
            }
        };
        let return_event = body["returnEventAsResponsePayload"]
            .as_bool()
            .unwrap_or(true);
        shared.with(|st, now| {
            if st.webhooks.contains_key(&name) {
                // A duplicate name violates the engine's primary key: a 500.
                return Err(ApiError::internal());
            }
            let hook = Webhook {
                name: name.clone(),
                source,
                event_key_expression: event_key,
                scope_expression: scope,
                static_payload,
                return_event,
                auth,
                created_at: now,
                updated_at: now,
            };
            let answer = webhook_json(&st.tenant_id, &hook);
            st.webhooks.insert(name, hook);
            Ok(answer)
        })
    })
}

/// `GET .../webhooks/{name}`.
pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let hook = authorized(&shared, &tenant, &name, &headers)?;
        Ok(shared.read(|st| webhook_json(&st.tenant_id, &hook)))
    })())
}

/// `PATCH .../webhooks/{name}`: `V1UpdateWebhookRequest`; each field given replaces the
/// stored one (an empty scope clears it); name, source and auth stay.
pub(super) async fn update(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        authorized(&shared, &tenant, &name, &headers)?;
        let body: Value = super::decode(&body)?;
        if body["eventKeyExpression"].as_str() == Some("") {
            return Err(ApiError::bad_request("failed to update webhook"));
        }
        shared.with(|st, now| {
            let tenant_id = st.tenant_id.clone();
            let hook = st
                .webhooks
                .get_mut(&name)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))?;
            if let Some(key) = body["eventKeyExpression"].as_str() {
                hook.event_key_expression = key.to_owned();
            }
            if let Some(scope) = body["scopeExpression"].as_str() {
                hook.scope_expression = Some(scope.to_owned()).filter(|s| !s.is_empty());
            }
            if let Some(payload) = body["staticPayload"].as_object() {
                hook.static_payload = Some(payload.clone());
            }
            if let Some(flag) = body["returnEventAsResponsePayload"].as_bool() {
                hook.return_event = flag;
            }
            hook.updated_at = now;
            Ok(webhook_json(&tenant_id, hook))
        })
    })())
}

/// `DELETE .../webhooks/{name}`: 200 with the deleted webhook.
pub(super) async fn delete(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        authorized(&shared, &tenant, &name, &headers)?;
        shared.with(|st, _| {
            let tenant_id = st.tenant_id.clone();
            st.webhooks
                .remove(&name)
                .map(|hook| webhook_json(&tenant_id, &hook))
                .ok_or_else(|| ApiError::bad_request("failed to delete webhook"))
        })
    })())
}

/// `POST .../webhooks/{name}` from the outside: no token; the webhook's own check.
pub(super) async fn receive(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hook = match lookup(&shared, &tenant, &name) {
        Ok(hook) => hook,
        Err(e) => return e.into_response(),
    };
    if shared.read(|st| st.tenant_id != tenant) {
        return ApiError::new(StatusCode::NOT_FOUND, "not found").into_response();
    }
    // Slack's URL check is answered before any signature check.
    if hook.source == "SLACK"
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
        && let Some(challenge) = map.get("challenge").and_then(Value::as_str)
        && !challenge.is_empty()
    {
        return json_response(StatusCode::OK, &json!({ "challenge": challenge }));
    }
    let now = shared.clock.now();
    if let Err(e) = verify(&hook, &headers, &body, now) {
        return e.into_response();
    }
    match ingest(&shared, &hook, &headers, &body) {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(event)) => json_response(StatusCode::OK, &json!({"message": "ok", "event": event})),
        Err(e) => e.into_response(),
    }
}

/// The body as the event payload, the static payload over it, then the key and scope.
fn ingest(
    shared: &Shared,
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Value>, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-www-form-urlencoded"));
    let mut payload: Map<String, Value> = if form {
        form_payload(&hook.source, body)?
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            _ => return Err(ApiError::bad_request("failed to unmarshal request body")),
        }
    };
    payload.remove("tenant");
    payload.remove("v1-webhook");
    if let Some(fixed) = &hook.static_payload {
        for (k, v) in fixed {
            payload.insert(k.clone(), v.clone());
        }
    }
    let mut lowered = Map::new();
    for (name, value) in headers {
        if !lowered.contains_key(name.as_str()) {
            lowered.insert(
                name.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            );
        }
    }
    let input = Value::Object(payload);
    let vars = Vars {
        input: Some(&input),
        headers: Some(&lowered),
        ..Vars::default()
    };
    let key = eval_webhook(&hook.event_key_expression, &vars).map_err(|e| {
        if e.contains("did not evaluate to a string") {
            ApiError::bad_request("Event key expression must evaluate to a string")
        } else {
            ApiError::bad_request("Event key evaluated to an empty string")
        }
    })?;
    let scope = match hook.scope_expression.as_deref() {
        Some(expr) => Some(
            eval_webhook(expr, &vars)
                .map_err(|_| ApiError::bad_request("Failed to evaluate scope expression"))?,
        ),
        None => None,
    };
    let request = pb::PushEventRequest {
        key: key.clone(),
        payload: input.to_string(),
        scope,
        ..Default::default()
    };
    let event = shared.with(|st, now| {
        let event = st.store_event(request, now);
        if let Some(stored) = st.events.iter_mut().rev().find(|e| e.id == event.event_id) {
            stored.webhook = Some(hook.name.clone());
        }
        event
    });
    if !hook.return_event {
        return Ok(None);
    }
    let at = time(SystemTime::now());
    Ok(Some(json!({
        "metadata": {"id": event.event_id, "createdAt": at, "updatedAt": at},
        "key": key,
        "tenantId": event.tenant_id,
        "payload": input,
        "workflowRunSummary": {"cancelled": 0, "failed": 0, "queued": 0, "running": 0, "succeeded": 0},
    })))
}

/// A form-encoded body: every field as a string (GENERIC, SLACK), or Slack's `payload` field
/// as JSON.
fn form_payload(source: &str, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("Failed to parse form data"))?;
    let query = Query::parse(Some(text));
    match source {
        "SLACK" if query.first("payload").is_some() => {
            match serde_json::from_str::<Value>(query.first("payload").unwrap_or_default()) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(ApiError::bad_request(
                    "Failed to unmarshal payload parameter as JSON",
                )),
            }
        }
        "SLACK" | "GENERIC" => {
            let mut map = Map::new();
            for (key, value) in query.pairs() {
                if !map.contains_key(key) {
                    map.insert(key.clone(), Value::String(value.clone()));
                }
            }
            Ok(map)
        }
        other => Err(ApiError::bad_request(format!(
            "form-encoded requests are not supported for webhook source: {other}"
        ))),
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The webhook's check of a request, per source, with the engine's statuses and texts.
fn verify(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), ApiError> {
    match hook.source.as_str() {
        "SLACK" => verify_slack(hook, headers, body, now),
        "STRIPE" => verify_stripe(hook, headers, body, now),
        "SVIX" => verify_svix(hook, headers, body, now),
        _ => verify_generic(hook, headers, body),
    }
}

fn verify_generic(hook: &Webhook, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    match &hook.auth {
        WebhookAuth::Basic { username, password } => {
            let (user, pass) = basic_credentials(headers)
                .ok_or_else(|| forbidden("missing or invalid authorization header"))?;
            if constant_eq(&user, username) & constant_eq(&pass, password) {
                Ok(())
            } else {
                Err(forbidden("invalid basic auth credentials"))
            }
        }
        WebhookAuth::ApiKey { header, key } => {
            let given = header_value(headers, header)
                .ok_or_else(|| forbidden(format!("missing or invalid api key header: {header}")))?;
            if constant_eq(given, key) {
                Ok(())
            } else {
                Err(forbidden(format!("invalid api key: {header}")))
            }
        }
        WebhookAuth::Hmac {
            algorithm,
            encoding,
            header,
            secret,
        } => {
            let given = header_value(headers, header).ok_or_else(|| {
                forbidden(format!("missing or invalid signature header: {header}"))
            })?;
            let expected = signature(algorithm, encoding, secret.as_bytes(), body)?;
            if signatures_match(given, &expected) {
                Ok(())
            } else {
                Err(forbidden("invalid HMAC signature"))
            }
        }
    }
}

fn hmac_parts(hook: &Webhook) -> Result<(&str, &str, &str, &str), ApiError> {
    match &hook.auth {
        WebhookAuth::Hmac {
            algorithm,
            encoding,
            header,
            secret,
        } => Ok((algorithm, encoding, header, secret)),
        // The engine reads HMAC settings the webhook does not have: a 500.
        _ => Err(ApiError::internal()),
    }
}

fn unix_now(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn verify_slack(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), ApiError> {
    let (algorithm, encoding, header, secret) = hmac_parts(hook)?;
    let stamp = header_value(headers, "X-Slack-Request-Timestamp").ok_or_else(|| {
        forbidden("missing or invalid timestamp header: X-Slack-Request-Timestamp")
    })?;
    let at: i64 = stamp
        .trim()
        .parse()
        .map_err(|_| forbidden("Invalid timestamp in header"))?;
    if at < unix_now(now) - 300 {
        return Err(forbidden("timestamp in header is out of range"));
    }
    let mut base = format!("v0:{stamp}:").into_bytes();
    base.extend_from_slice(body);
    let expected = format!(
        "v0={}",
        signature(algorithm, encoding, secret.as_bytes(), &base)?
    );
    let given = header_value(headers, header)
        .ok_or_else(|| forbidden(format!("missing or invalid signature header: {header}")))?;
    if signatures_match(given, &expected) {
        Ok(())
    } else {
        Err(forbidden("invalid HMAC signature"))
    }
}

fn verify_stripe(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), ApiError> {
    let (algorithm, encoding, header, secret) = hmac_parts(hook)?;
    let missing =
        || ApiError::bad_request(format!("missing or invalid signature header: {header}"));
    let value = header_value(headers, header).ok_or_else(missing)?;
    let mut parts = std::collections::HashMap::new();
    for part in value.split(',') {
        let pieces: Vec<&str> = part.split('=').collect();
        let [k, v] = pieces.as_slice() else {
            return Err(ApiError::bad_request(format!(
                "invalid signature header format: {header}"
            )));
        };
        parts.insert(k.trim(), v.trim());
    }
    let (Some(t), Some(v1)) = (
        parts.get("t").filter(|t| !t.is_empty()),
        parts.get("v1").filter(|v| !v.is_empty()),
    ) else {
        return Err(missing());
    };
    let at: i64 = t
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid timestamp in signature header"))?;
    if at < unix_now(now) - 600 {
        return Err(ApiError::bad_request(
            "timestamp in signature header is out of range",
        ));
    }
    let mut base = format!("{t}.").into_bytes();
    base.extend_from_slice(body);
    let expected = signature(algorithm, encoding, secret.as_bytes(), &base)
        .map_err(|_| forbidden("failed to compute HMAC signature"))?;
    if signatures_match(v1, &expected) {
        Ok(())
    } else {
        Err(forbidden("invalid HMAC signature"))
    }
}

fn verify_svix(
    hook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), ApiError> {
    let (_, _, _, secret) = hmac_parts(hook)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| ApiError::internal())?;
    let trio = |prefix: &str| {
        Some((
            header_value(headers, &format!("{prefix}-id"))?,
            header_value(headers, &format!("{prefix}-signature"))?,
            header_value(headers, &format!("{prefix}-timestamp"))?,
        ))
    };
    let (id, signatures, stamp) = trio("svix")
        .or_else(|| trio("webhook"))
        .ok_or_else(|| ApiError::bad_request("missing or invalid headers"))?;
    let at: i64 = stamp
        .parse()
        .map_err(|_| ApiError::bad_request("invalid timestamp header: invalid headers"))?;
    let now = unix_now(now);
    if at < now - 300 {
        return Err(ApiError::bad_request(
            "invalid timestamp header: message too old",
        ));
    }
    if at > now + 300 {
        return Err(ApiError::bad_request(
            "invalid timestamp header: message too new",
        ));
    }
    let mut base = format!("{id}.{stamp}.").into_bytes();
    base.extend_from_slice(body);
    let expected = signature("SHA256", "BASE64", &key, &base)?;
    let matched = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| constant_eq(s, &expected));
    if matched {
        Ok(())
    } else {
        Err(forbidden("invalid SVIX signature"))
    }
}

/// `Authorization: Basic base64(user:pass)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = header_value(headers, "authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// `algorithm` HMAC of `message` under `key`, encoded.
fn signature(
    algorithm: &str,
    encoding: &str,
    key: &[u8],
    message: &[u8],
) -> Result<String, ApiError> {
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    let digest = match algorithm {
        "SHA1" => mac::<Hmac<sha1::Sha1>>(key, message),
        "SHA256" => mac::<Hmac<sha2::Sha256>>(key, message),
        "SHA512" => mac::<Hmac<sha2::Sha512>>(key, message),
        "MD5" => mac::<Hmac<md5::Md5>>(key, message),
        _ => return Err(ApiError::internal()),
    };
    Ok(match encoding {
        "HEX" => digest.iter().map(|b| format!("{b:02x}")).collect(),
        "BASE64" => base64::engine::general_purpose::STANDARD.encode(digest),
        "BASE64URL" => base64::engine::general_purpose::URL_SAFE.encode(digest),
        _ => return Err(ApiError::internal()),
    })
}

/// The engine's comparison: trimmed, an algorithm prefix (`sha256=`, ..) dropped from each.
fn signatures_match(given: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        let mut s = s.trim().to_owned();
        for prefix in ["sha1=", "sha256=", "sha512=", "md5="] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.to_owned();
            }
        }
        s
    };
    constant_eq(&strip(given), &strip(expected))
}

/// Compares without stopping at the first difference.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
