//! `client.webhooks()`: incoming webhooks. A webhook gives the outside world (GitHub, Stripe,
//! Slack, Linear, Svix, or anything that can POST) a URL on the engine; a request that passes
//! the webhook's check becomes an event whose key (and scope) are CEL expressions over the
//! request's body (`input`) and headers (`headers`, lower-cased names).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ResourceMeta, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// Where a webhook's requests come from (`V1WebhookSourceName`); it decides how they are
/// checked (Slack, Stripe and Svix sign requests their own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum WebhookSource {
    /// Any sender, checked by the webhook's auth.
    Generic,
    /// GitHub (HMAC, `X-Hub-Signature-256: sha256=<hex>`).
    Github,
    /// Stripe (`Stripe-Signature: t=..,v1=..`).
    Stripe,
    /// Slack (`X-Slack-Signature` over `v0:<timestamp>:<body>`; URL checks answered).
    Slack,
    /// Linear (HMAC).
    Linear,
    /// Svix (`svix-id`, `svix-timestamp`, `svix-signature`; the secret is `whsec_..`).
    Svix,
    /// A source newer than this SDK.
    #[serde(other)]
    Unknown,
}

/// An HMAC's hash (`V1WebhookHMACAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
    Md5,
}

/// How an HMAC signature is written (`V1WebhookHMACEncoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HmacEncoding {
    /// Lower-case hex.
    Hex,
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64, padded.
    #[serde(rename = "BASE64URL")]
    Base64Url,
}

/// How a webhook checks that a request comes from its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookAuth {
    /// `Authorization: Basic` with this user and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// This key in this header.
    ApiKey {
        /// The header's name.
        header_name: String,
        /// The key.
        api_key: String,
    },
    /// An HMAC of the body under a shared secret, in a header.
    Hmac {
        /// The hash.
        algorithm: HmacAlgorithm,
        /// How the signature is written.
        encoding: HmacEncoding,
        /// The header holding it.
        signature_header_name: String,
        /// The shared secret.
        signing_secret: String,
    },
}

impl WebhookAuth {
    fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "BASIC",
            Self::ApiKey { .. } => "API_KEY",
            Self::Hmac { .. } => "HMAC",
        }
    }

    fn body(&self) -> Value {
        match self {
            Self::Basic { username, password } => {
                serde_json::json!({"username": username, "password": password})
            }
            Self::ApiKey {
                header_name,
                api_key,
            } => serde_json::json!({"headerName": header_name, "apiKey": api_key}),
            Self::Hmac {
                algorithm,
                encoding,
                signature_header_name,
                signing_secret,
            } => serde_json::json!({
                "algorithm": algorithm,
                "encoding": encoding,
                "signatureHeaderName": signature_header_name,
                "signingSecret": signing_secret,
            }),
        }
    }
}

/// A webhook as the engine describes it (`V1Webhook`; no secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Webhook {
    /// Timestamps (the engine sends the zero id: a webhook is known by its name).
    pub metadata: ResourceMeta,
    /// The tenant.
    pub tenant_id: String,
    /// Its name, the last segment of its URL.
    pub name: String,
    /// Where its requests come from.
    pub source_name: WebhookSource,
    /// CEL giving the event's key.
    pub event_key_expression: String,
    /// CEL giving the event's scope, if any.
    #[serde(default)]
    pub scope_expression: Option<String>,
    /// Fields added over every request's body.
    #[serde(default)]
    pub static_payload: Option<Value>,
    /// `BASIC`, `API_KEY` or `HMAC`.
    pub auth_type: String,
    /// Whether a request is answered with the event it became (else 204).
    #[serde(default)]
    pub return_event_as_response_payload: Option<bool>,
}

/// A webhook to create, for [`Webhooks::create`].
#[derive(Debug, Clone)]
pub struct NewWebhook {
    name: String,
    source: WebhookSource,
    event_key_expression: String,
    auth: WebhookAuth,
    scope_expression: Option<String>,
    static_payload: Option<Map<String, Value>>,
    return_event: Option<bool>,
}

impl NewWebhook {
    /// A webhook named `name` (unique in the tenant; the last segment of its URL) for
    /// `source`, checked by `auth`, whose requests become events keyed by the CEL
    /// `event_key_expression` (for example `"'github:' + headers['x-github-event']"`). Keys
    /// are used as written: add the namespace a worker listens under.
    pub fn new(
        name: impl Into<String>,
        source: WebhookSource,
        event_key_expression: impl Into<String>,
        auth: WebhookAuth,
    ) -> Self {
        Self {
            name: name.into(),
            source,
            event_key_expression: event_key_expression.into(),
            auth,
            scope_expression: None,
            static_payload: None,
            return_event: None,
        }
    }

    /// CEL giving each event's scope (for event filters).
    pub fn scope_expression(mut self, expression: impl Into<String>) -> Self {
        self.scope_expression = Some(expression.into());
        self
    }

    /// Fields set over every request's body (they win over the request's).
    pub fn static_payload(mut self, payload: Map<String, Value>) -> Self {
        self.static_payload = Some(payload);
        self
    }

    /// Whether requests are answered with the event (the engine's default) or with 204.
    pub fn return_event(mut self, yes: bool) -> Self {
        self.return_event = Some(yes);
        self
    }

