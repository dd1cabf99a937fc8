//! TLS and mutual TLS against a server with a certificate made for the test.

use std::path::{Path, PathBuf};

use hatchet_rs::{Client, ClientConfig, Error, TlsStrategy};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::recorder::{TestServer, token};
use crate::within;

struct Pki {
    dir: PathBuf,
    server: Identity,
    ca_pem: String,
}

/// A CA, a server certificate for `localhost` and a client certificate, all signed by the CA.
fn pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("hatchet-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let issue = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = issue(vec!["localhost".to_owned()]);
    let (client_cert, client_key) = issue(vec!["worker".to_owned()]);
    let ca_pem = ca.pem();
    std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write");
    std::fs::write(dir.join("client.pem"), client_cert).expect("write");
    std::fs::write(dir.join("client.key"), client_key).expect("write");
    Pki {
        dir,
        server: Identity::from_pem(server_cert, server_key),
        ca_pem,
    }
}

fn client(server: &TestServer, strategy: TlsStrategy, dir: &Path, with_identity: bool) -> Client {
    let mut builder = ClientConfig::builder()
        .token(token())
        .host_port(format!("localhost:{}", server.addr.port()))
        .tls_strategy(strategy)
        .tls_root_ca_file(dir.join("ca.pem"));
    if with_identity {
        builder = builder.tls_client_cert_files(dir.join("client.pem"), dir.join("client.key"));
    }
    Client::new(builder.build().expect("config")).expect("client")
}

#[tokio::test]
async fn tls_with_a_custom_root_ca() {
    let pki = pki("tls");
    let tls = ServerTlsConfig::new().identity(pki.server.clone());
    let server = TestServer::start_with(Server::builder().tls_config(tls).expect("tls")).await;
    let version = within(client(&server, TlsStrategy::Tls, &pki.dir, false).engine_version()).await;
    assert_eq!(version.expect("TLS call"), "v0.104.7");

    // Plaintext to a TLS server fails as a connection error, not a hang or a panic.
    let plain = server.client();
    assert!(within(plain.engine_version()).await.is_err());
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[tokio::test]
async fn server_name_must_match_the_certificate() {
    let pki = pki("name");
    let tls = ServerTlsConfig::new().identity(pki.server.clone());
    let server = TestServer::start_with(Server::builder().tls_config(tls).expect("tls")).await;
    let config = ClientConfig::builder()
        .token(token())
        .host_port(format!("localhost:{}", server.addr.port()))
        .tls_root_ca_file(pki.dir.join("ca.pem"))
        .tls_server_name("not-the-server.example")
        .build()
        .expect("config");
    let err = within(Client::new(config).expect("client").engine_version())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = pki("mtls");
    let tls = ServerTlsConfig::new()
        .identity(pki.server.clone())
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    let server = TestServer::start_with(Server::builder().tls_config(tls).expect("tls")).await;

    let with_cert = client(&server, TlsStrategy::MTls, &pki.dir, true);
    assert_eq!(
        within(with_cert.engine_version()).await.expect("mTLS call"),
        "v0.104.7"
    );

    let without_cert = client(&server, TlsStrategy::Tls, &pki.dir, false);
    assert!(
        within(without_cert.engine_version()).await.is_err(),
        "the server requires a client certificate"
    );
    std::fs::remove_dir_all(&pki.dir).ok();
}
