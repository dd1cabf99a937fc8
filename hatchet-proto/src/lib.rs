//! Hatchet's gRPC wire protocol for Rust.
//!
//! The `.proto` files under `proto/` are this project's own description of the protocol a
//! Hatchet engine speaks; they are compiled at build time with `protox` (no `protoc` needed)
//! into prost messages and tonic clients *and* servers. Services without a proto package
//! (`Dispatcher`, `EventsService`, `WorkflowService`) live at the crate root, the `v1` package
//! (`v1.AdminService`, `v1.V1Dispatcher`, shared trigger and condition messages) in [`v1`].
//!
//! Most users want `hatchet-sdk`, which wraps these types in a typed client and worker.
// Generated code: its docs come from the .proto comments, and prost emits items these
// workspace lints would flag.
#![allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));

/// The `v1` proto package: current registration, trigger, cancel/replay and durable-task APIs.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file in this crate.
///
/// Useful for gRPC reflection and for comparing this crate's contract with another SDK's.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hatchet_descriptor_set.bin"));
