//! Benchmark: a busy hour at the circulation desk (figures in BENCHMARKS.md, "Circulation").
//!
//! * 1,000 scans in a row, check-out and check-in alternating (copy n scanned after a
//!   patron's card, then copy n alone), each answered from the desk's cache of the whole demo
//!   library (`Store::scan`: the card or copy looked up, its open loan and hold read, the
//!   decision made, the change queued in the outbox in its own transaction). Goal: p95 per
//!   scan under 5 ms.
//! * The push of those scans' edits to the server on loopback (`Client::push`: 500 loans,
//!   each made and returned, as a desk that was offline sends them). Goal: under 2 s.
//!
//! The server runs in this process (the `shelfmark-server` library over SQLite, seeded with
//! the demo library) and shares the machine's cores with the desk. The cache is a file with
//! the desk's durability settings. Run with `cargo bench -p shelfmark-cli --bench circulation`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use shelfmark_client::{Client, SharedStore};
use shelfmark_core::CopyStatus;
use shelfmark_core::circulation::Outcome;
use shelfmark_server::{AppState, Config};
use shelfmark_store::Store;

const SCANS: usize = 1_000;
const ROUNDS: usize = 3;
const PASSWORD: &str = "bench-password";

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The demo library's server, listening on loopback inside this process.
async fn start_server(dir: &std::path::Path) -> anyhow::Result<String> {
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let store = shelfmark_server::store::Store::connect(&url).await?;
    shelfmark_server::demo::seed(&store, Some(PASSWORD.into())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(shelfmark_server::serve(
        listener,
        AppState::new(store, Config::default()),
        std::future::pending(),
    ));
    Ok(format!("http://{addr}"))
}

/// The barcodes of `n` copies on the shelf (available, no hold) and a patron's card.
fn desk_round(
    cache: &SharedStore,
    n: usize,
) -> anyhow::Result<(Vec<String>, shelfmark_core::Patron)> {
    let s = cache
        .lock()
        .map_err(|_| anyhow::anyhow!("cache poisoned"))?;
    let mut barcodes = Vec::new();
    for book in s.list_books("", 5000)? {
        let Some(detail) = s.book_detail(book.id)? else {
            continue;
        };
        if !detail.holds.is_empty() {
            continue;
        }
        for c in detail.copies {
            if c.record.status == CopyStatus::Available && !c.pending {
                barcodes.push(c.record.barcode);
            }
        }
        if barcodes.len() >= n {
            break;
        }
    }
    ensure!(
        barcodes.len() >= n,
        "only {} copies on the shelf",
        barcodes.len()
    );
    barcodes.truncate(n);
    let patron = s
        .search_patrons("", 500)?
        .into_iter()
        .find(|p| !p.card.is_empty())
        .context("a patron with a card")?;
    Ok((barcodes, patron))
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let url = runtime.block_on(start_server(dir.path()))?;
    let mut client = Client::new(&url)?;
    runtime.block_on(client.sign_in("librarian", PASSWORD))?;
    let mut cache = Store::open(&dir.path().join("cache.db"))?;
    cache.set_user(Some("librarian"));
    let cache: SharedStore = Arc::new(Mutex::new(cache));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let t = Instant::now();
    runtime.block_on(client.sync(&cache, &tx))?;
    eprintln!("first sync of the demo library: {:?}", t.elapsed());

    println!("| round | scans | p50 | p95 | p99 | max | push of the edits |");
    println!("|---|---|---|---|---|---|---|");
    for round in 0..ROUNDS {
        let (barcodes, patron) = desk_round(&cache, SCANS / 2)?;
        let mut times = Vec::with_capacity(SCANS);
        for code in &barcodes {
            for (with, expected) in [
                (Some(patron.id), Outcome::CheckedOut),
                (None, Outcome::Returned),
            ] {
                let t = Instant::now();
                let result = cache
                    .lock()
                    .map_err(|_| anyhow::anyhow!("cache poisoned"))?
                    .scan(code, with)?;
                times.push(t.elapsed());
                ensure!(
                    result.outcome == expected,
                    "{code}: {:?}: {}",
                    result.outcome,
                    result.message
                );
            }
        }
        times.sort();
        let t = Instant::now();
        let report = runtime.block_on(client.push(&cache, &tx))?;
        let push = t.elapsed();
        ensure!(
            report.pushed == SCANS / 2 && report.failed == 0,
            "push: {report:?}"
        );
        // The next round starts from the server's state of the copies.
        runtime.block_on(client.sync(&cache, &tx))?;
        println!(
            "| {round} | {} | {} | {} | {} | {} | {} ({} loans) |",
            times.len(),
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.95)),
            ms(percentile(&times, 0.99)),
            ms(times[times.len() - 1]),
            ms(push),
            report.pushed,
        );
    }
    Ok(())
}
