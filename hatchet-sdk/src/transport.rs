//! One shared gRPC channel to the engine, with the token on every call.
//!
//! Every service client is built here so they all share the same connection, compression,
//! message limits and `authorization` header (reference §0).

use std::time::Duration;

use hatchet_rs_proto::dispatcher_client::DispatcherClient;
use hatchet_rs_proto::events_service_client::EventsServiceClient;
use hatchet_rs_proto::v1::admin_service_client::AdminServiceClient;
use hatchet_rs_proto::v1::v1_dispatcher_client::V1DispatcherClient;
use hatchet_rs_proto::workflow_service_client::WorkflowServiceClient;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{ClientConfig, ConfigError, TlsStrategy, env};
use crate::error::{Error, Result};

/// Adds `authorization: bearer <token>` to every request.
#[derive(Clone)]
pub(crate) struct Auth {
    /// Marked sensitive when built.
    header: MetadataValue<Ascii>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

impl Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}

pub(crate) type AuthChannel = InterceptedService<Deadline<Channel>, Auth>;

/// The streaming methods: they live as long as the worker or the subscription, so only
/// unary calls get a deadline.
const STREAMING_PATHS: &[&str] = &[
    "/Dispatcher/Listen",
    "/Dispatcher/ListenV2",
    "/Dispatcher/SubscribeToWorkflowEvents",
    "/Dispatcher/SubscribeToWorkflowRuns",
    "/v1.V1Dispatcher/DurableTask",
    "/v1.V1Dispatcher/ListenForDurableEvent",
];

/// Gives every unary call a `grpc-timeout` (unless the call set its own): the channel enforces
/// it on the client side and the engine learns it too, so a connected but stuck engine fails
/// calls with DEADLINE_EXCEEDED instead of hanging them.
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    header: http::HeaderValue,
}

impl<S> Deadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        // gRPC timeouts are at most 8 digits per unit: milliseconds cover 27 hours.
        let millis = timeout.as_millis().clamp(1, 99_999_999);
        let header = http::HeaderValue::from_str(&format!("{millis}m"))
            .unwrap_or_else(|_| http::HeaderValue::from_static("30S"));
        Self { inner, header }
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for Deadline<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let streaming = STREAMING_PATHS.contains(&request.uri().path());
        if !streaming && !request.headers().contains_key("grpc-timeout") {
            request
                .headers_mut()
                .insert("grpc-timeout", self.header.clone());
        }
        self.inner.call(request)
    }
}

/// The connection to one engine and the limits every call honours.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    channel: Deadline<Channel>,
    auth: Auth,
    max_send: usize,
    max_recv: usize,
    gzip: bool,
}

/// Messages smaller than this go out uncompressed even with gzip on: gzip cannot shrink them
/// much, and compressing every small task event cost the worker about a third of its CPU in
/// the benchmark (`hatchet-bench`).
pub(crate) const GZIP_MIN_BYTES: usize = 1024;

macro_rules! service_client {
    ($self:ident, $client:ident) => {
        service_client!($self, $client, $self.gzip)
    };
    ($self:ident, $client:ident, $compress:expr) => {{
        let client = $client::new(InterceptedService::new(
            $self.channel.clone(),
            $self.auth.clone(),
        ))
        // Answers may come gzipped whatever we send.
        .accept_compressed(CompressionEncoding::Gzip)
        .max_encoding_message_size($self.max_send)
        .max_decoding_message_size($self.max_recv);
        if $compress {
            client.send_compressed(CompressionEncoding::Gzip)
        } else {
            client
        }
    }};
}

