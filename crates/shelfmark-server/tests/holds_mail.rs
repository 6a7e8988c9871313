//! Issue 5's proofs, over loopback, against SQLite and PostgreSQL, with a real SMTP server
//! (aiosmtpd) on loopback wherever mail is involved:
//!
//! - 30 concurrent holds by different patrons on a book with 1 copy: exactly one `201`; every
//!   premium loser gets exactly one escalation and the manager exactly one mail about it;
//! - 1,000 concurrent holds (64 in flight) on a book with 10 copies: exactly 10 winners, no
//!   copy twice;
//! - SMTP down when the escalation happens, the server binary stopped and started again on the
//!   same database, SMTP back: the mail arrives once (and a further restart sends it no more);
//! - reassign and purchase end to end (role checks, stale ETags, the patrons' and manager's
//!   mails as they arrive over SMTP).
//!
//! PostgreSQL runs when `SHELFMARK_TEST_POSTGRES_URL` is set (`scripts/postgres.sh` prints it),
//! in a schema per test. aiosmtpd comes from `scripts/setup.sh --test`. Without either, the
//! tests say so and pass, except when `CI` is set: then they fail, so nothing skips silently.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use shelfmark_core::isbn;

use shelfmark_server::mail::{MailSettings, Retry, Transport, spawn_delivery};
use shelfmark_server::store::{Actor, Index, Store, Write};
use shelfmark_server::{AppState, Config, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

mod common;
use common::{Backend, PASSWORD, TestDb, missing};

const MANAGER_MAIL: &str = "manager@library.example";

/// The aiosmtpd command, if installed (`SHELFMARK_TEST_AIOSMTPD`, the PATH, or the tools dir).
fn aiosmtpd() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SHELFMARK_TEST_AIOSMTPD") {
        return Some(p.into());
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("aiosmtpd"))
                .collect()
        })
        .unwrap_or_default();
    let tools = std::env::var_os("SHELFMARK_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shelfmark/tools"))
        });
    candidates.extend(tools.map(|t| t.join("bin/aiosmtpd")));
    candidates.into_iter().find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `check` until it holds, failing after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An SMTP sink on loopback storing every accepted mail in a maildir.
