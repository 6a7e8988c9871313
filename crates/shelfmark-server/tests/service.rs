//! The server as a service an admin runs, over a real listener: HTTPS with a library's own CA
//! (HTTP/2 by ALPN), the health endpoints, throttled and bounded sign-ins, sign-out, deadlines
//! for slow clients, the bound on requests in flight, cache headers, compression, request ids.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::Server;
use common::{Backend, PASSWORD, TestDb};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER, VARY};
use serde_json::{Value, json};
use shelfmark_server::{AppState, Config, TlsFiles, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server on a loopback port with `config`, its base URL, and what stops it.
async fn start(db: &TestDb, config: Config, scheme: &str) -> (String, oneshot::Sender<()>) {
    let store = db.store_with_staff().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, AppState::new(store, config), async {
        let _ = stopped.await;
    }));
    let host = if scheme == "https" {
        "localhost"
    } else {
        "127.0.0.1"
    };
    (format!("{scheme}://{host}:{port}"), stop)
}

/// A CA of the library's own, and a certificate it signed for `names`.
struct TestPki {
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl TestPki {
    fn new(names: &[&str]) -> (TestPki, TlsFiles) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("signed");
        let dir = tempfile::tempdir().expect("dir");
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write cert");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        (
            TestPki {
                ca_pem: ca_cert.pem(),
                dir,
            },
            files,
        )
    }
}

#[tokio::test]
async fn https_with_the_librarys_own_ca_speaks_http2_and_a_client_without_that_ca_refuses() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (pki, files) = TestPki::new(&["localhost"]);
    let config = Config {
        tls: Some(files),
        ..Config::default()
    };
    let (base, _stop) = start(&db, config, "https").await;
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca");
    let trusting = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    let r = trusting
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"username": "librarian", "password": PASSWORD}))
        .send()
        .await
        .expect("signs in over https");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    let token = token_of(r).await;
    let books = trusting
        .get(format!("{base}/v1/books"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("books");
    assert_eq!(books.status(), StatusCode::OK);

    let http1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca")])
        .http1_only()
        .build()
        .expect("client");
    let r = http1
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("http/1.1 over tls");
    assert_eq!(r.version(), reqwest::Version::HTTP_11);

    // A client that trusts only the system's roots refuses the library's certificate.
    let e = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect_err("an unknown CA is refused");
    let chain = format!("{:?}", anyhow::Error::from(e));
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("unknown issuer"),
        "{chain}"
    );

    // Plain HTTP on the TLS port is no way around it.
    let plain = reqwest::get(format!("{}/healthz", base.replace("https", "http"))).await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));
    drop(pki.dir);
}

#[tokio::test]
async fn health_answers_without_a_token_and_readiness_fails_once_the_database_file_is_gone() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (base, _stop) = start(&db, Config::default(), "http").await;
    let health = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({"status": "ready"})
    );

    let file = db.url.trim_start_matches("sqlite://").to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{file}{suffix}"));
    }
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.expect("problem");
    assert_eq!(body["type"], "/problems/not-ready");
    assert!(
        !body.to_string().contains(&file),
        "no paths in the answer: {body}"
    );
    let health = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK, "the process still serves");
}

