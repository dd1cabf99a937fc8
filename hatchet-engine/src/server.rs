//! What the engine's socket serves: the gRPC services (gzip, the engine's message size
//! limit, token checks) and, on the same port over HTTP/1.1, the REST endpoints of
//! [`rest`](super::rest).

use std::sync::Arc;

use hatchet_rs_proto::dispatcher_server::DispatcherServer;
use hatchet_rs_proto::events_service_server::EventsServiceServer;
use hatchet_rs_proto::v1::admin_service_server::AdminServiceServer;
use hatchet_rs_proto::v1::v1_dispatcher_server::V1DispatcherServer;
use hatchet_rs_proto::workflow_service_server::WorkflowServiceServer;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::service::{Routes, RoutesBuilder};

use super::rest;
use super::services::{AuthCheck, EngineService};
use super::shared::Shared;

/// Largest gRPC message in either direction, as the engine's default.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Every gRPC service and REST route of the engine.
pub(crate) fn routes(shared: &Arc<Shared>) -> Routes {
    let service = EngineService {
        shared: shared.clone(),
    };
    let check = AuthCheck {
        shared: shared.clone(),
    };
    let gzip = CompressionEncoding::Gzip;
    // Each generated server type has its own (identical) builder methods.
    macro_rules! grpc {
        ($server:ident) => {
            InterceptedService::new(
                $server::new(service.clone())
                    .accept_compressed(gzip)
                    .send_compressed(gzip)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
                check.clone(),
            )
        };
    }
    let mut grpc = RoutesBuilder::default();
    grpc.add_service(grpc!(DispatcherServer))
        .add_service(grpc!(EventsServiceServer))
        .add_service(grpc!(WorkflowServiceServer))
        .add_service(grpc!(AdminServiceServer))
        .add_service(grpc!(V1DispatcherServer));
    grpc.routes()
        .into_axum_router()
        .merge(rest::router(shared.clone()))
        .fallback(rest::fallback)
        .into()
}
