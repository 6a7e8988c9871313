//! Benchmark: the sync engine at the size of a large library, side by side with plain SQLite
//! in one run (figures in BENCHMARKS.md, "Sync").
//!
//! * First sync of 100,000 books into an empty cache (sign-in excluded: pull of the change
//!   feed, every page applied and indexed for full-text search), against the `sqlite3` shell
//!   importing the same rows from CSV (`.import`) and building the same FTS5 index. Goal: at
//!   most 2x.
//! * Pushing 1,000 offline edits on loopback (each a conditional `PUT` with `If-Match`, and
//!   its acknowledgement one transaction in the cache). Goal: under 1 s.
//! * Full-text search of the 100,000-book cache as the catalogue list runs it
//!   (`Store::list_books`, 50 rows): p50/p95/p99 over many queries. Goal: p95 under 10 ms.
//!
//! The server runs in this process (the `shelfmark-server` library on a loopback listener,
//! SQLite database seeded directly through its store) and shares the machine's cores with the
//! client, as it would on a laptop running both. Needs the `sqlite3` shell (Debian package
//! `sqlite3`). Run with `cargo bench -p shelfmark-cli --bench sync`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use shelfmark_client::{Client, PAGE_SIZE, SharedStore};
use shelfmark_core::wire::{Change, ChangeFeed, Role};
use shelfmark_core::{Book, RecordType};
use shelfmark_server::http::records::{Books, Kind as _};
use shelfmark_server::store::{Actor, Write};
use shelfmark_server::{AppState, Config};
use shelfmark_store::Store;

const BOOKS: usize = 100_000;
const EDITS: usize = 1_000;
/// First syncs and imports, alternated so both see the same machine load.
const SYNC_ROUNDS: usize = 3;
const PUSH_ROUNDS: usize = 3;
const QUERIES: usize = 2_000;
const PASSWORD: &str = "bench-password";

/// A small deterministic generator (xorshift), so every run syncs the same library.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

/// The library: `BOOKS` books generated as the demo's are (titles, authors, subjects,
/// multi-line summaries, valid ISBN-13s), from a fixed seed.
fn library() -> anyhow::Result<Vec<Book>> {
    Ok(shelfmark_server::demo::books(BOOKS, 0x5348_454c_464d_4b21)?)
}

