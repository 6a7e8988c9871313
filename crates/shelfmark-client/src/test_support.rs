//! What the crate's unit tests share: servers on loopback that answer as a misconfigured
//! deployment would, or with one canned answer, and a certificate authority of their own.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A plain HTTP server on loopback that answers anything with a 400 (what an `https://`
/// address pointed at a server without TLS meets).
pub(crate) async fn plain_http_server() -> std::net::SocketAddr {
    canned_server("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        .await
        .0
}

/// A plain HTTP server on loopback that answers every request with `response` (a whole
/// HTTP/1.1 answer) and hands over the head of each request it read.
pub(crate) async fn canned_server(
    response: impl Into<String>,
) -> (std::net::SocketAddr, UnboundedReceiver<String>) {
    let response: String = response.into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (addr, rx)
}

/// A whole HTTP/1.1 answer with a problem+json body of `kind` and a `Retry-After`.
pub(crate) fn problem_answer(status: u16, reason: &str, kind: &str, retry_after: u64) -> String {
    let body = format!(
        r#"{{"type":"/problems/{kind}","title":"{kind}","status":{status},"detail":"try again later"}}"#
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nretry-after: {retry_after}\r\n\
         content-type: application/problem+json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A certificate authority made for one test, and the server certificates it signs.
pub(crate) struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    /// Its certificate, in a PEM file (what `--ca-cert` takes).
    pub(crate) pem_file: tempfile::NamedTempFile,
}

/// A server certificate and its key, as rustls serves them.
pub(crate) struct ServerCert {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test Library CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("a key");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, key).expect("a CA");
        let mut pem_file = tempfile::NamedTempFile::new().expect("a file");
        std::io::Write::write_all(&mut pem_file, issuer.pem().as_bytes()).expect("writes");
        TestCa { issuer, pem_file }
    }

    /// A certificate for `name`, valid now.
    pub(crate) fn server_cert(&self, name: &str) -> ServerCert {
        self.cert(name, |_| {})
    }

    /// A certificate for `name` that expired on 2021-01-01.
    pub(crate) fn expired_cert(&self, name: &str) -> ServerCert {
        self.cert(name, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }

    fn cert(&self, name: &str, adjust: impl FnOnce(&mut rcgen::CertificateParams)) -> ServerCert {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        adjust(&mut params);
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("signs");
        ServerCert {
            chain: vec![cert.der().clone()],
            key: rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

/// A TLS server on loopback presenting `cert`, answering every request over HTTP/1.1 with
/// a signed-in session (so that a client that trusts it signs in).
pub(crate) async fn tls_server(cert: ServerCert) -> std::net::SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(cert.chain, cert.key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"token":"t","user":{"id":"01890000-0000-7000-8000-000000000001","name":"librarian","role":"librarian"}}"#;
                let answer = format!(
                    "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}
