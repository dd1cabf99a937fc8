//! Run: `cargo run --example opentelemetry`
//!
//! With the `opentelemetry` feature, every task attempt gets a `hatchet.start_step_run` span,
//! and the W3C `traceparent` travels in run metadata: a run triggered inside a span continues
//! that trace in its tasks, and a child run continues it in its own. Spans go to the global
//! tracer provider; this example prints them to stdout (use an OTLP exporter in production).

use hatchet_rs::{ChildOptions, Context, TaskError, Worker, task};
use opentelemetry::global;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Invoice {
    id: u64,
}

#[derive(Serialize, Deserialize)]
struct Sent {
    id: u64,
}

#[task(name = "otel-example-send")]
async fn send_invoice(invoice: Invoice, ctx: Context) -> Result<Sent, TaskError> {
    ctx.log(format!("sending invoice {}", invoice.id)).await?;
    Ok(Sent { id: invoice.id })
}

#[task(name = "otel-example-bill")]
async fn bill(invoice: Invoice, ctx: Context) -> Result<Sent, TaskError> {
    // The child run's task span is a child of this task's span.
    Ok(ctx
        .run::<send_invoice>(&invoice, ChildOptions::new())
        .await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    global::set_tracer_provider(provider.clone());

    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "otel-example-worker")
        .register::<bill>()
        .register::<send_invoice>()
        .build()?
        .start()
        .await?;

    // The caller's span: the run, its task and the child's task join its trace.
    let tracer = global::tracer("otel-example");
    let span = tracer.start("billing-request");
    let cx = opentelemetry::Context::current_with_span(span);
    let sent = client
        .run::<bill>(&Invoice { id: 42 })
        .with_context(cx.clone())
        .await?;
    cx.span().end();
    println!(
        "sent invoice {} in trace {}",
        sent.id,
        cx.span().span_context().trace_id()
    );

    worker.shutdown().await?;
    provider.shutdown()?;
    Ok(())
}