/// Medians and percentiles of a sample.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    percentile(&xs, 0.5)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The server, seeded and listening on loopback inside this process.
async fn start_server(dir: &Path, books: &[Book]) -> anyhow::Result<String> {
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let store = shelfmark_server::store::Store::connect(&url).await?;
    shelfmark_server::auth::add_user(&store, "bench", Role::Librarian, PASSWORD).await?;
    let writes = books
        .iter()
        .map(|b| {
            Ok(Write {
                kind: RecordType::Book,
                id: b.id,
                data: serde_json::to_string(b)?,
                index: Books::index(b),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let actor = Actor {
        name: "bench".into(),
    };
    store.insert_many(&actor, writes).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(store, Config::default());
    tokio::spawn(shelfmark_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Ok(format!("http://{addr}"))
}

fn open_cache(path: &Path) -> anyhow::Result<SharedStore> {
    Ok(Arc::new(Mutex::new(Store::open(path)?)))
}

/// One first sync into a fresh cache at `path`; the time of `sync` alone.
async fn first_sync(client: &Client, path: &Path) -> anyhow::Result<(Duration, SharedStore)> {
    let cache = open_cache(path)?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let t = Instant::now();
    let report = client.sync(&cache, &tx).await?;
    let took = t.elapsed();
    ensure!(
        report.pull.changes == BOOKS,
        "pulled {} changes",
        report.pull.changes
    );
    Ok((took, cache))
}

/// The feed's pages as the server would send them (`PAGE_SIZE` changes each, as the engine
/// asks).
fn feed_pages(books: &[Book]) -> anyhow::Result<Vec<String>> {
    let pages: Vec<&[Book]> = books.chunks(PAGE_SIZE).collect();
    let last = pages.len();
    pages
        .into_iter()
        .enumerate()
        .map(|(i, page)| {
            let changes = page
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    Ok(Change {
                        seq: (i * PAGE_SIZE + j + 1) as i64,
                        kind: RecordType::Book,
                        id: b.id,
                        etag: "\"v1\"".into(),
                        deleted: false,
                        data: Some(serde_json::value::to_raw_value(b)?),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let feed = ChangeFeed {
                last_seq: ((i + 1) * PAGE_SIZE) as i64,
                more: i + 1 < last,
                changes,
            };
            Ok(serde_json::to_string(&feed)?)
        })
        .collect()
}

/// The client's own share of a first sync, without HTTP or server: each page parsed and
/// applied to a fresh cache, as a first sync does (bulk load, search index built at the end).
fn parse_and_apply(path: &Path, pages: &[String]) -> anyhow::Result<Duration> {
    let mut store = Store::open(path)?;
    let t = Instant::now();
    store.begin_bulk_load()?;
    for page in pages {
        let feed: ChangeFeed = serde_json::from_str(page)?;
        store.apply_changes(&feed, None)?;
    }
    store.end_bulk_load()?;
    Ok(t.elapsed())
}

/// The same rows as CSV, for the `sqlite3` shell.
fn write_csv(path: &Path, books: &[Book]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for b in books {
        let json = serde_json::to_string(b)?.replace('"', "\"\"");
        writeln!(out, "book,{},\"{json}\",\"\"\"v1\"\"\"", b.id)?;
    }
    out.flush()?;
    Ok(())
}

/// `sqlite3` imports the CSV and builds the FTS5 index the cache keeps, with the cache's
/// durability settings (WAL, synchronous FULL).
fn sqlite_import(db: &Path, csv: &Path) -> anyhow::Result<Duration> {
    let script = [
        "PRAGMA journal_mode = WAL;",
        "PRAGMA synchronous = FULL;",
        "CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, \
         etag TEXT, UNIQUE (kind, id));",
        &format!(".import --csv {} records", csv.display()),
        "CREATE VIRTUAL TABLE books_fts USING fts5 (title, authors, subjects, isbn, \
         content = 'records', content_rowid = 'rowid', \
         tokenize = 'unicode61 remove_diacritics 2');",
        "INSERT INTO books_fts (rowid, title, authors, subjects, isbn) \
         SELECT rowid, json_extract(data, '$.title'), json_extract(data, '$.authors'), \
         json_extract(data, '$.subjects'), json_extract(data, '$.isbn') FROM records;",
        "SELECT count(*) FROM books_fts WHERE books_fts MATCH 'garden*';",
        "",
    ]
    .join("\n");
    let t = Instant::now();
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run sqlite3 (Debian: apt-get install -y sqlite3)")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    let took = t.elapsed();
    ensure!(
        out.status.success() && out.stderr.is_empty(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

/// Saves `EDITS` offline edits (a line added to the notes of that many books).
fn edit_books(cache: &SharedStore, books: &[Book], round: usize) -> anyhow::Result<()> {
    let mut store = cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for b in books.iter().skip(round * EDITS).take(EDITS) {
        let mut book = store.get::<Book>(b.id)?.context("cached")?.record;
        book.notes = format!("Checked at stocktake {round}.");
        store.save(&book)?;
    }
    Ok(())
}

fn queries() -> Vec<String> {
    let words = shelfmark_server::demo::vocabulary();
    let mut rng = Rng(0x7175_6572_7921);
    (0..QUERIES)
        .map(|i| match i % 5 {
            0 => rng.pick(words.nouns).to_lowercase(),
            1 => rng
                .pick(words.nouns)
                .chars()
                .take(4)
                .collect::<String>()
                .to_lowercase(),
            2 => format!(
                "{} {}",
                rng.pick(words.adjectives),
                rng.pick(words.nouns).chars().take(3).collect::<String>()
            ),
            3 => rng.pick(words.surnames).to_owned(),
            _ => format!(
                "{} {}",
                rng.pick(words.first_names),
                rng.pick(&words.subjects)
            ),
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    if Command::new("sqlite3").arg("--version").output().is_err() {
        bail!("this benchmark needs the sqlite3 shell: apt-get install -y sqlite3");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let books = library()?;
    let t = Instant::now();
    let url = runtime.block_on(start_server(dir.path(), &books))?;
    eprintln!("seeded {BOOKS} books on the server in {:?}", t.elapsed());
    let csv = dir.path().join("books.csv");
    write_csv(&csv, &books)?;
    let mut client = Client::new(&url)?;
    runtime.block_on(client.sign_in("bench", PASSWORD))?;

    // First sync against sqlite3 .import, alternated.
    let (mut syncs, mut imports) = (Vec::new(), Vec::new());
    let mut cache = None;
    for round in 0..SYNC_ROUNDS {
        let path = dir.path().join(format!("cache-{round}.db"));
        let (took, synced) = runtime.block_on(first_sync(&client, &path))?;
        eprintln!("round {round}: first sync {}", ms(took));
        syncs.push(took);
        cache = Some(synced);
        let db = dir.path().join(format!("import-{round}.db"));
        let took = sqlite_import(&db, &csv)?;
        eprintln!("round {round}: sqlite3 .import + FTS {}", ms(took));
        imports.push(took);
    }
    let cache = cache.context("no sync ran")?;
    let (sync_med, import_med) = (median(syncs), median(imports));
    let pages = feed_pages(&books)?;
    let mut applies = Vec::new();
    for round in 0..SYNC_ROUNDS {
        let took = parse_and_apply(&dir.path().join(format!("apply-{round}.db")), &pages)?;
        eprintln!(
            "round {round}: parse + apply of the feed alone {}",
            ms(took)
        );
        applies.push(took);
    }
    let apply_med = median(applies);

    // Pushing 1,000 offline edits.
    let mut pushes = Vec::new();
    for round in 0..PUSH_ROUNDS {
        edit_books(&cache, &books, round)?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let t = Instant::now();
        let report = runtime.block_on(client.push(&cache, &tx))?;
        let took = t.elapsed();
        ensure!(report.pushed == EDITS, "pushed {report:?}");
        eprintln!("round {round}: pushed {EDITS} edits in {}", ms(took));
        pushes.push(took);
    }
    let push_med = median(pushes);

    // Full-text search as the catalogue list runs it.
    let store = cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let qs = queries();
    for q in qs.iter().take(50) {
        store.list_books(q, 50)?;
    }
    let mut times = Vec::with_capacity(qs.len());
    let mut hits = 0;
    for q in &qs {
        let t = Instant::now();
        hits += store.list_books(q, 50)?.len();
        times.push(t.elapsed());
    }
    times.sort();

    println!();
    println!("Sync benchmark: {BOOKS} books, {EDITS} edits, {QUERIES} searches");
    println!("| measure | shelfmark | reference | ratio / goal |");
    println!("|---|---|---|---|");
    println!(
        "| first sync of {BOOKS} books (median of {SYNC_ROUNDS}) | {} | sqlite3 .import + FTS5: {} | {:.2}x (goal ≤ 2x) |",
        ms(sync_med),
        ms(import_med),
        sync_med.as_secs_f64() / import_med.as_secs_f64()
    );
    println!(
        "| of which parsing and applying the pages in the cache (no HTTP, no server) | {} | | {:.2}x the import |",
        ms(apply_med),
        apply_med.as_secs_f64() / import_med.as_secs_f64()
    );
    println!(
        "| push {EDITS} offline edits (median of {PUSH_ROUNDS}) | {} ({:.2} ms/edit) | | goal < 1 s |",
        ms(push_med),
        push_med.as_secs_f64() * 1e3 / EDITS as f64
    );
    println!(
        "| FTS search, 50 rows, {QUERIES} queries | p50 {} · p95 {} · p99 {} · max {} | | goal p95 < 10 ms |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0))
    );
    println!(
        "(average {:.1} rows per search)",
        hits as f64 / QUERIES as f64
    );
    drop(store);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
