//! Client configuration: from the `HATCHET_CLIENT_*` environment or a typed builder.
//!
//! Defaults and token-derived fallbacks follow the official SDKs (reference §4.2): the tenant
//! id, gRPC address and REST URL come from the token's claims unless set explicitly.

mod tls;
pub(crate) mod token;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use tls::{TlsConfig, TlsStrategy};
pub use token::{ApiToken, TokenClaims, TokenError};

use crate::namespace::Namespace;

/// gRPC address used when neither `HATCHET_CLIENT_HOST_PORT` nor the token names one.
pub const DEFAULT_HOST_PORT: &str = "localhost:7070";
/// REST URL used when neither `HATCHET_CLIENT_SERVER_URL` nor the token names one.
pub const DEFAULT_SERVER_URL: &str = "https://app.dev.hatchet-tools.com";
/// Default gRPC message limit in both directions: 4 MiB, as the engine's.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The environment variables [`ClientConfig::from_env`] reads.
pub mod env {
    /// API token (required).
    pub const TOKEN: &str = "HATCHET_CLIENT_TOKEN";
    /// Tenant id; defaults to the token's `sub` claim.
    pub const TENANT_ID: &str = "HATCHET_CLIENT_TENANT_ID";
    /// gRPC `host:port`; defaults to the token's `grpc_broadcast_address` claim.
    pub const HOST_PORT: &str = "HATCHET_CLIENT_HOST_PORT";
    /// REST base URL; defaults to the token's `server_url` claim.
    pub const SERVER_URL: &str = "HATCHET_CLIENT_SERVER_URL";
    /// Namespace prefix for workflow names and event keys.
    pub const NAMESPACE: &str = "HATCHET_CLIENT_NAMESPACE";
    /// `tls` (default), `mtls` or `none`.
    pub const TLS_STRATEGY: &str = "HATCHET_CLIENT_TLS_STRATEGY";
    /// Client certificate (PEM) for `mtls`.
    pub const TLS_CERT_FILE: &str = "HATCHET_CLIENT_TLS_CERT_FILE";
    /// Client private key (PEM) for `mtls`.
    pub const TLS_KEY_FILE: &str = "HATCHET_CLIENT_TLS_KEY_FILE";
    /// Root CA bundle (PEM); system roots when unset.
    pub const TLS_ROOT_CA_FILE: &str = "HATCHET_CLIENT_TLS_ROOT_CA_FILE";
    /// Name to verify the server certificate against; defaults to the host of the address.
    pub const TLS_SERVER_NAME: &str = "HATCHET_CLIENT_TLS_SERVER_NAME";
    /// Largest gRPC message the client accepts, in bytes.
    pub const MAX_RECV_MESSAGE_LENGTH: &str = "HATCHET_CLIENT_GRPC_MAX_RECV_MESSAGE_LENGTH";
    /// Largest gRPC message the client sends, in bytes.
    pub const MAX_SEND_MESSAGE_LENGTH: &str = "HATCHET_CLIENT_GRPC_MAX_SEND_MESSAGE_LENGTH";
    /// `true` to send requests uncompressed (default: gzip, as the official SDKs).
    pub const DISABLE_GZIP_COMPRESSION: &str = "HATCHET_CLIENT_DISABLE_GZIP_COMPRESSION";
}

