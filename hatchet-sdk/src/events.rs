//! Events: keyed JSON payloads that trigger the workflows listening for their key.

use std::time::SystemTime;

use hatchet_rs_proto::{BulkPushEventRequest, PushEventRequest};
use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::error::Result;
use crate::payload::{self, Metadata};
use crate::priority::Priority;
use crate::transport::chunk_by_size;

/// The engine accepts at most this many events in one `BulkPush` (reference §1.2).
pub const MAX_EVENTS_PER_BULK_PUSH: usize = 1000;

/// An event to push: a key, a JSON object payload and optional metadata, priority and scope.
///
/// ```
/// use hatchet_rs::{Event, Priority};
/// let event = Event::new("order:created", &serde_json::json!({"order_id": 42}))?
///     .metadata("source", "checkout")
///     .priority(Priority::High);
/// # Ok::<(), hatchet_rs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    key: String,
    payload: String,
    metadata: Metadata,
    priority: Option<Priority>,
    scope: Option<String>,
    timestamp: Option<SystemTime>,
}

impl Event {
    /// An event with `key` whose payload is `payload`, which must serialise to a JSON object.
    pub fn new(key: impl Into<String>, payload: &(impl Serialize + ?Sized)) -> Result<Self> {
        Ok(Self {
            key: key.into(),
            payload: payload::object_to_string("an event payload", payload)?,
            metadata: Metadata::new(),
            priority: None,
            scope: None,
            timestamp: None,
        })
    }

    /// Adds one metadata entry; runs triggered by the event carry it.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Replaces all metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The priority of the runs the event triggers.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The scope, which selects among the workflows' event filters.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// When the event happened (default: when it is pushed).
    pub fn timestamp(mut self, at: SystemTime) -> Self {
        self.timestamp = Some(at);
        self
    }

    /// The event key, without namespace.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn to_proto(&self, client: &Client) -> Result<PushEventRequest> {
        Ok(PushEventRequest {
            key: client.config().namespace().apply(&self.key),
            payload: self.payload.clone(),
            event_timestamp: Some(payload::timestamp(
                self.timestamp.unwrap_or_else(SystemTime::now),
            )),
            additional_metadata: payload::outgoing_metadata(&self.metadata)?,
            priority: self.priority.map(Priority::as_i32),
            scope: self.scope.clone(),
        })
    }
}

/// An event as the engine stored it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PushedEvent {
    /// The event id.
    pub id: String,
    /// The key as stored, including any namespace.
    pub key: String,
    /// The tenant the event belongs to.
    pub tenant_id: String,
    /// The payload.
    pub payload: Value,
    /// The metadata.
    pub metadata: Metadata,
    /// The scope, if any.
    pub scope: Option<String>,
    /// When the event happened.
    pub timestamp: Option<SystemTime>,
}

impl PushedEvent {
    /// What a mock context answers for an event a task pushes: the event as given.
    pub(crate) fn mocked(event: &Event) -> Self {
        Self {
            id: "mock-event".to_owned(),
            key: event.key.clone(),
            tenant_id: String::new(),
            payload: serde_json::from_str(&event.payload).unwrap_or(Value::Null),
            metadata: event.metadata.clone(),
            scope: event.scope.clone(),
            timestamp: event.timestamp,
        }
    }

    fn from_proto(event: hatchet_rs_proto::Event) -> Result<Self> {
        Ok(Self {
            payload: payload::parse_json("an event payload", &event.payload)?,
            metadata: payload::parse_metadata(event.additional_metadata.as_deref()),
            timestamp: payload::from_timestamp(event.event_timestamp.as_ref()),
            id: event.event_id,
            key: event.key,
            tenant_id: event.tenant_id,
            scope: event.scope,
        })
    }
}

/// Pushes events, and lists and reads them over REST (see [`rest`](crate::rest)). Get one
/// with [`Client::events`].
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    client: &'a Client,
}

impl<'a> Events<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    /// Pushes an event with `key` and a JSON object `payload`.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// let event = client.events().push("user:signup", &serde_json::json!({"email": "a@b.c"})).await?;
    /// println!("pushed {}", event.id);
    /// # Ok(()) }
    /// ```
    pub async fn push(
        &self,
        key: impl Into<String>,
        payload: &(impl Serialize + ?Sized),
    ) -> Result<PushedEvent> {
        self.send(Event::new(key, payload)?).await
    }

    /// Pushes an event built with [`Event`].
    pub async fn send(&self, event: Event) -> Result<PushedEvent> {
        let request = event.to_proto(self.client)?;
        let transport = self.client.transport();
        transport.check_size("the event", &request)?;
        let response = transport.events().push(request).await?;
        PushedEvent::from_proto(response.into_inner())
    }

    /// Pushes many events, in as few calls as the engine's limits allow: at most
    /// [`MAX_EVENTS_PER_BULK_PUSH`] events and the configured message size per call.
    ///
    /// The returned events are in the order given. If a call fails, the events of earlier
    /// calls have been stored and the error is returned.
    pub async fn bulk_push(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Vec<PushedEvent>> {
        let transport = self.client.transport();
        let requests = events
            .into_iter()
            .map(|e| e.to_proto(self.client))
            .collect::<Result<Vec<_>>>()?;
        let mut pushed = Vec::with_capacity(requests.len());
        for chunk in chunk_by_size(requests, MAX_EVENTS_PER_BULK_PUSH, transport.max_send()) {
            let request = BulkPushEventRequest { events: chunk };
            transport.check_size("one event of the bulk push", &request)?;
            let response = transport.events().bulk_push(request).await?;
            for event in response.into_inner().events {
                pushed.push(PushedEvent::from_proto(event)?);
            }
        }
        Ok(pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_payload_must_be_an_object() {
        let err = Event::new("k", &[1, 2]).unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }
}