struct Smtpd {
    child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Smtpd {
    /// A port for an SMTP server that is not running yet.
    fn reserve() -> (u16, tempfile::TempDir) {
        (free_port(), tempfile::tempdir().expect("maildir"))
    }

    async fn start_on(port: u16, dir: tempfile::TempDir) -> Smtpd {
        let bin = aiosmtpd().expect("aiosmtpd was checked");
        let child = tokio::process::Command::new(bin)
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // The handler makes the maildir itself (it refuses an existing empty folder).
            .arg(dir.path().join("box"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        eventually(30, "aiosmtpd to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        Smtpd { child, port, dir }
    }

    fn url(port: u16) -> String {
        format!("smtp://127.0.0.1:{port}")
    }

    /// Every mail received so far, read as a client would (quoted-printable soft breaks
    /// joined).
    fn mails(&self) -> Vec<String> {
        let new = self.dir.path().join("box/new");
        let mut mails: Vec<String> = std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .map(|raw| {
                        raw.replace("=\r\n", "")
                            .replace("=\n", "")
                            .replace("=3D", "=")
                    })
                    .collect()
            })
            .unwrap_or_default();
        mails.sort();
        mails
    }

    /// The mails received for `recipient` that contain `needle`.
    fn count(&self, recipient: &str, needle: &str) -> usize {
        self.mails()
            .iter()
            .filter(|m| m.contains(&format!("X-RcptTo: {recipient}")) && m.contains(needle))
            .count()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn mail_settings() -> MailSettings {
    MailSettings::new(
        "Shelfmark <noreply@library.example>",
        &format!("Library Manager <{MANAGER_MAIL}>"),
    )
    .expect("addresses")
}

fn fast_retry() -> Retry {
    Retry {
        base: Duration::from_millis(50),
        max: Duration::from_millis(300),
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(30),
    }
}

/// A client for one running server (in-process or the binary), logged in as both roles.
struct Client {
    base: String,
    http: reqwest::Client,
    librarian: String,
    manager: String,
}

impl Client {
    async fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        let mut c = Client {
            base: base.to_owned(),
            http,
            librarian: String::new(),
            manager: String::new(),
        };
        c.librarian = c.login("librarian").await;
        c.manager = c.login("manager").await;
        c
    }

    async fn login(&self, user: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/sessions", self.base))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// A request as the librarian.
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.librarian)
    }

    /// A request as the manager.
    fn mgr(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.manager)
    }

    async fn create(&self, path: &str, body: &Value) -> Value {
        let r = self
            .req(Method::PUT, path)
            .header(IF_NONE_MATCH, "*")
            .json(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "creating {path}");
        r.json().await.expect("json")
    }

    async fn get(&self, path: &str) -> (Value, String) {
        let r = self.req(Method::GET, path).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        let tag = etag(&r);
        (r.json().await.expect("json"), tag)
    }

    async fn items(&self, path: &str) -> Vec<Value> {
        let (page, _) = self.get(path).await;
        page["items"].as_array().expect("items").clone()
    }

    /// A book with `copies` available copies.
    async fn book_with_copies(&self, n: u32, copies: usize) -> (Uuid, Vec<Uuid>) {
        let book_id = Uuid::now_v7();
        self.create(
            &format!("/v1/books/{book_id}"),
            &json!({"id": book_id, "isbn": isbn::from_body(n), "title": format!("Contested {n}"),
                    "authors": ["Ann Author"], "publisher": "Harbour Press", "year": 2001,
                    "subjects": [], "summary": "", "notes": ""}),
        )
        .await;
        let mut ids = Vec::new();
        for i in 0..copies {
            ids.push(self.new_copy(book_id, &format!("B{n}-{i}")).await.0);
        }
        (book_id, ids)
    }

    /// A new available copy of a book: its id and the stored record.
    async fn new_copy(&self, book_id: Uuid, barcode: &str) -> (Uuid, Value) {
        let id = Uuid::now_v7();
        let stored = self
            .create(
                &format!("/v1/copies/{id}"),
                &json!({"id": id, "book_id": book_id, "barcode": barcode, "branch": "Central",
                        "call_number": "635 AUT", "status": "available"}),
            )
            .await;
        (id, stored)
    }

    /// A new patron; a premium one is registered by the manager (only a manager may).
    async fn new_patron(&self, name: &str, premium: bool) -> (Uuid, String) {
        let id = Uuid::now_v7();
        let email = format!("p{}@example.org", id.simple());
        let path = format!("/v1/patrons/{id}");
        let r = if premium {
            self.mgr(Method::PUT, &path)
        } else {
            self.req(Method::PUT, &path)
        }
        .header(IF_NONE_MATCH, "*")
        .json(
            &json!({"id": id, "name": name, "email": email, "premium": premium,
                          "branch": "Riverside"}),
        )
        .send()
        .await
        .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "creating {path}");
        (id, email)
    }

    /// The desktop's placement: the whole record, `copy_id: null`, `If-None-Match: *`.
    fn place(&self, hold_id: Uuid, patron: Uuid, book: Uuid) -> RequestBuilder {
        self.req(Method::PUT, &format!("/v1/holds/{hold_id}"))
            .header(IF_NONE_MATCH, "*")
            .json(&json!({"id": hold_id, "patron_id": patron, "book_id": book,
                          "status": "active", "copy_id": null, "cancel_reason": null}))
    }
}

fn etag(r: &Response) -> String {
    r.headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

/// The problem document of an error answer, after checking its status and type.
async fn problem(r: Response, status: StatusCode, name: &str) -> Value {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.expect("problem json");
    assert_eq!(body["type"], format!("/problems/{name}"), "{body}");
    body
}

/// The server in-process on a loopback port; stopped when dropped.
struct Server {
    client: Client,
    store: Store,
    _state: AppState,
    _db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    delivery: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(d) = self.delivery.take() {
            d.abort();
        }
    }
}