/// Why a configuration cannot be used. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No token was given.
    #[error(
        "HATCHET_CLIENT_TOKEN is not set: set it to an API token (Hatchet dashboard, or `hatchet-admin token create`), or pass one to ClientConfig::builder().token(..)"
    )]
    MissingToken,
    /// The token is malformed or expired.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A setting has a value that cannot be used.
    #[error("{setting} is `{value}`: {expected}")]
    InvalidValue {
        /// The environment variable naming the setting.
        setting: &'static str,
        /// The offending value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A TLS strategy needs a setting that is missing.
    #[error("{setting} must be set when HATCHET_CLIENT_TLS_STRATEGY is `{strategy}`")]
    MissingTlsSetting {
        /// The missing environment variable.
        setting: &'static str,
        /// The strategy that needs it.
        strategy: TlsStrategy,
    },
    /// A TLS file could not be read.
    #[error("{setting} names `{}`, which cannot be read: {source}", path.display())]
    TlsFile {
        /// The environment variable naming the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A validated client configuration. Build one with [`ClientConfig::from_env`] or
/// [`ClientConfig::builder`].
///
/// `Debug` output never contains the token.
#[derive(Clone)]
pub struct ClientConfig {
    token: ApiToken,
    tenant_id: String,
    host_port: String,
    server_url: String,
    namespace: Namespace,
    tls: TlsConfig,
    max_send_message_size: usize,
    max_recv_message_size: usize,
    gzip: bool,
    request_timeout: Duration,
}

/// How long one unary call to the engine may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("token", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .field("host_port", &self.host_port)
            .field("server_url", &self.server_url)
            .field("namespace", &self.namespace.as_str())
            .field("tls", &self.tls)
            .field("max_send_message_size", &self.max_send_message_size)
            .field("max_recv_message_size", &self.max_recv_message_size)
            .field("gzip", &self.gzip)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl ClientConfig {
    /// Reads the `HATCHET_CLIENT_*` environment (see [`env`](mod@env)).
    ///
    /// ```no_run
    /// let config = hatchet_rs::ClientConfig::from_env()?;
    /// println!("connecting to {}", config.host_port());
    /// # Ok::<(), hatchet_rs::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        ClientConfigBuilder::from_env().build()
    }

    /// An empty builder; only the token is required.
    ///
    /// ```
    /// # let token = hatchet_rs::__doc_token();
    /// let config = hatchet_rs::ClientConfig::builder()
    ///     .token(token)
    ///     .host_port("127.0.0.1:7070")
    ///     .tls_strategy(hatchet_rs::TlsStrategy::None)
    ///     .namespace("staging")
    ///     .build()?;
    /// assert_eq!(config.namespace().as_str(), "staging_");
    /// # Ok::<(), hatchet_rs::ConfigError>(())
    /// ```
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// The API token.
    pub fn token(&self) -> &ApiToken {
        &self.token
    }
    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    /// The engine's gRPC `host:port`.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }
    /// The engine's REST base URL.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
    /// The namespace applied to workflow names and event keys.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }
    /// TLS settings.
    pub fn tls(&self) -> &TlsConfig {
        &self.tls
    }
    /// Largest message the client sends, in bytes.
    pub fn max_send_message_size(&self) -> usize {
        self.max_send_message_size
    }
    /// Largest message the client accepts, in bytes.
    pub fn max_recv_message_size(&self) -> usize {
        self.max_recv_message_size
    }
    /// How long each unary call (trigger, push, log, result report, ...) may take before it
    /// fails with [`Error::Timeout`](crate::Error::Timeout); streams are not limited.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Whether requests are sent gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.gzip
    }
}

/// Builds a [`ClientConfig`]. Unset settings take the environment's value when the builder
/// came from [`ClientConfigBuilder::from_env`], else the token's claims, else the defaults.
#[derive(Clone, Default)]
pub struct ClientConfigBuilder {
    token: Option<String>,
    tenant_id: Option<String>,
    host_port: Option<String>,
    server_url: Option<String>,
    namespace: Option<String>,
    tls_strategy: Option<String>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_root_ca_file: Option<PathBuf>,
    tls_server_name: Option<String>,
    max_send_message_size: Option<String>,
    max_recv_message_size: Option<String>,
    disable_gzip: Option<String>,
    request_timeout: Option<Duration>,
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tenant_id", &self.tenant_id)
            .field("host_port", &self.host_port)
            .field("server_url", &self.server_url)
            .field("namespace", &self.namespace)
            .field("tls_strategy", &self.tls_strategy)
            .finish_non_exhaustive()
    }
}

