//! Hatchet's gRPC wire protocol for Rust.
//!
//! The `.proto` files under `proto/` are this project's own description of the protocol a
//! Hatchet engine speaks; they are compiled at build time with `protox` (no `protoc` needed)
//! into prost messages and tonic clients *and* servers. Services without a proto package
//! (`Dispatcher`, `EventsService`, `WorkflowService`) live at the crate root, the `v1` package
//! (`v1.AdminService`, `v1.V1Dispatcher`, shared trigger and condition messages) in [`v1`].
//!
//! Most users want `hatchet-rs`, which wraps these types in a typed client and worker.
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

/// `google.rpc.Status`, the envelope a gRPC error carries its typed details in (the
/// `grpc-status-details-bin` trailer), with helpers to pack and read one detail. The engine
/// sends idempotency collisions this way.
pub mod rpc {
    /// `google.rpc.Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<prost_types::Any>,
    }

    /// The details bytes of a status with `code` and `message` carrying `detail`, whose
    /// protobuf type is `type_name` (such as `v1.IdempotencyCollisionError`).
    pub fn details_bytes(
        code: i32,
        message: &str,
        type_name: &str,
        detail: &impl prost::Message,
    ) -> Vec<u8> {
        prost::Message::encode_to_vec(&Status {
            code,
            message: message.to_owned(),
            details: vec![prost_types::Any {
                type_url: format!("type.googleapis.com/{type_name}"),
                value: detail.encode_to_vec(),
            }],
        })
    }

    /// The first detail of type `type_name` in a status's details bytes, decoded.
    pub fn find_detail<M: prost::Message + Default>(details: &[u8], type_name: &str) -> Option<M> {
        let status: Status = prost::Message::decode(details).ok()?;
        status
            .details
            .iter()
            .find(|any| any.type_url.rsplit('/').next() == Some(type_name))
            .and_then(|any| M::decode(any.value.as_slice()).ok())
    }
}
