//! Benchmark: 1,000 concurrent hold attempts by 1,000 different patrons on a book with 10
//! copies, against the release server binary over loopback, on SQLite and PostgreSQL.
//!
//!   CARGO_TARGET_DIR=/work/target-server cargo bench -p shelfmark-server --bench holds -- \
//!       [--rounds 5] [--in-flight 64,1000] [--backends sqlite,postgres]
//!
//! PostgreSQL runs when `SHELFMARK_BENCH_POSTGRES_URL` (or `SHELFMARK_TEST_POSTGRES_URL`) names a
//! database (`bash scripts/postgres.sh` prints one); each round gets a fresh schema.
//!
//! Each round, for each backend and each in-flight bound: a fresh database holding the two
//! staff users, one book with 10 available copies and 1,000 patrons (every tenth premium,
//! written in bulk beforehand); the release `shelfmark-server` started on it (mail to a spool
//! folder); a pool of keep-alive connections opened with GETs; then the 1,000 placements
//! (`PUT /v1/holds/{id}` with `If-None-Match: *`), at most N in flight, each timed from send
//! to the end of its body. Checked: exactly 10 answers `201` holding 10 distinct copies, 990
//! answers `409 hold-unavailable`, one escalation per premium loser. Reported: throughput
//! (1,000 / the wall time of the burst) and latency percentiles; then the medians over rounds.
//! Backends and bounds alternate within a round so that a change of load weighs on all alike.
//!
//! Run as a test (`cargo test --benches`, clippy's `--all-targets`), it only says how to run it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::IF_NONE_MATCH;
use serde_json::{Value, json};
use shelfmark_core::RecordType;
use shelfmark_core::wire::Role;
use shelfmark_server::auth;
use shelfmark_server::store::{Actor, Index, Store, Write};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

const PASSWORD: &str = "bench password 1";
const PATRONS: usize = 1000;
const COPIES: usize = 10;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

struct Options {
    rounds: usize,
    in_flight: Vec<usize>,
    backends: Vec<Backend>,
    postgres: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let postgres = std::env::var("SHELFMARK_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("SHELFMARK_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let mut backends: Vec<Backend> = value("--backends")
        .unwrap_or_else(|| "sqlite,postgres".into())
        .split(',')
        .filter_map(|b| match b.trim() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" => Some(Backend::Postgres),
            _ => None,
        })
        .collect();
    if postgres.is_none() && backends.contains(&Backend::Postgres) {
        eprintln!("no SHELFMARK_BENCH_POSTGRES_URL / SHELFMARK_TEST_POSTGRES_URL: SQLite only");
        backends.retain(|b| *b == Backend::Sqlite);
    }
    Options {
        rounds: value("--rounds").and_then(|r| r.parse().ok()).unwrap_or(5),
        in_flight: value("--in-flight")
            .unwrap_or_else(|| "64,1000".into())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        backends,
        postgres,
    }
}

/// A database prepared for one round, and what it holds.
struct Prepared {
    url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
    book: Uuid,
    copies: Vec<Uuid>,
    patrons: Vec<(Uuid, bool)>,
}

fn write(kind: RecordType, id: Uuid, data: Value, index: Index) -> Write {
    Write {
        kind,
        id,
        data: data.to_string(),
        index,
    }
}

async fn prepare(backend: Backend, postgres: Option<&str>) -> Prepared {
    let (url, dir, schema) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (url, Some(dir), None)
        }
        Backend::Postgres => {
            let base = postgres.expect("a PostgreSQL URL");
            let schema = format!("bench_{}", Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(base).await.expect("postgres");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            (url, None, Some(schema))
        }
    };
    let store = Store::connect(&url).await.expect("open the database");
    auth::add_user(&store, "librarian", Role::Librarian, PASSWORD)
        .await
        .expect("user");
    let book = Uuid::now_v7();
    let isbn = shelfmark_core::isbn::from_body(4242);
    let mut writes = vec![write(
        RecordType::Book,
        book,
        json!({"id": book, "isbn": isbn, "title": "A Much Wanted Book", "authors": ["Ann Author"],
               "publisher": "Harbour Press", "year": 2024, "subjects": [], "summary": "",
               "notes": ""}),
        Index {
            unique_key: Some(isbn.clone()),
            search: format!("A Much Wanted Book {isbn} Ann Author"),
            ..Index::default()
        },
    )];
    let mut copies = Vec::new();
    for i in 0..COPIES {
        let id = Uuid::now_v7();
        let barcode = format!("BENCH-{i:03}");
        writes.push(write(
            RecordType::Copy,
            id,
            json!({"id": id, "book_id": book, "barcode": barcode, "branch": "Central",
                   "call_number": "823 AUT", "status": "available"}),
            Index {
                unique_key: Some(barcode),
                ref_id: Some(book),
                status: Some("available".into()),
                ..Index::default()
            },
        ));
        copies.push(id);
    }
    let mut patrons = Vec::new();
    for i in 0..PATRONS {
        let id = Uuid::now_v7();
        let premium = i % 10 == 0;
        let name = format!("Reader {i}");
        writes.push(write(
            RecordType::Patron,
            id,
            json!({"id": id, "name": name, "email": format!("reader{i}@example.org"),
                   "premium": premium, "branch": "Riverside"}),
            Index {
                search: format!("{name} reader{i} example org Riverside"),
                ..Index::default()
            },
        ));
        patrons.push((id, premium));
    }
    let actor = Actor {
        name: "bench".into(),
    };
    store.insert_many(&actor, writes).await.expect("seed");
    drop(store);
    Prepared {
        url,
        _dir: dir,
        schema,
        book,
        copies,
        patrons,
    }
}

