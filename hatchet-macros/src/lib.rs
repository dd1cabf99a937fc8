//! The `#[workflow]` and `#[task]` attribute macros of `hatchet-rs`.
//!
//! Use them through `hatchet_rs` (`use hatchet_rs::{workflow, task};`); the keys they take
//! are documented in `hatchet_rs::attributes`. The macros only name things, check the
//! definition at compile time and emit one `WorkflowDefinition` impl whose body is a builder
//! chain; everything they generate can be written by hand with the builder API.

mod args;
mod checks;
mod options;
mod standalone;
mod task;
mod workflow;

use proc_macro::TokenStream;

/// Declares a workflow on an `impl` block whose `#[task]` functions are its tasks.
///
/// See `hatchet_rs::attributes` for every key.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    workflow::expand(attr.into(), item.into()).into()
}

/// Marks a task: inside a `#[workflow]` impl, one task of the DAG; on a free `async fn`, a
/// standalone task workflow named after the function.
///
/// See `hatchet_rs::attributes` for every key.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    standalone::expand(attr.into(), item.into()).into()
}

#[cfg(test)]
mod snapshot_tests;
