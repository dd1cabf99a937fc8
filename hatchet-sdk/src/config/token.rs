//! Hatchet API tokens: JWTs whose claims name the tenant and the engine's addresses.
//!
//! Clients never verify the signature (the engine does); they read the claims to fill in
//! defaults. Reference §4.1.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;

/// Why a token could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is empty.
    #[error(
        "HATCHET_CLIENT_TOKEN is empty: create an API token in the Hatchet dashboard or with `hatchet-admin token create`"
    )]
    Empty,
    /// The token does not have the `header.claims.signature` shape.
    #[error("HATCHET_CLIENT_TOKEN is not a JWT: expected three dot-separated parts, found {parts}")]
    NotJwt {
        /// How many dot-separated parts the token has.
        parts: usize,
    },
    /// The claims segment is not base64url.
    #[error("HATCHET_CLIENT_TOKEN is not a JWT: its claims segment is not base64url ({reason})")]
    BadBase64 {
        /// The decoder's message.
        reason: String,
    },
    /// The claims segment is not a JSON object of the expected shape.
    #[error(
        "HATCHET_CLIENT_TOKEN is not a Hatchet token: its claims are not a JSON object ({reason})"
    )]
    NotJson {
        /// The parser's message.
        reason: String,
    },
    /// A claim the SDK needs is missing or empty.
    #[error("HATCHET_CLIENT_TOKEN has no `{claim}` claim: it is not a Hatchet API token")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// The token's `exp` lies in the past.
    #[error("HATCHET_CLIENT_TOKEN expired at unix time {expired_at}: create a new API token")]
    Expired {
        /// The `exp` claim (seconds since the Unix epoch).
        expired_at: u64,
    },
}

/// An API token and the claims read from it. `Debug` and `Display` never show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    raw: String,
    claims: TokenClaims,
}

/// The claims of a Hatchet API token that configure a client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokenClaims {
    /// The tenant id.
    #[serde(default)]
    pub sub: String,
    /// The engine's REST base URL.
    #[serde(default)]
    pub server_url: Option<String>,
    /// The engine's gRPC address (`host:port`).
    #[serde(default)]
    pub grpc_broadcast_address: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default)]
    pub exp: Option<u64>,
}

impl ApiToken {
    /// Reads the claims of `raw`, checking its shape and expiry but not its signature.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        Self::parse_at(raw, SystemTime::now())
    }

    /// Like [`ApiToken::parse`], judging expiry at `now`.
    pub fn parse_at(raw: &str, now: SystemTime) -> Result<Self, TokenError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TokenError::Empty);
        }
        let parts: Vec<&str> = raw.split('.').collect();
        if parts.len() != 3 {
            return Err(TokenError::NotJwt { parts: parts.len() });
        }
        // JWTs use unpadded base64url, but tolerate padding as Python's decoder does.
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1].trim_end_matches('='))
            .map_err(|e| TokenError::BadBase64 {
                reason: e.to_string(),
            })?;
        let claims: TokenClaims =
            serde_json::from_slice(&bytes).map_err(|e| TokenError::NotJson {
                reason: e.to_string(),
            })?;
        if claims.sub.trim().is_empty() {
            return Err(TokenError::MissingClaim { claim: "sub" });
        }
        if let Some(exp) = claims.exp {
            let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            if exp <= now {
                return Err(TokenError::Expired { expired_at: exp });
            }
        }
        Ok(Self {
            raw: raw.to_owned(),
            claims,
        })
    }

    /// The claims read from the token.
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }

    /// The token text, for the `authorization` header. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn encode(claims: &serde_json::Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            b64.encode(br#"{"alg":"ES256","kid":"k"}"#),
            b64.encode(claims.to_string()),
            b64.encode(b"signature")
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_hatchet_claims() {
        let raw = encode(&serde_json::json!({
            "sub": "707d0855-80ab-4e1f-a156-f1c4546cbf52",
            "server_url": "http://localhost:8080",
            "grpc_broadcast_address": "127.0.0.1:7070",
            "exp": 4102444800u64,
            "iss": "http://localhost:8080",
        }));
        let token = ApiToken::parse_at(&raw, at(1_700_000_000)).expect("valid token");
        assert_eq!(token.claims().sub, "707d0855-80ab-4e1f-a156-f1c4546cbf52");
        assert_eq!(
            token.claims().server_url.as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            token.claims().grpc_broadcast_address.as_deref(),
            Some("127.0.0.1:7070")
        );
        assert_eq!(token.expose_secret(), raw);
    }

    #[test]
    fn padded_claims_segment_is_accepted() {
        let raw = encode(&serde_json::json!({"sub": "t"}));
        let mut parts: Vec<String> = raw.split('.').map(str::to_owned).collect();
        while !parts[1].len().is_multiple_of(4) {
            parts[1].push('=');
        }
        assert!(ApiToken::parse(&parts.join(".")).is_ok());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let raw = encode(&serde_json::json!({"sub": "tenant"}));
        let token = ApiToken::parse(&raw).expect("valid token");
        let shown = format!("{token:?}");
        assert!(!shown.contains(&raw), "{shown}");
        assert!(
            !shown.contains(raw.split('.').nth(1).expect("claims")),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn rejects_empty_token() {
        assert_eq!(ApiToken::parse("  "), Err(TokenError::Empty));
    }

    #[test]
    fn rejects_token_without_three_parts() {
        assert_eq!(
            ApiToken::parse("eyabc.def"),
            Err(TokenError::NotJwt { parts: 2 })
        );
        let err = ApiToken::parse("not-a-token").unwrap_err();
        assert!(
            err.to_string()
                .contains("expected three dot-separated parts"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_base64() {
        let err = ApiToken::parse("eyJh.***.sig").unwrap_err();
        assert!(matches!(err, TokenError::BadBase64 { .. }), "{err:?}");
    }

    #[test]
    fn rejects_claims_that_are_not_json() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let raw = format!("eyJh.{}.sig", b64.encode("not json"));
        assert!(matches!(
            ApiToken::parse(&raw),
            Err(TokenError::NotJson { .. })
        ));
        let raw = format!("eyJh.{}.sig", b64.encode("[1,2]"));
        assert!(matches!(
            ApiToken::parse(&raw),
            Err(TokenError::NotJson { .. })
        ));
    }

    #[test]
    fn rejects_missing_or_empty_sub() {
        let raw = encode(&serde_json::json!({"server_url": "http://x"}));
        assert_eq!(
            ApiToken::parse(&raw),
            Err(TokenError::MissingClaim { claim: "sub" })
        );
        let raw = encode(&serde_json::json!({"sub": ""}));
        assert_eq!(
            ApiToken::parse(&raw),
            Err(TokenError::MissingClaim { claim: "sub" })
        );
    }

    #[test]
    fn rejects_expired_token() {
        let raw = encode(&serde_json::json!({"sub": "t", "exp": 1_000u64}));
        assert_eq!(
            ApiToken::parse_at(&raw, at(2_000)),
            Err(TokenError::Expired { expired_at: 1_000 })
        );
        assert!(ApiToken::parse_at(&raw, at(999)).is_ok());
    }
}
