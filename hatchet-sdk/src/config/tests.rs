use std::collections::HashMap;

use super::token::tests::encode;
use super::*;

fn token_with(claims: serde_json::Value) -> String {
    encode(&claims)
}

fn full_token() -> String {
    token_with(serde_json::json!({
        "sub": "tenant-from-token",
        "server_url": "http://engine.local:8080",
        "grpc_broadcast_address": "engine.local:7077",
        "exp": 4102444800u64,
    }))
}

fn from_env(vars: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ClientConfigBuilder::from_lookup(|name| map.get(name).cloned()).build()
}

#[test]
fn token_claims_fill_in_unset_settings() {
    let token = full_token();
    let config = from_env(&[(env::TOKEN, &token)]).expect("config");
    assert_eq!(config.tenant_id(), "tenant-from-token");
    assert_eq!(config.host_port(), "engine.local:7077");
    assert_eq!(config.server_url(), "http://engine.local:8080");
    assert_eq!(config.tls().strategy(), TlsStrategy::Tls);
    assert_eq!(config.tls().server_name(), "engine.local");
    assert!(config.namespace().is_empty());
    assert_eq!(config.max_send_message_size(), 4 * 1024 * 1024);
    assert_eq!(config.max_recv_message_size(), 4 * 1024 * 1024);
}

#[test]
fn defaults_apply_when_token_has_no_addresses() {
    let token = token_with(serde_json::json!({"sub": "t"}));
    let config = from_env(&[(env::TOKEN, &token)]).expect("config");
    assert_eq!(config.host_port(), DEFAULT_HOST_PORT);
    assert_eq!(config.server_url(), DEFAULT_SERVER_URL);
    assert_eq!(config.tls().server_name(), "localhost");
}

#[test]
fn environment_overrides_token_claims() {
    let token = full_token();
    let config = from_env(&[
        (env::TOKEN, &token),
        (env::TENANT_ID, "explicit-tenant"),
        (env::HOST_PORT, "127.0.0.1:7070"),
        (env::SERVER_URL, "http://127.0.0.1:8080"),
        (env::NAMESPACE, "Staging"),
        (env::TLS_STRATEGY, "NONE"),
        (env::TLS_SERVER_NAME, "hatchet.internal"),
        (env::MAX_SEND_MESSAGE_LENGTH, "1024"),
        (env::MAX_RECV_MESSAGE_LENGTH, "2048"),
    ])
    .expect("config");
    assert_eq!(config.tenant_id(), "explicit-tenant");
    assert_eq!(config.host_port(), "127.0.0.1:7070");
    assert_eq!(config.server_url(), "http://127.0.0.1:8080");
    assert_eq!(config.namespace().as_str(), "staging_");
    assert_eq!(config.tls().strategy(), TlsStrategy::None);
    assert_eq!(config.tls().server_name(), "hatchet.internal");
    assert_eq!(config.max_send_message_size(), 1024);
    assert_eq!(config.max_recv_message_size(), 2048);
}

#[test]
fn empty_environment_values_count_as_unset() {
    let token = full_token();
    let config = from_env(&[
        (env::TOKEN, &token),
        (env::HOST_PORT, ""),
        (env::NAMESPACE, " "),
    ])
    .expect("config");
    assert_eq!(config.host_port(), "engine.local:7077");
    assert!(config.namespace().is_empty());
}

#[test]
fn builder_overrides_environment() {
    let token = full_token();
    let map: HashMap<&str, String> = [(env::HOST_PORT, "env-host:1".to_owned())].into();
    let config = ClientConfigBuilder::from_lookup(|k| map.get(k).cloned())
        .token(token)
        .host_port("builder-host:2")
        .tls_strategy(TlsStrategy::None)
        .max_send_message_size(10)
        .build()
        .expect("config");
    assert_eq!(config.host_port(), "builder-host:2");
    assert_eq!(config.max_send_message_size(), 10);
}

#[test]
fn missing_token_says_which_variable_to_set() {
    let err = from_env(&[]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingToken));
    assert!(
        err.to_string().contains("HATCHET_CLIENT_TOKEN is not set"),
        "{err}"
    );
}

#[test]
fn malformed_token_is_reported() {
    let err = from_env(&[(env::TOKEN, "abc")]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Token(TokenError::NotJwt { parts: 1 })),
        "{err:?}"
    );
}

