//! TLS settings: strategy, trust roots, client identity and server name.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::{ConfigError, env};

/// How the client secures its connection to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsStrategy {
    /// Plaintext HTTP/2, for a local engine started with `SERVER_GRPC_INSECURE=true`.
    None,
    /// TLS, verifying the server against the system roots or the configured root CA.
    Tls,
    /// Mutual TLS: TLS plus a client certificate and key.
    MTls,
}

impl TlsStrategy {
    /// The value of `HATCHET_CLIENT_TLS_STRATEGY` naming this strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsStrategy::None => "none",
            TlsStrategy::Tls => "tls",
            TlsStrategy::MTls => "mtls",
        }
    }
}

impl fmt::Display for TlsStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsStrategy {
    type Err = ConfigError;

    /// Parses `none`, `tls` or `mtls` (any case). Unlike the Python SDK, which treats any
    /// unknown value as plaintext, an unknown value is an error: a typo must not turn TLS off.
    fn from_str(raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(TlsStrategy::None),
            "tls" => Ok(TlsStrategy::Tls),
            "mtls" => Ok(TlsStrategy::MTls),
            _ => Err(ConfigError::InvalidValue {
                setting: env::TLS_STRATEGY,
                value: raw.to_owned(),
                expected: "expected one of `tls`, `mtls` or `none`".to_owned(),
            }),
        }
    }
}

/// TLS settings with every file already read, so a missing file fails at construction.
#[derive(Clone)]
pub struct TlsConfig {
    strategy: TlsStrategy,
    server_name: String,
    root_ca_pem: Option<Vec<u8>>,
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("strategy", &self.strategy)
            .field("server_name", &self.server_name)
            .field("custom_root_ca", &self.root_ca_pem.is_some())
            .field("client_identity", &self.identity_pem.is_some())
            .finish()
    }
}

impl TlsConfig {
    pub(super) fn load(
        strategy: TlsStrategy,
        server_name: String,
        root_ca_file: Option<PathBuf>,
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let root_ca_pem = match (strategy, root_ca_file) {
            (TlsStrategy::None, _) | (_, None) => None,
            (_, Some(path)) => Some(read(env::TLS_ROOT_CA_FILE, path)?),
        };
        let identity_pem = if strategy == TlsStrategy::MTls {
            let cert = cert_file.ok_or(ConfigError::MissingTlsSetting {
                setting: env::TLS_CERT_FILE,
                strategy,
            })?;
            let key = key_file.ok_or(ConfigError::MissingTlsSetting {
                setting: env::TLS_KEY_FILE,
                strategy,
            })?;
            Some((
                read(env::TLS_CERT_FILE, cert)?,
                read(env::TLS_KEY_FILE, key)?,
            ))
        } else {
            None
        };
        Ok(Self {
            strategy,
            server_name,
            root_ca_pem,
            identity_pem,
        })
    }

    /// The strategy.
    pub fn strategy(&self) -> TlsStrategy {
        self.strategy
    }
    /// The name the server certificate is verified against.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }
    /// The PEM root CA bundle, if one was configured.
    pub fn root_ca_pem(&self) -> Option<&[u8]> {
        self.root_ca_pem.as_deref()
    }
    /// The PEM client certificate and key, for mutual TLS.
    pub fn identity_pem(&self) -> Option<(&[u8], &[u8])> {
        self.identity_pem
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice()))
    }
}

fn read(setting: &'static str, path: PathBuf) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&path).map_err(|source| ConfigError::TlsFile {
        setting,
        path,
        source,
    })
}