impl Transport {
    /// Prepares the channel; the TCP connection is made on first use and re-made after it
    /// breaks, so this succeeds while the engine is down.
    pub(crate) fn connect_lazy(config: &ClientConfig) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Connection {
                message: "a Hatchet client must be created inside a Tokio runtime".to_owned(),
            });
        }
        let mut header = format!("bearer {}", config.token().expose_secret())
            .parse::<MetadataValue<Ascii>>()
            .map_err(|_| ConfigError::InvalidValue {
                setting: env::TOKEN,
                value: "<redacted>".to_owned(),
                expected: "the token contains characters that cannot be sent in a gRPC header"
                    .to_owned(),
            })?;
        // Kept out of HTTP/2 header compression tables and debug output.
        header.set_sensitive(true);
        let tls = config.tls();
        let scheme = match tls.strategy() {
            TlsStrategy::None => "http",
            _ => "https",
        };
        let uri = format!("{scheme}://{}", config.host_port());
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| ConfigError::InvalidValue {
                setting: env::HOST_PORT,
                value: config.host_port().to_owned(),
                expected: format!("`{uri}` is not a valid URI: {e}"),
            })?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            // The engine sends GOAWAY to clients that ping more often than every 5 s.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if tls.strategy() != TlsStrategy::None {
            let mut tls_config = ClientTlsConfig::new().domain_name(tls.server_name());
            tls_config = match tls.root_ca_pem() {
                Some(pem) => tls_config.ca_certificate(Certificate::from_pem(pem)),
                None => tls_config.with_native_roots(),
            };
            if let Some((cert, key)) = tls.identity_pem() {
                tls_config = tls_config.identity(Identity::from_pem(cert, key));
            }
            endpoint = endpoint
                .tls_config(tls_config)
                .map_err(|e| ConfigError::InvalidValue {
                    setting: env::TLS_STRATEGY,
                    value: tls.strategy().to_string(),
                    expected: format!("the TLS settings are unusable: {e}"),
                })?;
        }
        Ok(Self {
            channel: Deadline::new(endpoint.connect_lazy(), config.request_timeout()),
            auth: Auth { header },
            max_send: config.max_send_message_size(),
            max_recv: config.max_recv_message_size(),
            gzip: config.gzip(),
        })
    }

    pub(crate) fn dispatcher(&self) -> DispatcherClient<AuthChannel> {
        service_client!(self, DispatcherClient)
    }

    /// A dispatcher client for a message of `size` bytes: small ones are not compressed.
    pub(crate) fn dispatcher_for(&self, size: usize) -> DispatcherClient<AuthChannel> {
        service_client!(self, DispatcherClient, self.gzip && size >= GZIP_MIN_BYTES)
    }

    /// An events client for a message of `size` bytes: small ones are not compressed.
    pub(crate) fn events_for(&self, size: usize) -> EventsServiceClient<AuthChannel> {
        service_client!(
            self,
            EventsServiceClient,
            self.gzip && size >= GZIP_MIN_BYTES
        )
    }

    pub(crate) fn events(&self) -> EventsServiceClient<AuthChannel> {
        service_client!(self, EventsServiceClient)
    }

    pub(crate) fn workflows(&self) -> WorkflowServiceClient<AuthChannel> {
        service_client!(self, WorkflowServiceClient)
    }

    pub(crate) fn admin(&self) -> AdminServiceClient<AuthChannel> {
        service_client!(self, AdminServiceClient)
    }

    #[allow(dead_code)] // used by durable tasks
    pub(crate) fn durable(&self) -> V1DispatcherClient<AuthChannel> {
        service_client!(self, V1DispatcherClient)
    }

    /// The largest message this client sends.
    pub(crate) fn max_send(&self) -> usize {
        self.max_send
    }

    /// Fails with [`Error::PayloadTooLarge`] before a message over the send limit goes out.
    pub(crate) fn check_size(&self, what: &'static str, message: &impl Message) -> Result<()> {
        let size = message.encoded_len();
        if size > self.max_send {
            return Err(Error::PayloadTooLarge {
                what,
                size,
                limit: self.max_send,
            });
        }
        Ok(())
    }
}