#[test]
fn unknown_tls_strategy_is_rejected() {
    let token = full_token();
    let err = from_env(&[(env::TOKEN, &token), (env::TLS_STRATEGY, "insecure")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HATCHET_CLIENT_TLS_STRATEGY is `insecure`"),
        "{text}"
    );
    assert!(text.contains("`tls`, `mtls` or `none`"), "{text}");
}

#[test]
fn mtls_requires_certificate_and_key() {
    let token = full_token();
    let err = from_env(&[(env::TOKEN, &token), (env::TLS_STRATEGY, "mtls")]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::MissingTlsSetting {
                setting: env::TLS_CERT_FILE,
                ..
            }
        ),
        "{err:?}"
    );
    let err = from_env(&[
        (env::TOKEN, &token),
        (env::TLS_STRATEGY, "mtls"),
        (env::TLS_CERT_FILE, "/nonexistent/cert.pem"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::MissingTlsSetting {
                setting: env::TLS_KEY_FILE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unreadable_tls_file_names_setting_and_path() {
    let token = full_token();
    let err = from_env(&[
        (env::TOKEN, &token),
        (env::TLS_ROOT_CA_FILE, "/nonexistent/ca.pem"),
    ])
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HATCHET_CLIENT_TLS_ROOT_CA_FILE"), "{text}");
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}

#[test]
fn tls_files_are_read_at_construction() {
    let dir = std::env::temp_dir().join(format!("hatchet-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca, b"CA").expect("write");
    std::fs::write(&cert, b"CERT").expect("write");
    std::fs::write(&key, b"KEY").expect("write");
    let config = ClientConfig::builder()
        .token(full_token())
        .tls_strategy(TlsStrategy::MTls)
        .tls_root_ca_file(&ca)
        .tls_client_cert_files(&cert, &key)
        .build()
        .expect("config");
    assert_eq!(config.tls().root_ca_pem(), Some(&b"CA"[..]));
    assert_eq!(
        config.tls().identity_pem(),
        Some((&b"CERT"[..], &b"KEY"[..]))
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn plaintext_ignores_tls_files() {
    let config = ClientConfig::builder()
        .token(full_token())
        .tls_strategy(TlsStrategy::None)
        .tls_root_ca_file("/nonexistent/ca.pem")
        .build()
        .expect("plaintext needs no files");
    assert_eq!(config.tls().root_ca_pem(), None);
}

#[test]
fn host_port_must_be_host_and_port() {
    let token = full_token();
    for (value, fragment) in [
        ("http://localhost:7070", "without a scheme"),
        ("localhost", "expected `host:port`"),
        (":7070", "with a host name"),
        ("localhost:http", "port number"),
        ("localhost:0", "port number"),
        ("localhost:70000", "port number"),
    ] {
        let err = from_env(&[(env::TOKEN, &token), (env::HOST_PORT, value)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HATCHET_CLIENT_HOST_PORT"), "{value}: {text}");
        assert!(text.contains(fragment), "{value}: {text}");
    }
}

#[test]
fn ipv6_host_port_gives_bare_server_name() {
    let config =
        from_env(&[(env::TOKEN, &full_token()), (env::HOST_PORT, "[::1]:7070")]).expect("config");
    assert_eq!(config.tls().server_name(), "::1");
}

#[test]
fn message_sizes_must_be_positive_numbers() {
    let token = full_token();
    for value in ["0", "-1", "4MB"] {
        let err =
            from_env(&[(env::TOKEN, &token), (env::MAX_SEND_MESSAGE_LENGTH, value)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("HATCHET_CLIENT_GRPC_MAX_SEND_MESSAGE_LENGTH"),
            "{err}"
        );
    }
    let err = from_env(&[(env::TOKEN, &token), (env::MAX_RECV_MESSAGE_LENGTH, "x")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("HATCHET_CLIENT_GRPC_MAX_RECV_MESSAGE_LENGTH"),
        "{err}"
    );
}

#[test]
fn debug_output_redacts_the_token() {
    let token = full_token();
    let builder = ClientConfig::builder().token(token.clone());
    assert!(!format!("{builder:?}").contains(&token));
    let config = builder.build().expect("config");
    let shown = format!("{config:?}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn gzip_is_on_unless_disabled() {
    let token = full_token();
    assert!(from_env(&[(env::TOKEN, &token)]).expect("config").gzip());
    let off = from_env(&[
        (env::TOKEN, &token),
        (env::DISABLE_GZIP_COMPRESSION, "true"),
    ])
    .expect("config");
    assert!(!off.gzip());
    let err = from_env(&[
        (env::TOKEN, &token),
        (env::DISABLE_GZIP_COMPRESSION, "maybe"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("HATCHET_CLIENT_DISABLE_GZIP_COMPRESSION is `maybe`"),
        "{err}"
    );
    assert!(
        !ClientConfig::builder()
            .token(token)
            .gzip(false)
            .build()
            .expect("config")
            .gzip()
    );
}