    /// The `V1CreateWebhookRequest` body.
    pub(super) fn body(&self) -> Result<Value> {
        if self.source == WebhookSource::Unknown {
            return Err(Error::InvalidArgument(
                "a webhook needs a known source".to_owned(),
            ));
        }
        let mut body = serde_json::json!({
            "name": self.name,
            "sourceName": self.source,
            "eventKeyExpression": self.event_key_expression,
            "authType": self.auth.kind(),
            "auth": self.auth.body(),
        });
        if let Some(scope) = &self.scope_expression {
            body["scopeExpression"] = Value::from(scope.clone());
        }
        if let Some(payload) = &self.static_payload {
            body["staticPayload"] = Value::Object(payload.clone());
        }
        if let Some(flag) = self.return_event {
            body["returnEventAsResponsePayload"] = Value::from(flag);
        }
        Ok(body)
    }
}

/// Changes to a webhook, for [`Webhooks::update`]; name, source and auth cannot change.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_key_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    static_payload: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_event_as_response_payload: Option<bool>,
}

impl WebhookUpdate {
    /// No change yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new event key expression.
    pub fn event_key_expression(mut self, expression: impl Into<String>) -> Self {
        self.event_key_expression = Some(expression.into());
        self
    }

    /// A new scope expression (empty: no scope).
    pub fn scope_expression(mut self, expression: impl Into<String>) -> Self {
        self.scope_expression = Some(expression.into());
        self
    }

    /// A new static payload (replaces the old one whole).
    pub fn static_payload(mut self, payload: Map<String, Value>) -> Self {
        self.static_payload = Some(payload);
        self
    }

    /// Whether requests are answered with the event.
    pub fn return_event(mut self, yes: bool) -> Self {
        self.return_event_as_response_payload = Some(yes);
        self
    }
}

#[derive(Debug, Deserialize)]
struct WebhookList {
    #[serde(default, deserialize_with = "super::types::null_as_default")]
    rows: Vec<Webhook>,
}

/// Incoming webhooks of the tenant, over the REST API.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// use hatchet_rs::rest::{HmacAlgorithm, HmacEncoding, NewWebhook, WebhookAuth, WebhookSource};
/// let hook = client
///     .webhooks()
///     .create(NewWebhook::new(
///         "github-pushes",
///         WebhookSource::Github,
///         "'github:' + headers['x-github-event']",
///         WebhookAuth::Hmac {
///             algorithm: HmacAlgorithm::Sha256,
///             encoding: HmacEncoding::Hex,
///             signature_header_name: "X-Hub-Signature-256".into(),
///             signing_secret: "shared-secret".into(),
///         },
///     ))
///     .await?;
/// println!("point GitHub at {}", client.webhooks().url(&hook.name)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Webhooks<'c> {
    client: &'c Client,
}

impl<'c> Webhooks<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    fn path(&self, name: Option<&str>) -> Result<(String, &'c super::Rest)> {
        let rest = self.client.rest()?;
        let mut path = format!("/api/v1/stable/tenants/{}/webhooks", segment(rest.tenant()));
        if let Some(name) = name {
            path.push('/');
            path.push_str(&segment(name));
        }
        Ok((path, rest))
    }

    /// The URL senders POST to.
    pub fn url(&self, name: &str) -> Result<String> {
        let (path, rest) = self.path(Some(name))?;
        Ok(format!("{}{path}", rest.base()))
    }

    /// Creates a webhook (`POST /api/v1/stable/tenants/{tenant}/webhooks`). The engine does
    /// not check its expressions here: a bad one fails each request (400).
    pub async fn create(&self, webhook: NewWebhook) -> Result<Webhook> {
        let (path, rest) = self.path(None)?;
        rest.call(Method::POST, &path, &[], Some(&webhook.body()?))
            .await
    }

    /// The tenant's webhooks, newest first; only those of `sources` and `names` when given.
    ///
    /// The engine (v0.104.7) answers any source filter with an error, so the sources are
    /// applied here, to the answer.
    pub async fn list(&self, sources: &[WebhookSource], names: &[&str]) -> Result<Vec<Webhook>> {
        let (path, rest) = self.path(None)?;
        let query: Vec<(&str, String)> = names
            .iter()
            .map(|n| ("webhookNames", (*n).to_owned()))
            .collect();
        let list: WebhookList = rest.call(Method::GET, &path, &query, None::<&()>).await?;
        Ok(list
            .rows
            .into_iter()
            .filter(|hook| sources.is_empty() || sources.contains(&hook.source_name))
            .collect())
    }

    /// One webhook by name.
    pub async fn get(&self, name: &str) -> Result<Webhook> {
        let (path, rest) = self.path(Some(name))?;
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Changes a webhook.
    pub async fn update(&self, name: &str, update: WebhookUpdate) -> Result<Webhook> {
        let (path, rest) = self.path(Some(name))?;
        rest.call(Method::PATCH, &path, &[], Some(&update)).await
    }

    /// Deletes a webhook; returns it.
    pub async fn delete(&self, name: &str) -> Result<Webhook> {
        let (path, rest) = self.path(Some(name))?;
        rest.call(Method::DELETE, &path, &[], None::<&()>).await
    }
}
