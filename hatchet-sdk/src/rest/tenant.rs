//! `client.tenant()`: the tenant the client's token belongs to; `client.cel()`: the engine's
//! CEL debugger for event-filter expressions.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ResourceMeta, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// A tenant (`Tenant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Tenant {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// `V0` or `V1`, the engine generation it runs on.
    pub version: String,
    /// Whether it opted out of analytics.
    #[serde(default)]
    pub analytics_opt_out: Option<bool>,
    /// Whether alerts go to its members by email.
    #[serde(default)]
    pub alert_member_emails: Option<bool>,
    /// `local`, `development` or `production`, when set.
    #[serde(default)]
    pub environment: Option<String>,
    /// The engine's REST address.
    #[serde(default)]
    pub server_url: Option<String>,
    /// Its region, on a managed engine.
    #[serde(default)]
    pub region: Option<String>,
}

/// The client's tenant, over the REST API.
#[derive(Debug, Clone, Copy)]
pub struct Tenants<'c> {
    client: &'c Client,
}

impl<'c> Tenants<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// The tenant (`GET /api/v1/tenants/{tenant}`).
    pub async fn get(&self) -> Result<Tenant> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/tenants/{}", segment(rest.tenant()));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }
}

/// What the engine made of an expression, from [`Cel::debug`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CelOutcome {
    /// It evaluated to this boolean.
    Evaluated(bool),
    /// It did not compile, could not be evaluated, or is not a boolean: the engine's words.
    Failed(String),
}

/// The variables besides `input` an expression sees in [`Cel::debug`].
#[derive(Debug, Clone, Default)]
pub struct CelContext {
    payload: Option<Value>,
    metadata: Map<String, Value>,
}

impl CelContext {
    /// No filter payload, no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The event filter's payload (`payload` in the expression).
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Adds event metadata (`additional_metadata` in the expression).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// `V1CELDebugRequest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CelDebug<'a> {
    pub(super) expression: &'a str,
    pub(super) input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) filter_payload: Option<&'a Value>,
    pub(super) additional_metadata: &'a Map<String, Value>,
}

/// `V1CELDebugResponse`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CelDebugResponse {
    pub(super) status: String,
    #[serde(default)]
    pub(super) output: Option<bool>,
    #[serde(default)]
    pub(super) error: Option<String>,
}

/// The engine's CEL debugger, over the REST API: how an event filter's expression evaluates
/// for an event, without pushing one.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// use hatchet_rs::rest::{CelContext, CelOutcome};
/// let outcome = client
///     .cel()
///     .debug("input.total > payload.min", &serde_json::json!({"total": 30}),
///         CelContext::new().payload(serde_json::json!({"min": 10})))
///     .await?;
/// assert_eq!(outcome, CelOutcome::Evaluated(true));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Cel<'c> {
    client: &'c Client,
}

impl<'c> Cel<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// Evaluates `expression` as an event filter over an event whose payload is `input`
    /// (`POST /api/v1/stable/tenants/{tenant}/cel/debug`).
    pub async fn debug(
        &self,
        expression: &str,
        input: &(impl Serialize + ?Sized),
        context: CelContext,
    ) -> Result<CelOutcome> {
        let input = crate::payload::to_object("the expression's input", input)?;
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/cel/debug",
            segment(rest.tenant())
        );
        let body = CelDebug {
            expression,
            input,
            filter_payload: context.payload.as_ref(),
            additional_metadata: &context.metadata,
        };
        let answer: CelDebugResponse = rest.call(Method::POST, &path, &[], Some(&body)).await?;
        match (answer.status.as_str(), answer.output, answer.error) {
            ("SUCCESS", Some(output), _) => Ok(CelOutcome::Evaluated(output)),
            ("ERROR", _, Some(error)) => Ok(CelOutcome::Failed(error)),
            (status, ..) => Err(Error::Protocol(format!(
                "the engine's CEL debug answer has status `{status}` without its value"
            ))),
        }
    }
}
