//! Benchmark: the bytes a first sync of 100,000 books puts on the wire, uncompressed (what a
//! client that does not ask for compression receives, as every client did before v1.1) and
//! with gzip and brotli, side by side in one run, with the time each full pull takes on
//! loopback (the server's cost of compressing included). Figures in BENCHMARKS.md.
//!
//! The real server on a loopback listener, its SQLite database seeded with the demo's
//! generator; the client pages the change feed as the desktop does (`limit=5000`) and counts
//! each answer's body as received (not decoded). Run with
//! `cargo bench -p shelfmark-server --bench feed_bytes`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use shelfmark_core::RecordType;
use shelfmark_core::wire::Role;
use shelfmark_server::http::records::{Books, Kind as _};
use shelfmark_server::store::{Actor, Store, Write};
use shelfmark_server::{AppState, Config};

const BOOKS: usize = 100_000;
const PAGE: usize = 5_000;
const ROUNDS: usize = 3;
const PASSWORD: &str = "bench-password";

async fn start(dir: &std::path::Path) -> anyhow::Result<String> {
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let store = Store::connect(&url).await?;
    shelfmark_server::auth::add_user(&store, "bench", Role::Librarian, PASSWORD).await?;
    let books = shelfmark_server::demo::books(BOOKS, 0x5348_454c_464d_4b21)?;
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
    store
        .insert_many(
            &Actor {
                name: "bench".into(),
            },
            writes,
        )
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(store, Config::default());
    tokio::spawn(shelfmark_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Ok(base)
}

/// One full pull: the `since` of each page, the body bytes received, the time taken.
async fn pull(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    coding: Option<&str>,
    pages: &[i64],
) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let mut bytes = 0;
    for since in pages {
        let mut request = http
            .get(format!("{base}/v1/changes?since={since}&limit={PAGE}"))
            .bearer_auth(token);
        if let Some(coding) = coding {
            request = request.header("accept-encoding", coding);
        }
        let response = request.send().await?.error_for_status()?;
        let got = response
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        ensure!(got.as_deref() == coding, "asked {coding:?}, got {got:?}");
        bytes += response.bytes().await?.len();
    }
    Ok((bytes, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(async {
        let base = start(dir.path()).await?;
        // Nothing decoded by the client: bodies are counted as they arrive.
        let http = reqwest::Client::builder().no_gzip().no_brotli().build()?;
        let session: serde_json::Value = http
            .post(format!("{base}/v1/sessions"))
            .json(&serde_json::json!({"username": "bench", "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = session["token"].as_str().context("token")?.to_owned();
        // The pages' starting points, read once from the uncompressed feed.
        let mut pages = Vec::new();
        let mut since = 0;
        loop {
            pages.push(since);
            let page: serde_json::Value = http
                .get(format!("{base}/v1/changes?since={since}&limit={PAGE}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            since = page["last_seq"].as_i64().context("last_seq")?;
            if page["more"] != true {
                break;
            }
        }
        let codings = [None, Some("gzip"), Some("br")];
        let mut results = vec![(0usize, Vec::new()); codings.len()];
        for round in 0..ROUNDS {
            for (i, coding) in codings.iter().enumerate() {
                let (bytes, took) = pull(&http, &base, &token, *coding, &pages).await?;
                eprintln!("round {round}: {coding:?} {bytes} bytes in {took:?}");
                results[i].0 = bytes;
                results[i].1.push(took);
            }
        }
        println!(
            "First sync of {BOOKS} books: {} pages of the change feed",
            pages.len()
        );
        println!(
            "| encoding | bytes on the wire | of uncompressed | pull time (median of {ROUNDS}) |"
        );
        println!("|---|---|---|---|");
        let plain = results[0].0 as f64;
        for (coding, (bytes, mut times)) in codings.iter().zip(results) {
            times.sort();
            println!(
                "| {} | {:.1} MB | {:.0}% | {:.0} ms |",
                coding.unwrap_or("none"),
                bytes as f64 / 1e6,
                100.0 * bytes as f64 / plain,
                times[times.len() / 2].as_secs_f64() * 1e3
            );
        }
        anyhow::Ok(())
    })
}
