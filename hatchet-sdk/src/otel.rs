//! OpenTelemetry (feature `opentelemetry`): a span per task attempt, and the W3C
//! `traceparent` carried in run and event metadata, as the engine and the official SDKs carry
//! it, so a trace that triggers a run continues in its tasks and in their children.
//!
//! Spans go to the global tracer provider (`opentelemetry::global::set_tracer_provider`),
//! under the instrumentation scope `hatchet-rs`:
//!
//! - `hatchet.start_step_run` (kind consumer) for each task attempt, child of the span whose
//!   `traceparent` the run's metadata carries, with the attributes `hatchet.workflow_run_id`,
//!   `hatchet.step_run_id`, `hatchet.step_name`, `hatchet.action_name`, `hatchet.retry_count`,
//!   `hatchet.worker_id` (and `hatchet.parent_workflow_run_id`, `hatchet.child_workflow_index`,
//!   `hatchet.child_workflow_key` for child runs); a failed attempt ends with status error.
//!   The task runs with that span as the current OpenTelemetry context.
//! - Triggering a run, scheduling one or pushing an event from inside a span (a task's, or
//!   one of the caller's own made current) adds its `traceparent` to the metadata, unless the
//!   metadata already has one. A child run spawned by a task carries the task's span.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::Value;

use crate::context::Assignment;
use crate::payload::Metadata;

/// The metadata key of the W3C trace context, as the official SDKs use it.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// The OpenTelemetry context of a task attempt: a new `hatchet.start_step_run` span, child of
/// the run's `traceparent` when it has one.
pub(crate) fn task_context(assignment: &Assignment, action_id: &str) -> Context {
    let parent = extract(&assignment.metadata);
    let mut attributes = vec![
        KeyValue::new(
            "hatchet.workflow_run_id",
            assignment.workflow_run_id.clone(),
        ),
        KeyValue::new("hatchet.step_run_id", assignment.task_run_id.clone()),
        KeyValue::new("hatchet.step_name", assignment.task_name.clone()),
        KeyValue::new("hatchet.action_name", action_id.to_owned()),
        KeyValue::new("hatchet.retry_count", i64::from(assignment.retry_count)),
        KeyValue::new("hatchet.worker_id", assignment.worker_id.clone()),
    ];
    if let Some(parent_run) = &assignment.parent_task_run_id {
        attributes.push(KeyValue::new(
            "hatchet.parent_workflow_run_id",
            parent_run.clone(),
        ));
    }
    if let Some(index) = assignment.child_index {
        attributes.push(KeyValue::new(
            "hatchet.child_workflow_index",
            i64::from(index),
        ));
    }
    if let Some(key) = &assignment.child_key {
        attributes.push(KeyValue::new("hatchet.child_workflow_key", key.clone()));
    }
    let tracer = global::tracer("hatchet-rs");
    let span = tracer
        .span_builder("hatchet.start_step_run")
        .with_kind(SpanKind::Consumer)
        .with_attributes(attributes)
        .start_with_context(&tracer, &parent);
    parent.with_span(span)
}

/// Ends the attempt's span, with status error and the message when it failed.
pub(crate) fn end_task(context: &Context, error: Option<&str>) {
    let span = context.span();
    match error {
        Some(message) => span.set_status(Status::error(message.to_owned())),
        None => span.set_status(Status::Ok),
    }
    span.end();
}

/// The context the metadata's `traceparent` names (the current one when it names none).
fn extract(metadata: &Metadata) -> Context {
    let Some(traceparent) = metadata.get(TRACEPARENT).and_then(Value::as_str) else {
        return Context::current();
    };
    let carrier =
        std::collections::HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// `metadata` with the current span's `traceparent` added, unless it has one or no span is
/// current.
pub(crate) fn with_traceparent(metadata: &Metadata) -> std::borrow::Cow<'_, Metadata> {
    if metadata.contains_key(TRACEPARENT) {
        return std::borrow::Cow::Borrowed(metadata);
    }
    match current_traceparent() {
        Some(traceparent) => {
            let mut metadata = metadata.clone();
            metadata.insert(TRACEPARENT.to_owned(), Value::String(traceparent));
            std::borrow::Cow::Owned(metadata)
        }
        None => std::borrow::Cow::Borrowed(metadata),
    }
}

/// The current span's `traceparent`, if a valid span is current.
pub(crate) fn current_traceparent() -> Option<String> {
    let context = Context::current();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn remote(trace: u128, span: u64) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_traceparent_in_metadata_round_trips() {
        let _guard = remote(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331).attach();
        let metadata = with_traceparent(&Metadata::new()).into_owned();
        assert_eq!(
            metadata.get(TRACEPARENT),
            Some(&Value::String(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()
            ))
        );
        let extracted = extract(&metadata);
        assert_eq!(
            extracted.span().span_context().trace_id(),
            TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128)
        );
    }

    #[test]
    fn metadata_keeps_its_own_traceparent_and_no_span_adds_none() {
        let mut own = Metadata::new();
        own.insert(TRACEPARENT.into(), Value::String("00-own".into()));
        let _guard = remote(1, 2).attach();
        assert_eq!(
            with_traceparent(&own).get(TRACEPARENT),
            own.get(TRACEPARENT)
        );
        drop(_guard);
        assert!(
            with_traceparent(&Metadata::new())
                .get(TRACEPARENT)
                .is_none()
        );
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        let mut metadata = Metadata::new();
        metadata.insert(
            TRACEPARENT.into(),
            Value::String("not-a-traceparent".into()),
        );
        assert!(!extract(&metadata).span().span_context().is_valid());
    }
}
