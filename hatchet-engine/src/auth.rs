//! API tokens in Hatchet's format, minted and checked by the engine (reference §4.1).
//!
//! The real engine signs with ES256 through Tink; clients never check the signature, so this
//! engine signs with HMAC-SHA256 and a per-engine random secret. A token is accepted only if
//! its signature, issuer, audience, `server_url`, tenant, `token_id` and expiry all match this
//! engine, so a token from another engine is rejected like the real engine rejects it.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::{Request, Status};

type HmacSha256 = Hmac<Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// How long minted tokens live: the engine's default, 90 days.
const TOKEN_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    server_url: String,
    grpc_broadcast_address: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    token_id: String,
}

/// The engine's signing secret and the tokens it issued.
#[derive(Clone)]
pub(crate) struct Auth {
    secret: [u8; 32],
    tenant_id: String,
    server_url: String,
    token_ids: HashSet<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("secret", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The REST address the engine's tokens name.
    pub(crate) fn server_url(&self) -> &str {
        &self.server_url
    }

    pub(crate) fn new(tenant_id: String, server_url: String) -> Self {
        Self {
            secret: rand::random(),
            tenant_id,
            server_url,
            token_ids: HashSet::new(),
        }
    }

    /// Revokes every token issued so far.
    pub(crate) fn revoke_all(&mut self) {
        self.token_ids.clear();
    }

    /// Mints a token whose claims point a client at `grpc_address`.
    pub(crate) fn mint(&mut self, grpc_address: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let token_id = uuid::Uuid::new_v4().to_string();
        self.token_ids.insert(token_id.clone());
        let claims = Claims {
            sub: self.tenant_id.clone(),
            server_url: self.server_url.clone(),
            grpc_broadcast_address: grpc_address.to_owned(),
            iss: self.server_url.clone(),
            aud: self.server_url.clone(),
            exp: now + TOKEN_LIFETIME.as_secs(),
            iat: now,
            token_id,
        };
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT","kid":"hatchet-test-engine"}"#);
        let body = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{body}");
        let signature = B64.encode(self.sign(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
        <HmacSha256 as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    /// Checks a raw token; `None` when any check fails.
    pub(crate) fn verify(&self, token: &str) -> Option<()> {
        let mut parts = token.split('.');
        let (header, body, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signature = B64.decode(signature.trim_end_matches('=')).ok()?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(body.trim_end_matches('=')).ok()?).ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let valid = claims.sub == self.tenant_id
            && claims.iss == self.server_url
            && claims.aud == self.server_url
            && claims.server_url == self.server_url
            && claims.exp > now
            && self.token_ids.contains(&claims.token_id);
        valid.then_some(())
    }

    /// Checks the `authorization: bearer <token>` header of a call (scheme case-insensitive,
    /// as go-grpc-middleware's `AuthFromMD`).
    pub(crate) fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let invalid = || Status::unauthenticated("invalid auth token");
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(invalid)?;
        let (scheme, token) = header.split_once(' ').ok_or_else(invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(invalid());
        }
        self.verify(token.trim()).ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new("tenant".into(), "http://localhost:7077".into())
    }

    #[test]
    fn minted_tokens_verify_and_carry_hatchet_claims() {
        // The SDK's own token parser reads these tokens in `tests/engine/auth.rs`; here the
        // claims are read raw, as any SDK would.
        let mut auth = auth();
        let token = auth.mint("127.0.0.1:7077");
        assert!(auth.verify(&token).is_some());
        let payload = token.split('.').nth(1).expect("three-part token");
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(payload).expect("base64url payload"))
                .expect("JSON claims");
        assert_eq!(claims["sub"], "tenant");
        assert_eq!(claims["grpc_broadcast_address"], "127.0.0.1:7077");
        assert_eq!(claims["server_url"], "http://localhost:7077");
    }

    #[test]
    fn tampered_and_foreign_tokens_are_rejected() {
        let mut auth = auth();
        let token = auth.mint("127.0.0.1:1");
        let mut other = Auth::new("tenant".into(), "http://localhost:7077".into());
        let foreign = other.mint("127.0.0.1:1");
        assert!(auth.verify(&foreign).is_none());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64.encode(br#"{"sub":"other"}"#);
        parts[1] = &forged;
        assert!(auth.verify(&parts.join(".")).is_none());
        assert!(auth.verify("not.a.token").is_none());
        assert!(auth.verify("").is_none());
    }
}