impl Server {
    /// Starts the server; with `smtp_port`, its outbox is delivered there (fast retries).
    async fn start(backend: Backend, smtp_port: Option<u16>) -> Option<Server> {
        let db = TestDb::new(backend).await?;
        let store = db.store_with_staff().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let config = Config {
            mail: mail_settings(),
            ..Config::default()
        };
        let state = AppState::new(store.clone(), config);
        tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let delivery = smtp_port.map(|port| {
            spawn_delivery(
                store.clone(),
                Transport::smtp(&Smtpd::url(port)).expect("url"),
                fast_retry(),
                state.mail_wake.clone(),
            )
        });
        Some(Server {
            client: Client::new(&format!("http://{addr}")).await,
            store,
            _state: state,
            _db: db,
            stop: Some(stop),
            delivery,
        })
    }

    async fn all_mail_sent(&self) -> bool {
        let outbox = self.store.outbox().await.expect("outbox");
        !outbox.is_empty() && outbox.iter().all(|m| m.sent)
    }
}

/// aiosmtpd on a free port, or `None` (skip, or fail under CI) when it is not installed.
async fn smtpd() -> Option<Smtpd> {
    if aiosmtpd().is_none() {
        missing("aiosmtpd is not installed (scripts/setup.sh --test)");
        return None;
    }
    let (port, dir) = Smtpd::reserve();
    Some(Smtpd::start_on(port, dir).await)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    thirty_concurrent_holds_on_one_copy_give_one_201_and_each_premium_loser_one_mail,
    a_thousand_concurrent_holds_on_ten_copies_give_ten_winners_and_no_copy_twice,
    a_mail_queued_while_smtp_is_down_arrives_once_across_server_restarts,
    reassign_and_purchase_end_to_end_with_their_mails,
    a_hold_ready_for_pickup_mails_the_patron_the_branch_and_the_last_day_once,
);

// ---------------------------------------------------------------------------------------------

/// What one hold attempt got.
struct Attempt {
    hold_id: Uuid,
    patron: Uuid,
    premium: bool,
    status: StatusCode,
    body: Value,
}

/// Places one hold per patron on `book`, at most `in_flight` at a time, all through one
/// client (one connection pool).
async fn race(c: &Client, book: Uuid, patrons: &[(Uuid, bool)], in_flight: usize) -> Vec<Attempt> {
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for &(patron, premium) in patrons {
        let hold_id = Uuid::now_v7();
        let request = c.place(hold_id, patron, book);
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let r = request.send().await.expect("send");
            let status = r.status();
            if status == StatusCode::CREATED {
                assert!(r.headers().get(LOCATION).is_some() && r.headers().get(ETAG).is_some());
            }
            let body: Value = r.json().await.expect("json");
            Attempt {
                hold_id,
                patron,
                premium,
                status,
                body,
            }
        });
    }
    let mut attempts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        attempts.push(done.expect("task"));
    }
    attempts
}