impl ClientConfigBuilder {
    /// A builder pre-filled from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A builder pre-filled from `lookup`, which maps an environment variable name to its
    /// value. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Self {
            token: get(env::TOKEN),
            tenant_id: get(env::TENANT_ID),
            host_port: get(env::HOST_PORT),
            server_url: get(env::SERVER_URL),
            namespace: get(env::NAMESPACE),
            tls_strategy: get(env::TLS_STRATEGY),
            tls_cert_file: get(env::TLS_CERT_FILE).map(PathBuf::from),
            tls_key_file: get(env::TLS_KEY_FILE).map(PathBuf::from),
            tls_root_ca_file: get(env::TLS_ROOT_CA_FILE).map(PathBuf::from),
            tls_server_name: get(env::TLS_SERVER_NAME),
            max_send_message_size: get(env::MAX_SEND_MESSAGE_LENGTH),
            max_recv_message_size: get(env::MAX_RECV_MESSAGE_LENGTH),
            disable_gzip: get(env::DISABLE_GZIP_COMPRESSION),
            request_timeout: None,
        }
    }

    /// The API token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    /// The tenant id (default: the token's `sub`).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// The engine's gRPC `host:port` (default: the token's `grpc_broadcast_address`).
    pub fn host_port(mut self, host_port: impl Into<String>) -> Self {
        self.host_port = Some(host_port.into());
        self
    }
    /// The engine's REST base URL (default: the token's `server_url`).
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }
    /// The namespace; normalised as described in [`Namespace::new`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// The TLS strategy (default [`TlsStrategy::Tls`]).
    pub fn tls_strategy(mut self, strategy: TlsStrategy) -> Self {
        self.tls_strategy = Some(strategy.as_str().to_owned());
        self
    }
    /// A PEM root CA bundle to trust instead of the system roots.
    pub fn tls_root_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_root_ca_file = Some(path.into());
        self
    }
    /// The client certificate and key (PEM) for mutual TLS.
    pub fn tls_client_cert_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls_cert_file = Some(cert.into());
        self.tls_key_file = Some(key.into());
        self
    }
    /// The name to verify the server certificate against.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }
    /// Largest message the client sends, in bytes (default 4 MiB).
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.max_send_message_size = Some(bytes.to_string());
        self
    }
    /// Largest message the client accepts, in bytes (default 4 MiB).
    pub fn max_recv_message_size(mut self, bytes: usize) -> Self {
        self.max_recv_message_size = Some(bytes.to_string());
        self
    }

    /// Whether to gzip requests (default `true`, as the official SDKs). Small messages such as
    /// task events cost less CPU uncompressed.
    pub fn gzip(mut self, enabled: bool) -> Self {
        self.disable_gzip = Some((!enabled).to_string());
        self
    }

    /// How long each unary call may take (default [`DEFAULT_REQUEST_TIMEOUT`]); a connected
    /// but stuck engine then fails calls instead of hanging them. Streams are not limited.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Validates the settings, reads TLS files and fills in defaults.
    pub fn build(self) -> Result<ClientConfig, ConfigError> {
        let token = ApiToken::parse(self.token.as_deref().ok_or(ConfigError::MissingToken)?)?;
        let claims = token.claims();
        let tenant_id = self.tenant_id.unwrap_or_else(|| claims.sub.clone());
        let host_port = self
            .host_port
            .or_else(|| claims.grpc_broadcast_address.clone())
            .unwrap_or_else(|| DEFAULT_HOST_PORT.to_owned());
        let host = parse_host_port(&host_port)?;
        let server_url = self
            .server_url
            .or_else(|| claims.server_url.clone())
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
        let strategy = match self.tls_strategy.as_deref() {
            None => TlsStrategy::Tls,
            Some(raw) => raw.parse()?,
        };
        let tls = TlsConfig::load(
            strategy,
            self.tls_server_name.unwrap_or_else(|| host.to_owned()),
            self.tls_root_ca_file,
            self.tls_cert_file,
            self.tls_key_file,
        )?;
        Ok(ClientConfig {
            token,
            tenant_id,
            host_port: host_port.clone(),
            server_url,
            namespace: Namespace::new(self.namespace.as_deref().unwrap_or("")),
            tls,
            max_send_message_size: parse_size(
                env::MAX_SEND_MESSAGE_LENGTH,
                self.max_send_message_size,
            )?,
            max_recv_message_size: parse_size(
                env::MAX_RECV_MESSAGE_LENGTH,
                self.max_recv_message_size,
            )?,
            gzip: !parse_bool(env::DISABLE_GZIP_COMPRESSION, self.disable_gzip)?,
            request_timeout: match self.request_timeout {
                Some(t) if t.is_zero() => {
                    return Err(ConfigError::InvalidValue {
                        setting: "request_timeout",
                        value: "0s".to_owned(),
                        expected: "expected a timeout longer than zero".to_owned(),
                    });
                }
                Some(t) => t,
                None => DEFAULT_REQUEST_TIMEOUT,
            },
        })
    }
}

/// Checks `host:port` and returns the host (brackets kept off IPv6 literals).
fn parse_host_port(value: &str) -> Result<&str, ConfigError> {
    let invalid = |expected: &str| ConfigError::InvalidValue {
        setting: env::HOST_PORT,
        value: value.to_owned(),
        expected: expected.to_owned(),
    };
    if value.contains("://") {
        return Err(invalid(
            "expected `host:port` without a scheme, such as `127.0.0.1:7070` (TLS is set by HATCHET_CLIENT_TLS_STRATEGY)",
        ));
    }
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected `host:port`, such as `127.0.0.1:7070`"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(invalid(
            "expected `host:port` with a host name or IP address",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(host),
        _ => Err(invalid(
            "expected a port number between 1 and 65535 after the `:`",
        )),
    }
}

fn parse_bool(setting: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(_) => Err(ConfigError::InvalidValue {
            setting,
            value: value.unwrap_or_default(),
            expected: "expected true or false".to_owned(),
        }),
    }
}

fn parse_size(setting: &'static str, value: Option<String>) -> Result<usize, ConfigError> {
    match value {
        None => Ok(DEFAULT_MAX_MESSAGE_SIZE),
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::InvalidValue {
                setting,
                value: raw,
                expected: "expected a positive number of bytes, such as 4194304".to_owned(),
            }),
        },
    }
}

#[cfg(test)]
mod tests;