async fn drop_schema(postgres: Option<&str>, schema: Option<&str>) {
    if let (Some(base), Some(schema)) = (postgres, schema) {
        let admin = sqlx::PgPool::connect(base).await.expect("postgres");
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .expect("drop schema");
        admin.close().await;
    }
}

/// What one burst measured.
struct Burst {
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Burst {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

/// Starts the release server on the prepared database, runs the burst, checks it, stops it.
async fn burst(db: &Prepared, in_flight: usize) -> Burst {
    let spool = tempfile::tempdir().expect("spool");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args(["--listen", "127.0.0.1:0", "--database", &db.url])
        .env("SHELFMARK_MAIL_SPOOL", spool.path())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("the server starts")
    .expect("read")
    .expect("a line");
    let base = line
        .strip_prefix("shelfmark-server listening on ")
        .expect("the listening line")
        .to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()
        .expect("client");
    let login: Value = http
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"username": "librarian", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    // Open the connections first (and warm the token cache): the burst measures holds, not
    // TCP handshakes.
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let request = http
            .get(format!("{base}/v1/books/{}", db.book))
            .bearer_auth(&token);
        warm.spawn(async move {
            let r = request.send().await.expect("warm-up");
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.expect("body");
        });
    }
    while let Some(done) = warm.join_next().await {
        done.expect("warm-up task");
    }

    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for &(patron, premium) in &db.patrons {
        let hold = Uuid::now_v7();
        let request = http
            .put(format!("{base}/v1/holds/{hold}"))
            .bearer_auth(&token)
            .header(IF_NONE_MATCH, "*")
            .json(&json!({"id": hold, "patron_id": patron, "book_id": db.book}));
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let sent = Instant::now();
            let r = request.send().await.expect("send");
            let status = r.status();
            let body: Value = r.json().await.expect("json");
            (sent.elapsed(), status, body, premium)
        });
    }
    let mut results = Vec::with_capacity(db.patrons.len());
    while let Some(done) = tasks.join_next().await {
        results.push(done.expect("task"));
    }
    let wall = started.elapsed();

    // The burst must have been right to count.
    let won: HashSet<&str> = results
        .iter()
        .filter(|r| r.1 == StatusCode::CREATED)
        .filter_map(|r| r.2["copy_id"].as_str())
        .collect();
    let winners = results
        .iter()
        .filter(|r| r.1 == StatusCode::CREATED)
        .count();
    let losers = results
        .iter()
        .filter(|r| r.1 == StatusCode::CONFLICT && r.2["type"] == "/problems/hold-unavailable")
        .count();
    assert_eq!(
        (winners, won.len(), losers),
        (COPIES, COPIES, PATRONS - COPIES)
    );
    let expected: HashSet<String> = db.copies.iter().map(Uuid::to_string).collect();
    assert!(won.iter().all(|c| expected.contains(*c)));
    let escalated = results
        .iter()
        .filter(|r| r.1 == StatusCode::CONFLICT && r.3 && r.2["escalation_id"].is_string())
        .count();
    let premium_losers = results
        .iter()
        .filter(|r| r.1 == StatusCode::CONFLICT && r.3)
        .count();
    assert_eq!(escalated, premium_losers);

    let pid = child.id().expect("running").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    Burst {
        wall,
        latencies: results.into_iter().map(|r| r.0).collect(),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "the holds benchmark runs with: cargo bench -p shelfmark-server --bench holds \
             [-- --rounds 5 --in-flight 64,1000 --backends sqlite,postgres]"
        );
        return;
    }
    let opts = options();
    // The client: one thread, so that it takes as little as it can of the shared cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        eprintln!(
            "1,000 hold attempts (1 per patron, every tenth premium) on 10 copies; {} rounds; \
             load average at start: {}",
            opts.rounds,
            load_average()
        );
        let mut runs: Vec<((Backend, usize), Vec<Burst>)> = Vec::new();
        for &backend in &opts.backends {
            for &n in &opts.in_flight {
                runs.push(((backend, n), Vec::new()));
            }
        }
        for round in 1..=opts.rounds {
            for ((backend, n), bursts) in &mut runs {
                let db = prepare(*backend, opts.postgres.as_deref()).await;
                let b = burst(&db, *n).await;
                drop_schema(opts.postgres.as_deref(), db.schema.as_deref()).await;
                eprintln!(
                    "round {round} {:10} {:4} in flight: {:6.0} holds/s  p50 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms  (wall {:.0} ms)",
                    backend.name(),
                    n,
                    b.throughput(),
                    ms(b.percentile(50.0)),
                    ms(b.percentile(99.0)),
                    ms(b.percentile(100.0)),
                    ms(b.wall),
                );
                bursts.push(b);
            }
        }
        println!("load average at the end: {}", load_average());
        println!(
            "| database | in flight | throughput (holds/s) | p50 | p99 | rounds (holds/s; p99 ms) |"
        );
        println!("|---|---|---|---|---|---|");
        for ((backend, n), bursts) in &runs {
            let tput: Vec<f64> = bursts.iter().map(Burst::throughput).collect();
            let p50: Vec<f64> = bursts.iter().map(|b| ms(b.percentile(50.0))).collect();
            let p99: Vec<f64> = bursts.iter().map(|b| ms(b.percentile(99.0))).collect();
            let each = tput
                .iter()
                .zip(&p99)
                .map(|(t, p)| format!("{t:.0}; {p:.1}"))
                .collect::<Vec<_>>()
                .join(" / ");
            println!(
                "| {} | {} | {:.0} | {:.1} ms | {:.1} ms | {} |",
                backend.name(),
                n,
                median(tput),
                median(p50),
                median(p99),
                each
            );
        }
    });
}