/// Checks a race's outcome: `copies.len()` winners holding every copy once, everyone else
/// a `409 hold-unavailable` (naming an escalation exactly for premium patrons), the copies
/// held, the active holds exactly the winners. Returns the premium losers' escalation ids.
async fn check_race(
    c: &Client,
    book: Uuid,
    copies: &[Uuid],
    attempts: &[Attempt],
) -> HashMap<Uuid, Uuid> {
    let statuses: Vec<StatusCode> = attempts.iter().map(|a| a.status).collect();
    let winners: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    assert_eq!(winners.len(), copies.len(), "{statuses:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a.status == StatusCode::CREATED || a.status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let mut won: Vec<Uuid> = winners
        .iter()
        .map(|w| {
            assert_eq!(w.body["status"], "active");
            assert_eq!(w.body["patron_id"], json!(w.patron));
            Uuid::parse_str(w.body["copy_id"].as_str().expect("copy_id")).expect("uuid")
        })
        .collect();
    won.sort();
    let mut expected = copies.to_vec();
    expected.sort();
    assert_eq!(won, expected, "every copy went to exactly one hold");
    for copy in copies {
        assert_eq!(
            c.get(&format!("/v1/copies/{copy}")).await.0["status"],
            "held"
        );
    }
    let active = c
        .items(&format!(
            "/v1/holds?book_id={book}&status=active&limit=1000"
        ))
        .await;
    let active_ids: HashSet<&str> = active.iter().filter_map(|h| h["id"].as_str()).collect();
    let winner_ids: Vec<String> = winners.iter().map(|w| w.hold_id.to_string()).collect();
    assert_eq!(active.len(), copies.len());
    assert!(winner_ids.iter().all(|id| active_ids.contains(id.as_str())));
    let held: HashSet<&str> = active
        .iter()
        .filter_map(|h| h["copy_id"].as_str())
        .collect();
    assert_eq!(held.len(), copies.len(), "no copy in two active holds");

    let mut escalations = HashMap::new();
    for a in attempts.iter().filter(|a| a.status == StatusCode::CONFLICT) {
        assert_eq!(a.body["type"], "/problems/hold-unavailable", "{}", a.body);
        assert_eq!(a.body["book_id"], json!(book));
        assert_eq!(a.body["patron_premium"], json!(a.premium));
        if a.premium {
            let esc = Uuid::parse_str(a.body["escalation_id"].as_str().expect("escalation_id"))
                .expect("uuid");
            assert!(escalations.insert(a.hold_id, esc).is_none());
        } else {
            assert!(a.body.get("escalation_id").is_none(), "{}", a.body);
        }
    }
    // Exactly one open escalation per premium loser, naming its lost hold request.
    let open = c.items("/v1/escalations?status=open&limit=1000").await;
    assert_eq!(open.len(), escalations.len());
    let distinct: HashSet<&Value> = open.iter().map(|e| &e["id"]).collect();
    assert_eq!(distinct.len(), open.len());
    for e in &open {
        let request =
            Uuid::parse_str(e["hold_request_id"].as_str().expect("hold_request_id")).expect("uuid");
        assert_eq!(
            escalations.get(&request).map(|id| json!(id)),
            Some(e["id"].clone()),
            "{e}"
        );
        assert_eq!(e["book_id"], json!(book));
    }
    escalations
}

async fn thirty_concurrent_holds_on_one_copy_give_one_201_and_each_premium_loser_one_mail(
    backend: Backend,
) {
    let Some(smtp) = smtpd().await else { return };
    let Some(s) = Server::start(backend, Some(smtp.port)).await else {
        return;
    };
    let c = &s.client;
    let (book, copies) = c.book_with_copies(101, 1).await;
    let mut patrons = Vec::new();
    for i in 0..30 {
        let premium = i % 3 == 0;
        patrons.push((
            c.new_patron(&format!("Reader {i}"), premium).await.0,
            premium,
        ));
    }
    // All thirty at once.
    let attempts = race(c, book, &patrons, 30).await;
    let escalations = check_race(c, book, &copies, &attempts).await;
    let winner_premium = attempts
        .iter()
        .any(|a| a.status == StatusCode::CREATED && a.premium);
    assert_eq!(escalations.len(), if winner_premium { 9 } else { 10 });

    // The manager gets exactly one mail per premium loser, over SMTP, naming its escalation.
    eventually(30, "every mail delivered", || async {
        smtp.mails().len() >= escalations.len() && s.all_mail_sent().await
    })
    .await;
    let outbox = s.store.outbox().await.expect("outbox");
    assert_eq!(outbox.len(), escalations.len(), "one mail per escalation");
    for esc in escalations.values() {
        assert_eq!(
            smtp.count(MANAGER_MAIL, &format!("shelfmark://escalations/{esc}")),
            1,
            "escalation {esc}"
        );
    }
    assert_eq!(smtp.mails().len(), escalations.len(), "no mail twice");
    // A further pass of the outbox sends nothing.
    let transport = Transport::smtp(&Smtpd::url(smtp.port)).expect("url");
    let again = shelfmark_server::mail::deliver_due(&s.store, &transport, &fast_retry())
        .await
        .expect("pass");
    assert_eq!(again, 0);
    smtp.stop().await;
}

/// `n` patrons written straight into the database in one transaction (every tenth premium).
async fn bulk_patrons(store: &Store, n: usize) -> Vec<(Uuid, bool)> {
    let mut patrons = Vec::new();
    let mut writes = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        let premium = i % 10 == 0;
        let name = format!("Bulk Reader {i}");
        writes.push(Write {
            kind: shelfmark_core::RecordType::Patron,
            id,
            data: json!({"id": id, "name": name, "email": format!("bulk{i}@example.org"),
                         "premium": premium, "branch": "Riverside"})
            .to_string(),
            index: Index {
                search: format!("{name} bulk{i} example org Riverside"),
                ..Index::default()
            },
        });
        patrons.push((id, premium));
    }
    let actor = Actor {
        name: "test".into(),
    };
    store.insert_many(&actor, writes).await.expect("patrons");
    patrons
}