#[tokio::test]
async fn readiness_fails_when_postgresql_is_gone() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (base, _stop) = start(&db, Config::default(), "http").await;
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    // The test's schema dropped under the running server: its tables are gone.
    let schema = db
        .url
        .rsplit("search_path%3D")
        .next()
        .expect("schema")
        .to_owned();
    let base_url = std::env::var("SHELFMARK_TEST_POSTGRES_URL").expect("url");
    let admin = sqlx::PgPool::connect(&base_url).await.expect("admin");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .expect("drop");
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// The token of a `201` sign-in answer.
async fn token_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    http.post(format!("{base}/v1/sessions"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("sign-in answered")
}

#[tokio::test]
async fn the_sixth_wrong_password_answers_429_but_the_right_one_from_another_address_signs_in() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (base, _stop) = start(&db, Config::default(), "http").await;
    let from_a = reqwest::Client::builder()
        .local_address(Some([127, 0, 0, 1].into()))
        .build()
        .expect("client");
    for _ in 0..5 {
        let r = sign_in(&from_a, &base, "manager", "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for password in ["wrong password", PASSWORD] {
        let r = sign_in(&from_a, &base, "manager", password).await;
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "whatever the password"
        );
        let wait: u64 = r
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((800..=900).contains(&wait), "{wait}");
        let body: Value = r.json().await.expect("problem");
        assert_eq!(body["type"], "/problems/too-many-attempts");
    }
    // Another name from this address is not throttled.
    let r = sign_in(&from_a, &base, "librarian", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The manager from another address signs in.
    let from_b = reqwest::Client::builder()
        .local_address(Some([127, 0, 0, 2].into()))
        .build()
        .expect("client");
    let r = sign_in(&from_b, &base, "manager", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "a token is never cached"
    );
}

#[tokio::test]
async fn signing_out_ends_that_token_and_no_other() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let other = server.login("librarian").await;
    let out = server
        .http
        .delete(server.url("/v1/sessions/current"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for (token, status) in [
        (&server.token, StatusCode::UNAUTHORIZED),
        (&other, StatusCode::OK),
    ] {
        let r = server
            .http
            .get(server.url("/v1/books"))
            .bearer_auth(token)
            .send()
            .await
            .expect("books");
        assert_eq!(r.status(), status);
    }
    let again = server
        .http
        .delete(server.url("/v1/sessions/current"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("sign out again");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn authenticated_answers_are_private_and_vary_on_authorization_and_carry_a_request_id() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let r = server
        .req(reqwest::Method::GET, "/v1/books")
        .send()
        .await
        .expect("books");
    assert_eq!(
        r.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()),
        Some("private, no-cache")
    );
    let vary: Vec<_> = r
        .headers()
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(vary.iter().any(|v| v.contains("Authorization")), "{vary:?}");
    let made = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id is made")
        .to_owned();
    let again = server
        .req(reqwest::Method::GET, "/v1/books")
        .send()
        .await
        .expect("books");
    let next = again
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id is made");
    assert_ne!(made, next, "each request has its own id");
    assert!(made.len() >= 18 && next.len() >= 18, "{made} {next}");
    let r = server
        .req(reqwest::Method::GET, "/v1/books")
        .header("x-request-id", "desk-7-42")
        .send()
        .await
        .expect("books");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("desk-7-42"),
        "the client's id is kept"
    );
}

#[tokio::test]
async fn large_json_answers_are_compressed_with_gzip_or_brotli_when_the_client_asks() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    for n in 0..30 {
        server.new_book(n, &format!("Book number {n}")).await;
    }
    // A client that decodes nothing itself (the workspace's reqwest may have gzip and brotli
    // on), so the bodies are seen as they crossed the wire.
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .expect("client");
    let feed = || {
        raw.get(server.url("/v1/changes?since=0"))
            .bearer_auth(&server.token)
    };
    let plain = feed().send().await.expect("feed");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();
    for coding in ["gzip", "br"] {
        let r = feed()
            .header("accept-encoding", coding)
            .send()
            .await
            .expect("feed");
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            Some(coding)
        );
        let len = r.bytes().await.expect("body").len();
        assert!(len * 3 < plain_len, "{coding}: {len} of {plain_len} bytes");
    }
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_sent() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let addr = server.base.trim_start_matches("http://").to_owned();
    let token = server.token.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "PUT /v1/books/0196d1a0-0000-7000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nIf-None-Match: *\r\n\
             Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        .expect("head");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).expect("an answer before any of the body");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .expect("task");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// Whether the server has closed `s` (a read sees the end, or the connection reset).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408/503) before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_stalled_clients_neither_block_a_normal_request_nor_stay_open() {
    let _ = rlimit::increase_nofile_limit(8192);
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let config = Config {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        max_in_flight: 4096,
        ..Config::default()
    };
    let (base, _stop) = start(&db, config, "http").await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let token = token_of(sign_in(&http, &base, "librarian", PASSWORD).await).await;

    let stalled = {
        let (addr, token) = (addr.clone(), token.clone());
        tokio::task::spawn_blocking(move || {
            let mut conns = Vec::new();
            for i in 0..1200 {
                let mut s = TcpStream::connect(&addr).expect("connect");
                match i {
                    // 1,000 idle connections that never send a byte.
                    0..1000 => {}
                    // 100 that stop in the middle of their head.
                    1000..1100 => {
                        s.write_all(b"GET /v1/books HTTP/1.1\r\nHost: x\r\nAccept: app")
                            .expect("half a head");
                    }
                    // 100 that send a head and stop in the middle of their body.
                    _ => write!(
                        s,
                        "PUT /v1/books/0196d1a0-0000-7000-8000-{i:012} HTTP/1.1\r\nHost: x\r\n\
                         Authorization: Bearer {token}\r\nIf-None-Match: *\r\n\
                         Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"title\":"
                    )
                    .expect("half a body"),
                }
                conns.push(s);
            }
            conns
        })
        .await
        .expect("connections")
    };

    let started = Instant::now();
    let r = http
        .get(format!("{base}/v1/books"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("a normal request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Past both deadlines every stalled connection has been closed by the server.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let still_open = tokio::task::spawn_blocking(move || {
        let mut open = 0;
        for mut s in stalled {
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            if !closed(&mut s) {
                open += 1;
            }
        }
        open
    })
    .await
    .expect("checked");
    assert_eq!(still_open, 0, "stalled connections still open");
}

#[tokio::test]
async fn requests_beyond_the_in_flight_bound_answer_503_overloaded_with_retry_after() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let config = Config {
        max_in_flight: 2,
        request_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let (base, _stop) = start(&db, config, "http").await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let token = token_of(sign_in(&http, &base, "librarian", PASSWORD).await).await;
    // Two uploads that stall mid-body hold the two places.
    let mut holders = Vec::new();
    for i in 0..2 {
        let mut s = TcpStream::connect(&addr).expect("connect");
        write!(
            s,
            "PUT /v1/books/0196d1a0-0000-7000-8000-{i:012} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nIf-None-Match: *\r\n\
             Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{{"
        )
        .expect("half a body");
        holders.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .get(format!("{base}/v1/books"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answered at once");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["type"], "/problems/overloaded");
    // The health endpoints still answer, and once the places free up so does the API.
    let health = http.get(format!("{base}/healthz")).send().await.expect("h");
    assert_eq!(health.status(), StatusCode::OK);
    drop(holders);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .get(format!("{base}/v1/books"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::OK);
}

/// The server binary on a fresh SQLite file with the `manager` user: its base URL, the
/// process (stderr piped when asked), and the folder that holds the database.
fn spawn_binary(stderr: bool) -> (String, std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let bin = env!("CARGO_BIN_EXE_shelfmark-server");
    let mut add = std::process::Command::new(bin)
        .env("SHELFMARK_CONFIG", "/dev/null")
        .args([
            "--database",
            &database,
            "user",
            "add",
            "manager",
            "--role",
            "manager",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("user add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    assert!(add.wait().expect("user add").success());
    let mut server = std::process::Command::new(bin)
        .args(["--database", &database, "--listen", "127.0.0.1:0"])
        .env("SHELFMARK_CONFIG", "/dev/null")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(if stderr {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .spawn()
        .expect("server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("listening line");
    let base = line.trim().rsplit(' ').next().expect("address").to_owned();
    (base, server, dir)
}

#[tokio::test]
async fn the_access_log_has_one_line_per_request_and_never_a_token_a_password_or_a_search() {
    let (base, mut server, _dir) = spawn_binary(true);
    let http = reqwest::Client::new();
    let r = sign_in(&http, &base, "manager", PASSWORD).await;
    let token = token_of(r).await;
    let r = http
        .get(format!("{base}/v1/patrons?q=Margarethe%0D%0AFORGED"))
        .bearer_auth(&token)
        .header("x-request-id", "desk-3-17")
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), StatusCode::OK);
    let _ = sign_in(&http, &base, "manager", "a wrong secret").await;
    let _ = server.kill();
    let mut log = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    let _ = server.wait();
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("shelfmark_server::access"))
        .collect();
    assert_eq!(access.len(), 3, "{log}");
    let search = access
        .iter()
        .find(|l| l.contains("desk-3-17"))
        .expect("the search's line, with the client's request id");
    for part in [
        "method=GET",
        "route=\"/v1/patrons\"",
        "status=200",
        "latency_ms=",
    ] {
        assert!(search.contains(part), "{part} in {search}");
    }
    assert!(access.iter().any(|l| l.contains("status=401")), "{log}");
    for secret in [
        token.as_str(),
        PASSWORD,
        "a wrong secret",
        "Margarethe",
        "FORGED",
    ] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

/// Resident memory of a process, in bytes (Linux).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_wrong_sign_ins_in_8_streams_keeps_the_servers_memory_within_100_mb() {
    let (base, mut server, _dir) = spawn_binary(false);
    let http = reqwest::Client::new();
    // Idle, once warmed by one right sign-in.
    assert_eq!(
        sign_in(&http, &base, "manager", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let idle = rss_bytes(server.id());
    let mut peak = idle;
    let streams: Vec<_> = (0..8)
        .map(|s| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                // Names of their own, so the throttle does not answer for the bound.
                for i in 0..25 {
                    let r = sign_in(&http, &base, &format!("guess{s}-{i}"), "wrong").await;
                    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
                }
            })
        })
        .collect();
    let pid = server.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes(pid));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    for s in streams {
        s.await.expect("stream");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    peak = peak
        .max(watcher.await.expect("watcher"))
        .max(rss_bytes(pid));
    let _ = server.kill();
    let _ = server.wait();
    eprintln!(
        "200 wrong sign-ins: idle {} MB, peak {} MB",
        idle / 1_048_576,
        peak / 1_048_576
    );
    assert!(
        peak < idle + 100 * 1024 * 1024,
        "idle {} MB, peak {} MB",
        idle / 1_048_576,
        peak / 1_048_576
    );
}
