//! `/api/v1/stable/tenants/{tenant}/filters[/{v1-filter}]`, as the engine's filter handlers
//! answer: create checks nothing beyond the body's JSON (an unknown workflow or a bad
//! expression is stored; a duplicate is a 500), update changes the fields given, delete
//! answers the deleted filter, and an unknown id is a 404 `{"message": "not found"}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::Query;
use super::{ApiError, authenticate, check_tenant, decode, respond, tenant_scoped, time};
use crate::model::StoredFilter;
use crate::shared::Shared;
use crate::state::{State, new_id};

/// The engine's default page size for filters.
const DEFAULT_LIMIT: usize = 20_000;

fn filter_json(st: &State, f: &StoredFilter) -> Value {
    json!({
        "metadata": {"id": f.id, "createdAt": time(f.created_at), "updatedAt": time(f.updated_at)},
        "tenantId": st.tenant_id,
        "workflowId": f.workflow_id,
        "scope": f.scope,
        "expression": f.expression,
        "payload": f.payload,
        "isDeclarative": f.declarative,
    })
}

fn payload(value: Option<Value>) -> Result<Option<Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(ApiError::bad_request("failed to marshal payload to json")),
    }
}

/// The same filter (workflow, scope, expression, payload) twice: the engine's unique index.
fn duplicate(st: &State, f: &StoredFilter) -> bool {
    st.filters.iter().any(|o| {
        o.id != f.id
            && o.workflow_id == f.workflow_id
            && o.scope == f.scope
            && o.expression == f.expression
            && o.payload == f.payload
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    workflow_id: Option<uuid::Uuid>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expression: String,
    payload: Option<Value>,
}

pub(super) async fn create(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: CreateBody = decode(&body)?;
        let payload = payload(body.payload)?.unwrap_or_else(|| Value::Object(Map::new()));
        shared.with(|st, now| {
            let filter = StoredFilter {
                id: new_id(),
                workflow_id: body.workflow_id.unwrap_or_default().to_string(),
                scope: body.scope,
                expression: body.expression,
                payload,
                declarative: false,
                created_at: now,
                updated_at: now,
            };
            if duplicate(st, &filter) {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
            }
            let out = filter_json(st, &filter);
            st.filters.push(filter);
            Ok(out)
        })
    })
}

pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let (offset, limit) = (
            query.number("offset", 0i64)?,
            query.number("limit", DEFAULT_LIMIT as i64)?,
        );
        if offset < 0 || limit <= 0 {
            return Err(ApiError::bad_request("failed to list filters"));
        }
        let (workflows, scopes) = (query.all("workflowIds"), query.all("scopes"));
        let (offset, limit) = (
            offset.unsigned_abs() as usize,
            limit.unsigned_abs() as usize,
        );
        shared.read(|st| {
            let mut filters: Vec<&StoredFilter> = st
                .filters
                .iter()
                .filter(|f| workflows.is_empty() || workflows.contains(&f.workflow_id.as_str()))
                .filter(|f| scopes.is_empty() || scopes.contains(&f.scope.as_str()))
                .collect();
            // The engine orders by id, descending.
            filters.sort_by(|a, b| b.id.cmp(&a.id));
            let total = filters.len().min(DEFAULT_LIMIT);
            let rows: Vec<Value> = filters
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|f| filter_json(st, f))
                .collect();
            // 0-based pages, the next one always named (`ToV1FilterList`).
            let current = offset / limit;
            Ok(json!({
                "rows": rows,
                "pagination": {
                    "current_page": current,
                    "next_page": current + 1,
                    "num_pages": total.div_ceil(limit),
                },
            }))
        })
    })
}

/// The filter `id`, resolved before the token as the engine's populator does.
fn resolve(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request("invalid filter id"));
    }
    if !shared.read(|st| st.filters.iter().any(|f| f.id == id)) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
    }
    authenticate(shared, headers)
}

pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        resolve(&shared, &id, &headers)?;
        check_tenant(&shared, &tenant)?;
        shared
            .read(|st| {
                st.filters
                    .iter()
                    .find(|f| f.id == id)
                    .map(|f| filter_json(st, f))
            })
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))
    })())
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    scope: Option<String>,
    expression: Option<String>,
    payload: Option<Value>,
}

pub(super) async fn update(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        resolve(&shared, &id, &headers)?;
        check_tenant(&shared, &tenant)?;
        let body: UpdateBody = decode(&body)?;
        let new_payload = payload(body.payload)?;
        shared.with(|st, now| {
            let Some(mut filter) = st.filters.iter().find(|f| f.id == id).cloned() else {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
            };
            if let Some(scope) = body.scope {
                filter.scope = scope;
            }
            if let Some(expression) = body.expression {
                filter.expression = expression;
            }
            if let Some(payload) = new_payload {
                filter.payload = payload;
            }
            filter.updated_at = now;
            if duplicate(st, &filter) {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
            }
            let out = filter_json(st, &filter);
            if let Some(slot) = st.filters.iter_mut().find(|f| f.id == id) {
                *slot = filter;
            }
            Ok(out)
        })
    })())
}

pub(super) async fn delete(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        resolve(&shared, &id, &headers)?;
        check_tenant(&shared, &tenant)?;
        shared.with(|st, _| {
            let at = st
                .filters
                .iter()
                .position(|f| f.id == id)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))?;
            let filter = st.filters.remove(at);
            Ok(filter_json(st, &filter))
        })
    })())
}