async fn a_thousand_concurrent_holds_on_ten_copies_give_ten_winners_and_no_copy_twice(
    backend: Backend,
) {
    let Some(s) = Server::start(backend, None).await else {
        return;
    };
    let c = &s.client;
    let (book, copies) = c.book_with_copies(102, 10).await;
    let patrons = bulk_patrons(&s.store, 1000).await;
    let started = Instant::now();
    let attempts = race(c, book, &patrons, 64).await;
    eprintln!(
        "1,000 holds on 10 copies ({backend:?}, debug build, 64 in flight): {:?}",
        started.elapsed()
    );
    let escalations = check_race(c, book, &copies, &attempts).await;
    let premium_winners = attempts
        .iter()
        .filter(|a| a.status == StatusCode::CREATED && a.premium)
        .count();
    assert_eq!(escalations.len(), 100 - premium_winners);
    // One manager's mail per escalation in the outbox, each naming its own.
    let outbox = s.store.outbox().await.expect("outbox");
    assert_eq!(outbox.len(), escalations.len());
    let named: HashSet<&Uuid> = escalations
        .values()
        .filter(|esc| {
            outbox
                .iter()
                .filter(|m| m.raw.contains(&esc.to_string()))
                .count()
                == 1
        })
        .collect();
    assert_eq!(named.len(), escalations.len());
    // The feed carries exactly the ten holds.
    let mut since = 0;
    let mut holds = 0;
    loop {
        let (feed, _) = c
            .get(&format!("/v1/changes?since={since}&limit=5000"))
            .await;
        holds += feed["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|ch| ch["type"] == "hold")
            .count();
        since = feed["last_seq"].as_i64().expect("last_seq");
        if feed["more"] == false {
            break;
        }
    }
    assert_eq!(holds, 10);
}

// ---------------------------------------------------------------------------------------------

/// The server binary on a database, its outbox going to `smtp_port`; stopped (killed) on drop.
struct Binary {
    child: tokio::process::Child,
    client: Client,
}

impl Binary {
    async fn start(db: &TestDb, smtp_port: u16) -> Binary {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
            .args(["--listen", "127.0.0.1:0", "--database", &db.url])
            .env("SHELFMARK_SMTP_URL", Smtpd::url(smtp_port))
            .env("SHELFMARK_MANAGER_EMAIL", MANAGER_MAIL)
            .env("SHELFMARK_MAIL_FROM", "Shelfmark <noreply@library.example>")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::io::BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("the server starts within a minute")
        .expect("read")
        .expect("a line");
        let base = line
            .strip_prefix("shelfmark-server listening on ")
            .expect("the listening line")
            .to_owned();
        Binary {
            child,
            client: Client::new(&base).await,
        }
    }

    /// SIGTERM, then a clean exit within 30 s.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops on SIGTERM")
            .expect("wait");
        assert!(exit.success(), "{exit:?}");
    }
}

