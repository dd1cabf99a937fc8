//! `GET /api/v1/tenants/{tenant}/workflows`, `GET` and `DELETE /api/v1/workflows/{workflow}`.

use std::sync::Arc;

use axum::extract::{Path, Query, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, PageQuery, authenticate, check_tenant, respond, time};
use crate::model::Workflow;
use crate::shared::Shared;

/// The engine's default page size for workflows.
const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    name: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The `Workflow` resource: its versions newest first.
fn workflow_json(workflow: &Workflow, tenant_id: &str) -> Value {
    let created = workflow
        .versions
        .first()
        .map(|v| v.created_at)
        .unwrap_or(std::time::UNIX_EPOCH);
    let updated = workflow.latest().map_or(created, |v| v.created_at);
    let versions: Vec<Value> = workflow
        .versions
        .iter()
        .rev()
        .map(|v| {
            json!({
                "metadata": {
                    "id": v.id,
                    "createdAt": time(v.created_at),
                    "updatedAt": time(v.created_at),
                },
                "version": v.version,
                "order": v.order,
                "workflowId": workflow.id,
            })
        })
        .collect();
    json!({
        "metadata": {
            "id": workflow.id,
            "createdAt": time(created),
            "updatedAt": time(updated),
        },
        "name": workflow.name,
        "isPaused": false,
        "versions": versions,
        "tenantId": tenant_id,
    })
}

pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        authenticate(&shared, &headers)?;
        check_tenant(&shared, &tenant)?;
        // The engine matches `name` as a case-insensitive substring, newest first.
        let needle = query.name.as_deref().map(str::to_lowercase);
        let rows: Vec<Value> = shared.read(|st| {
            let mut workflows: Vec<&Workflow> = st
                .workflows
                .values()
                .filter(|w| {
                    needle
                        .as_deref()
                        .is_none_or(|n| w.name.to_lowercase().contains(n))
                })
                .collect();
            workflows.sort_by_key(|w| std::cmp::Reverse(w.versions.first().map(|v| v.created_at)));
            workflows
                .into_iter()
                .map(|w| workflow_json(w, &st.tenant_id))
                .collect()
        });
        let page = PageQuery {
            offset: query.offset,
            limit: query.limit,
        };
        let (rows, pagination) = page.page(rows, DEFAULT_LIMIT);
        Ok(json!({ "rows": rows, "pagination": pagination }))
    })())
}

/// The workflow with id `id`, or the engine's 404 (checked before the token, as there).
fn find(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<Value, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request("invalid workflow id"));
    }
    let found = shared.read(|st| {
        st.workflows
            .values()
            .find(|w| w.id == id)
            .map(|w| workflow_json(w, &st.tenant_id))
    });
    let workflow =
        found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "workflow not found"))?;
    authenticate(shared, headers)?;
    Ok(workflow)
}

pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(find(&shared, &id, &headers))
}

/// Deletes the workflow: its runs stay, new triggers of its name fail until it is
/// registered again.
pub(super) async fn delete(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = find(&shared, &id, &headers) {
        return e.into_response();
    }
    shared.with(|st, _| st.workflows.retain(|_, w| w.id != id));
    StatusCode::NO_CONTENT.into_response()
}
