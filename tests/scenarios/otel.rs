//! OpenTelemetry: a trigger made inside a span continues in the task's span, and a child run
//! spawned by the task continues in the task's span, through the `traceparent` the SDK puts in
//! run metadata (the engine passes it on untouched). A run triggered outside any span gets the
//! real engine's own `traceparent`, which the task's span then continues.

use std::sync::OnceLock;

use hatchet_rs::{ChildOptions, Context, RunOptions, TaskError, task};
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, Tracer as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde::{Deserialize, Serialize};

use crate::harness::{Harness, within};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Leaf {
    n: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Traced {
    n: i64,
    traceparent: Option<String>,
}

#[task(name = "otel-child")]
async fn otel_child(input: Leaf, ctx: Context) -> Result<Traced, TaskError> {
    Ok(Traced {
        n: input.n,
        traceparent: ctx
            .metadata("traceparent")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}

#[task(name = "otel-parent")]
async fn otel_parent(input: Leaf, ctx: Context) -> Result<Traced, TaskError> {
    let child = ctx.run::<otel_child>(&input, ChildOptions::new()).await?;
    Ok(Traced {
        n: child.n + 1,
        traceparent: child.traceparent,
    })
}

/// One global tracer provider for the test process, exporting to memory.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        global::set_tracer_provider(provider);
        exporter
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

#[tokio::test]
async fn a_trace_continues_from_the_trigger_into_the_task_and_its_child() {
    let exporter = exporter();
    let h = Harness::start().await;
    h.worker("otel-worker", |w| {
        w.register::<otel_parent>()
            .register::<otel_child>()
            .slots(4)
    })
    .await;

    // The caller's own span, current while it triggers the run.
    let tracer = global::tracer("scenario");
    let request = tracer.start("checkout-request");
    let cx = opentelemetry::Context::current_with_span(request);
    let request_span = cx.span().span_context().clone();
    let run = within(
        h.client
            .run_no_wait::<otel_parent>(&Leaf { n: 1 }, RunOptions::new())
            .with_context(cx.clone()),
    )
    .await
    .expect("trigger");
    let output = within(run.result()).await.expect("run");
    cx.span().end();
    assert_eq!(output.n, 2);

    let spans: Vec<SpanData> = exporter
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .filter(|s| s.span_context.trace_id() == request_span.trace_id())
        .collect();
    let task_span = |task: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "hatchet.start_step_run"
                    && attribute(s, "hatchet.step_name").as_deref() == Some(task)
            })
            .unwrap_or_else(|| panic!("no span for task {task} in the trace: {spans:#?}"))
    };
    let parent = task_span("otel-parent");
    let child = task_span("otel-child");
    // The parent task's span is a child of the caller's span ...
    assert_eq!(parent.parent_span_id, request_span.span_id());
    assert_eq!(
        attribute(parent, "hatchet.workflow_run_id").as_deref(),
        Some(run.id())
    );
    assert_eq!(
        attribute(parent, "hatchet.retry_count").as_deref(),
        Some("0")
    );
    // ... and the child run's task span is a child of the parent task's span.
    assert_eq!(child.parent_span_id, parent.span_context.span_id());
    // The child received the parent task's traceparent in its metadata, as the official SDKs
    // send it.
    let expected = format!(
        "00-{}-{}-01",
        parent.span_context.trace_id(),
        parent.span_context.span_id()
    );
    assert_eq!(output.traceparent.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn a_run_triggered_outside_any_span_starts_its_own_trace() {
    let exporter = exporter();
    let h = Harness::start().await;
    h.worker("otel-worker-untraced", |w| w.register::<otel_child>())
        .await;
    let run = within(
        h.client
            .run_no_wait::<otel_child>(&Leaf { n: 5 }, RunOptions::new()),
    )
    .await
    .expect("trigger");
    let output = within(run.result()).await.expect("run");
    let spans = exporter.get_finished_spans().expect("spans");
    let span = spans
        .iter()
        .find(|s| attribute(s, "hatchet.workflow_run_id").as_deref() == Some(run.id()))
        .expect("the task still has a span");
    match output.traceparent.as_deref() {
        // The SDK added nothing; the in-process engine adds nothing either: a new trace.
        None => {
            assert!(h.local().is_some(), "only the in-process engine adds none");
            assert_eq!(span.parent_span_id, SpanId::INVALID, "a root span");
        }
        // The real engine traces runs itself and hands its traceparent on in the metadata:
        // the task's span continues the engine's trace.
        Some(traceparent) => {
            let parts: Vec<&str> = traceparent.split('-').collect();
            assert_eq!(parts.len(), 4, "{traceparent}");
            assert_eq!(span.span_context.trace_id().to_string(), parts[1]);
            assert_eq!(span.parent_span_id.to_string(), parts[2]);
        }
    }
}