/// A premium patron loses a hold on a new book with one copy taken by a regular patron:
/// the escalation's id.
async fn premium_loses(c: &Client, n: u32) -> Uuid {
    let (book, _) = c.book_with_copies(n, 1).await;
    let (regular, _) = c.new_patron("Regular Reader", false).await;
    let (premium, _) = c.new_patron("Premium Reader", true).await;
    let r = c
        .place(Uuid::now_v7(), regular, book)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .place(Uuid::now_v7(), premium, book)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    Uuid::parse_str(p["escalation_id"].as_str().expect("escalation_id")).expect("uuid")
}

async fn a_mail_queued_while_smtp_is_down_arrives_once_across_server_restarts(backend: Backend) {
    if aiosmtpd().is_none() {
        missing("aiosmtpd is not installed (scripts/setup.sh --test)");
        return;
    }
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store_with_staff().await;
    // Nothing listens on the SMTP port yet.
    let (port, maildir) = Smtpd::reserve();

    let first = Binary::start(&db, port).await;
    let esc1 = premium_loses(&first.client, 103).await;
    eventually(30, "a failed delivery attempt", || async {
        let outbox = store.outbox().await.expect("outbox");
        outbox.len() == 1
            && !outbox[0].sent
            && outbox[0].attempts >= 1
            && outbox[0].last_error.is_some()
    })
    .await;
    // The server stops while the mail waits; SMTP comes back; a new server process starts on
    // the same database.
    first.stop().await;
    let smtp = Smtpd::start_on(port, maildir).await;
    let second = Binary::start(&db, port).await;
    let link1 = format!("shelfmark://escalations/{esc1}");
    eventually(
        60,
        "the waiting mail delivered by the new process",
        || async {
            smtp.count(MANAGER_MAIL, &link1) >= 1
                && store.outbox().await.expect("outbox").iter().all(|m| m.sent)
        },
    )
    .await;
    // Another escalation's mail: when it has arrived, a resend of the first would have too.
    let esc2 = premium_loses(&second.client, 104).await;
    let link2 = format!("shelfmark://escalations/{esc2}");
    eventually(30, "the second mail", || async {
        smtp.count(MANAGER_MAIL, &link2) == 1
    })
    .await;
    second.stop().await;
    // And once more after a restart with everything delivered.
    let third = Binary::start(&db, port).await;
    let esc3 = premium_loses(&third.client, 105).await;
    let link3 = format!("shelfmark://escalations/{esc3}");
    eventually(30, "the third mail", || async {
        smtp.count(MANAGER_MAIL, &link3) == 1
    })
    .await;
    third.stop().await;
    assert_eq!(
        smtp.count(MANAGER_MAIL, &link1),
        1,
        "the first mail arrived once"
    );
    assert_eq!(smtp.count(MANAGER_MAIL, &link2), 1);
    assert_eq!(smtp.mails().len(), 3, "{:#?}", smtp.mails());
    let outbox = store.outbox().await.expect("outbox");
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|m| m.sent));
    let first_mail = outbox
        .iter()
        .find(|m| m.raw.contains(&esc1.to_string()))
        .expect("the first mail");
    assert!(
        first_mail.attempts >= 2,
        "failed, then sent: {first_mail:?}"
    );
    // The mail that arrived is the one written at the escalation: the same Message-ID.
    let arrived = smtp
        .mails()
        .into_iter()
        .find(|m| m.contains(&link1))
        .expect("arrived");
    assert!(
        arrived.contains(&format!("Message-ID: {}", first_mail.message_id)),
        "{arrived}"
    );
    smtp.stop().await;
}

// ---------------------------------------------------------------------------------------------