/// Splits `items` into runs of at most `max_items` whose encoded total stays under
/// `max_bytes` (an item larger than `max_bytes` goes alone and fails the size check).
/// Used by bulk event pushes and bulk triggers.
pub(crate) fn chunk_by_size<M: prost::Message>(
    items: Vec<M>,
    max_items: usize,
    max_bytes: usize,
) -> Vec<Vec<M>> {
    // Room for the repeated-field framing of each item and the outer message.
    const FRAMING: usize = 16;
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = FRAMING;
    for item in items {
        let size = item.encoded_len() + FRAMING;
        if !current.is_empty() && (current.len() == max_items || current_bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            current_bytes = FRAMING;
        }
        current_bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};

    use super::*;

    /// Answers with the request's `grpc-timeout` header.
    #[derive(Clone)]
    struct Echo;

    impl tower_service::Service<http::Request<()>> for Echo {
        type Response = Option<String>;
        type Error = Infallible;
        type Future = Ready<std::result::Result<Option<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<()>) -> Self::Future {
            let header = request
                .headers()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            ready(Ok(header))
        }
    }

    async fn timeout_sent(path: &str, own: Option<&str>) -> Option<String> {
        use tower_service::Service as _;
        let mut service = Deadline::new(Echo, Duration::from_millis(1500));
        let mut request = http::Request::builder().uri(path);
        if let Some(own) = own {
            request = request.header("grpc-timeout", own);
        }
        let request = request.body(()).expect("request");
        service.call(request).await.unwrap_or_else(|e| match e {})
    }

    fn event(payload_len: usize) -> hatchet_rs_proto::PushEventRequest {
        hatchet_rs_proto::PushEventRequest {
            key: "k".into(),
            payload: "x".repeat(payload_len),
            ..Default::default()
        }
    }

    #[test]
    fn chunks_respect_item_limit() {
        let chunks = chunk_by_size((0..2500).map(|_| event(1)).collect(), 1000, usize::MAX);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
    }

    #[test]
    fn chunks_respect_byte_limit() {
        let chunks = chunk_by_size((0..10).map(|_| event(1000)).collect(), 1000, 3500);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        for chunk in &chunks {
            let request = hatchet_rs_proto::BulkPushEventRequest {
                events: chunk.clone(),
            };
            assert!(prost::Message::encoded_len(&request) <= 3500);
        }
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[test]
    fn empty_input_makes_no_chunks() {
        assert!(
            chunk_by_size(Vec::<hatchet_rs_proto::PushEventRequest>::new(), 1000, 100).is_empty()
        );
    }

    #[tokio::test]
    async fn unary_calls_get_the_deadline_and_streams_do_not() {
        assert_eq!(
            timeout_sent("/Dispatcher/SendStepActionEvent", None)
                .await
                .as_deref(),
            Some("1500m")
        );
        assert_eq!(
            timeout_sent("/v1.AdminService/TriggerWorkflowRun", Some("2S"))
                .await
                .as_deref(),
            Some("2S"),
            "a call's own deadline wins"
        );
        assert_eq!(timeout_sent("/Dispatcher/ListenV2", None).await, None);
        assert_eq!(
            timeout_sent("/Dispatcher/SubscribeToWorkflowRuns", None).await,
            None
        );
        assert_eq!(
            timeout_sent("/v1.V1Dispatcher/DurableTask", None).await,
            None
        );
    }

    #[tokio::test]
    async fn the_authorization_header_is_sensitive() {
        let token = crate::config::token::tests::encode(&serde_json::json!({
            "sub": "tenant",
            "exp": 4102444800u64,
        }));
        let config = ClientConfig::builder()
            .token(token)
            .host_port("127.0.0.1:1")
            .tls_strategy(TlsStrategy::None)
            .build()
            .expect("config");
        let transport = Transport::connect_lazy(&config).expect("transport");
        assert!(transport.auth.header.is_sensitive());
        assert!(!format!("{transport:?}").contains(config.token().expose_secret()));
    }
}
