//! The sync engine against the real server run as a service: over HTTPS with a library's own
//! certificate authority (trusted with its CA file, HTTP/2 by ALPN; each way a certificate is
//! refused said plainly: untrusted, for another name, expired), signing out, throttled
//! sign-ins, and a server shedding load (nothing lost from the outbox).

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use shelfmark_client::{CertificateProblem, Client, ClientError, SignedOut};
use shelfmark_core::wire::Role;
use shelfmark_server::{AppState, Config, TlsFiles, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const PASSWORD: &str = "correct horse battery staple";

/// A library's own CA (its PEM file is what `--ca-cert` takes) and server certificates it signs.
struct LibraryCa {
    issuer: Issuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl LibraryCa {
    fn new() -> anyhow::Result<LibraryCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("library-ca.pem"), cert.pem())?;
        Ok(LibraryCa {
            issuer: Issuer::new(params, key),
            dir,
        })
    }

    fn pem_file(&self) -> PathBuf {
        self.dir.path().join("library-ca.pem")
    }

    /// The server's certificate and key files: for `name`, valid now unless `expired`.
    fn server_files(&self, name: &str, expired: bool) -> anyhow::Result<TlsFiles> {
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let files = TlsFiles {
            cert: self.dir.path().join(format!("{name}-{expired}.pem")),
            key: self.dir.path().join(format!("{name}-{expired}.key")),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        Ok(files)
    }
}

/// The real server on a loopback port over a fresh database with a librarian: its address
/// (`https://localhost:…` with TLS), its state, and what stops it.
struct LocalServer {
    url: String,
    state: AppState,
    _stop: oneshot::Sender<()>,
    _db: tempfile::TempDir,
}

impl LocalServer {
    async fn start(config: Config) -> anyhow::Result<LocalServer> {
        let db = tempfile::tempdir()?;
        let url = format!("sqlite://{}", db.path().join("server.db").display());
        let store = shelfmark_server::store::Store::connect(&url).await?;
        shelfmark_server::auth::add_user(&store, "librarian", Role::Librarian, PASSWORD).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let url = match config.tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let state = AppState::new(store, config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Ok(LocalServer {
            url,
            state,
            _stop: stop,
            _db: db,
        })
    }

    async fn https(files: TlsFiles) -> anyhow::Result<LocalServer> {
        LocalServer::start(Config {
            tls: Some(files),
            ..Config::default()
        })
        .await
    }
}

fn refusal(result: Result<shelfmark_core::wire::UserInfo, ClientError>) -> CertificateProblem {
    match result {
        Err(ClientError::Certificate { problem, .. }) => problem,
        other => panic!("expected a refused certificate, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_given_the_librarys_ca_file_syncs_over_https_with_http2() -> anyhow::Result<()> {
    let ca = LibraryCa::new()?;
    let server = LocalServer::https(ca.server_files("localhost", false)?).await?;
    let url = server.url.clone();
    let mut client = Client::trusting(&url, Some(&ca.pem_file()))?;
    client.sign_in("librarian", PASSWORD).await?;
    assert_eq!(
        client.protocol().await?,
        shelfmark_client::HttpVersion::HTTP_2,
        "ALPN chose h2"
    );
    let cache = super::store();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let report = client.sync(&cache, &tx).await?;
    assert!(report.pull.last_seq >= 0);
    Ok(())
}

#[tokio::test]
async fn without_the_ca_file_the_librarys_certificate_is_plainly_untrusted() -> anyhow::Result<()> {
    let ca = LibraryCa::new()?;
    let server = LocalServer::https(ca.server_files("localhost", false)?).await?;
    let url = server.url.clone();
    let e = Client::new(&url)?.sign_in("librarian", PASSWORD).await;
    let problem = refusal(e);
    assert_eq!(problem, CertificateProblem::Untrusted);
    assert!(problem.to_string().contains("untrusted"), "{problem}");
    Ok(())
}

#[tokio::test]
async fn a_certificate_for_another_name_says_whose_it_is() -> anyhow::Result<()> {
    let ca = LibraryCa::new()?;
    let server = LocalServer::https(ca.server_files("other.example", false)?).await?;
    let url = server.url.clone();
    let e = Client::trusting(&url, Some(&ca.pem_file()))?
        .sign_in("librarian", PASSWORD)
        .await;
    assert_eq!(
        refusal(e).to_string(),
        "the server's certificate is for other.example, not localhost"
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_certificate_says_it_expired() -> anyhow::Result<()> {
    let ca = LibraryCa::new()?;
    let server = LocalServer::https(ca.server_files("localhost", true)?).await?;
    let url = server.url.clone();
    let e = Client::trusting(&url, Some(&ca.pem_file()))?
        .sign_in("librarian", PASSWORD)
        .await;
    assert_eq!(
        refusal(e).to_string(),
        "the server's certificate expired on 2021-01-01"
    );
    Ok(())
}

#[tokio::test]
async fn after_signing_out_the_token_answers_401() -> anyhow::Result<()> {
    let server = LocalServer::start(Config::default()).await?;
    let mut client = Client::new(&server.url)?;
    client.sign_in("librarian", PASSWORD).await?;
    let token = client.token().map(str::to_owned).expect("a token");
    assert_eq!(client.sign_out().await, SignedOut::Ended);
    assert_eq!(client.token(), None);
    let ended = Client::with_token(&server.url, &token, "librarian")?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let pulled = ended.pull(&super::store(), &tx).await;
    assert!(
        matches!(pulled, Err(ClientError::Unauthorized(_))),
        "{pulled:?}"
    );
    // Signing out again with the ended token is no trouble.
    assert_eq!(ended.clone().sign_out().await, SignedOut::AlreadyEnded);
    Ok(())
}

#[tokio::test]
async fn after_five_failed_sign_ins_the_sixth_says_how_long_to_wait_even_with_the_password()
-> anyhow::Result<()> {
    let server = LocalServer::start(Config::default()).await?;
    let mut client = Client::new(&server.url)?;
    for _ in 0..5 {
        let e = client.sign_in("librarian", "wrong").await;
        assert!(matches!(e, Err(ClientError::Unauthorized(_))), "{e:?}");
    }
    let e = client
        .sign_in("librarian", PASSWORD)
        .await
        .expect_err("throttled");
    assert!(matches!(e, ClientError::TooManyAttempts { .. }), "{e:?}");
    let message = e.sign_in_message(&server.url);
    assert!(
        message.starts_with(
            "Too many failed sign-ins for this name from this computer: try again in "
        ) && message.ends_with(" minutes."),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn a_server_shedding_load_is_tried_again_later_and_the_outbox_keeps_the_edit()
-> anyhow::Result<()> {
    let server = LocalServer::start(Config {
        max_in_flight: 1,
        ..Config::default()
    })
    .await?;
    let mut client = Client::new(&server.url)?;
    client.sign_in("librarian", PASSWORD).await?;
    let cache = super::store();
    cache.lock().expect("cache").set_user(Some("librarian"));
    let book: shelfmark_core::Book = serde_json::from_value(serde_json::json!({
        "id": uuid::Uuid::now_v7(),
        "isbn": "9780306406157",
        "title": "Written While the Server Was Busy",
    }))?;
    cache.lock().expect("cache").save(&book)?;

    // Every request in flight: the server answers 503 overloaded with Retry-After.
    let busy = std::sync::Arc::clone(&server.state.in_flight)
        .acquire_owned()
        .await?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let e = client.sync(&cache, &tx).await.expect_err("overloaded");
    assert!(e.is_retryable(), "{e:?}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert_eq!(cache.lock().expect("cache").sync_counts()?.pending_edits, 1);

    drop(busy);
    let report = client.sync(&cache, &tx).await?;
    assert_eq!(report.push.pushed, 1);
    assert_eq!(cache.lock().expect("cache").sync_counts()?.pending_edits, 0);
    Ok(())
}