async fn reassign_and_purchase_end_to_end_with_their_mails(backend: Backend) {
    let Some(smtp) = smtpd().await else { return };
    let Some(s) = Server::start(backend, Some(smtp.port)).await else {
        return;
    };
    let c = &s.client;

    // --- Reassign: a premium patron loses the only copy to a regular patron.
    let (book, copies) = c.book_with_copies(106, 1).await;
    let (regular, regular_email) = c.new_patron("Regular Reader", false).await;
    let (premium, premium_email) = c.new_patron("Premium Reader", true).await;
    let regular_hold = Uuid::now_v7();
    let r = c
        .place(regular_hold, regular, book)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .place(Uuid::now_v7(), premium, book)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    assert_eq!(p["patron_premium"], true);
    let esc = p["escalation_id"]
        .as_str()
        .expect("escalation_id")
        .to_owned();
    let link = format!("shelfmark://escalations/{esc}");
    eventually(30, "the manager's mail", || async {
        smtp.count(MANAGER_MAIL, &link) == 1
    })
    .await;
    let manager_mail = smtp
        .mails()
        .into_iter()
        .find(|m| m.contains(&link))
        .expect("mail");
    for needle in [
        "Premium Reader",
        &premium_email,
        "Riverside",
        "Contested 106",
    ] {
        assert!(
            manager_mail.contains(needle),
            "{needle} missing from\n{manager_mail}"
        );
    }
    assert!(manager_mail.contains(&isbn::from_body(106)));

    let path = format!("/v1/escalations/{esc}");
    let listed = c.items("/v1/escalations?status=open").await;
    assert_eq!(listed.len(), 1, "librarians may read escalations");
    let (_, tag) = c.get(&path).await;
    let reassign = format!("{path}/reassign");
    let body = json!({"hold_id": regular_hold, "note": "Phoned the regular reader"});
    // A librarian may not act; the manager needs the escalation's current ETag.
    let r = c
        .req(Method::POST, &reassign)
        .header(IF_MATCH, &tag)
        .json(&body)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = c
        .mgr(Method::POST, &reassign)
        .json(&body)
        .send()
        .await
        .expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let r = c
        .mgr(Method::POST, &reassign)
        .header(IF_MATCH, "\"v0\"")
        .json(&body)
        .send()
        .await
        .expect("send");
    let stale = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    assert_eq!(stale["current"]["status"], "open");
    let r = c
        .mgr(Method::POST, &reassign)
        .header(IF_MATCH, &tag)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let after = etag(&r);
    assert_ne!(after, tag);
    let done: Value = r.json().await.expect("json");
    assert_eq!(done["escalation"]["status"], "reassigned");
    assert_eq!(done["hold"]["patron_id"], json!(premium));
    assert_eq!(done["hold"]["copy_id"], json!(copies[0]));
    let (old, _) = c.get(&format!("/v1/holds/{regular_hold}")).await;
    assert_eq!(
        (old["status"].as_str(), old["cancel_reason"].as_str()),
        (Some("cancelled"), Some("reassigned"))
    );
    assert_eq!(
        c.get(&format!("/v1/copies/{}", copies[0])).await.0["status"],
        "held"
    );
    // The regular reader is told, once, over SMTP.
    eventually(30, "the regular reader's mail", || async {
        smtp.count(&regular_email, &regular_hold.to_string()) == 1
    })
    .await;
    // The old tag is stale now, and the escalation is no longer open for either action.
    for action in ["reassign", "purchase"] {
        let r = c
            .mgr(Method::POST, &format!("{path}/{action}"))
            .header(IF_MATCH, &tag)
            .json(&json!({"hold_id": regular_hold, "quantity": 1}))
            .send()
            .await
            .expect("send");
        let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
        assert_eq!(p["current"]["status"], "reassigned");
    }

    // --- Purchase: another premium patron loses the only copy of another book.
    let (book2, _) = c.book_with_copies(107, 1).await;
    let (regular2, _) = c.new_patron("Second Regular", false).await;
    let (premium2, _) = c.new_patron("Second Premium", true).await;
    let r = c
        .place(Uuid::now_v7(), regular2, book2)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .place(Uuid::now_v7(), premium2, book2)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    let esc2 = p["escalation_id"]
        .as_str()
        .expect("escalation_id")
        .to_owned();
    let path2 = format!("/v1/escalations/{esc2}");
    let (_, tag2) = c.get(&path2).await;
    let purchase = format!("{path2}/purchase");
    let order = json!({"quantity": 1, "note": "Popular: buy one more"});
    let r = c
        .req(Method::POST, &purchase)
        .header(IF_MATCH, &tag2)
        .json(&order)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = c
        .mgr(Method::POST, &purchase)
        .header(IF_MATCH, "\"v0\"")
        .json(&order)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    let r = c
        .mgr(Method::POST, &purchase)
        .header(IF_MATCH, &tag2)
        .json(&order)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let request: Value = r.json().await.expect("json");
    assert_eq!(request["status"], "requested");
    assert_eq!(request["escalation_id"], json!(esc2));
    assert_eq!(c.get(&path2).await.0["status"], "purchase_flagged");
    // The bought copy arrives: it goes to the waiting premium patron, and the escalation is
    // resolved.
    let (new_copy, stored) = c.new_copy(book2, "B107-bought").await;
    assert_eq!(stored["status"], "held");
    let holds = c
        .items(&format!("/v1/holds?patron_id={premium2}&status=active"))
        .await;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["copy_id"], json!(new_copy));
    assert_eq!(holds[0]["book_id"], json!(book2));
    let (esc2_now, _) = c.get(&path2).await;
    assert_eq!(esc2_now["status"], "resolved");
    assert_eq!(c.get(&location).await.0["status"], "received");
    // A second new copy is just a copy: nobody is waiting any more.
    let (_, second) = c.new_copy(book2, "B107-spare").await;
    assert_eq!(second["status"], "available");
    assert_eq!(
        c.items(&format!("/v1/holds?patron_id={premium2}&status=active"))
            .await
            .len(),
        1
    );

    // Mail, all told: two for the manager (one per escalation), one for the regular reader,
    // and one for each premium patron: the copy reassigned to one, the purchase for the other.
    eventually(30, "every mail delivered", || async {
        smtp.mails().len() >= 5 && s.all_mail_sent().await
    })
    .await;
    let set_aside = |book: &str| {
        smtp.mails()
            .iter()
            .filter(|m| m.contains("has been set aside for you") && m.contains(book))
            .count()
    };
    assert_eq!(
        set_aside("Contested 106"),
        1,
        "the reassigned copy's new patron"
    );
    assert_eq!(set_aside("Contested 107"), 1, "the purchased copy's patron");
    assert_eq!(
        smtp.count(MANAGER_MAIL, &format!("shelfmark://escalations/{esc2}")),
        1
    );
    assert_eq!(smtp.count(MANAGER_MAIL, &link), 1);
    assert_eq!(smtp.mails().len(), 5, "{:#?}", smtp.mails());
    assert_eq!(s.store.outbox().await.expect("outbox").len(), 5);
    smtp.stop().await;
}

async fn a_hold_ready_for_pickup_mails_the_patron_the_branch_and_the_last_day_once(
    backend: Backend,
) {
    let Some(smtp) = smtpd().await else { return };
    let Some(s) = Server::start(backend, Some(smtp.port)).await else {
        return;
    };
    let c = &s.client;
    let (book, _) = c.book_with_copies(108, 1).await;
    let (patron, email) = c.new_patron("Ada Lovelace", false).await;
    let hold_id = Uuid::now_v7();
    let r = c.place(hold_id, patron, book).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let tag = etag(&r);
    let mut hold: Value = r.json().await.expect("json");
    hold["status"] = json!("ready");
    let r = c
        .req(Method::PUT, &format!("/v1/holds/{hold_id}"))
        .header(IF_MATCH, &tag)
        .json(&hold)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let ready: Value = r.json().await.expect("json");
    let by = chrono::DateTime::parse_from_rfc3339(ready["pickup_by"].as_str().expect("pickup_by"))
        .expect("a time");
    eventually(30, "the patron's mail", || async {
        smtp.count(&email, "ready for you to collect") == 1 && s.all_mail_sent().await
    })
    .await;
    let mail = smtp
        .mails()
        .into_iter()
        .find(|m| m.contains("ready for you to collect"))
        .expect("mail");
    let text = mail.replace("=\r\n", "").replace("=\n", "");
    for needle in [
        "Dear Ada Lovelace",
        "Contested 108",
        "Riverside",
        &by.format("%A %-d %B %Y").to_string(),
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert_eq!(smtp.mails().len(), 1, "one mail, once");
    smtp.stop().await;
}
