//! Crash safety of the push: the real `shelfmark sync` (a child process) pushes a large
//! outbox to the real server and is killed with SIGKILL at random moments, again and again.
//! Whatever the moment, every edit must end up on the server exactly once or still be
//! pending in the cache: none lost, none applied twice, no create duplicated.
//!
//! Each run tops the outbox up to [`OUTBOX`] edits (notes appended to distinct books, and new
//! books), starts a sync and kills it after a random delay drawn up to four fifths of a
//! whole sync, so kills land before and all through the push. After each kill the
//! cache must hold every unfinished edit as pending (never failed, never in conflict). At the
//! end one sync runs to completion and a fresh cache pulls the server's whole state through
//! the API to count each edit there.
//!
//! Needs the `shelfmark` and `shelfmark-server` binaries built (`make test` does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use shelfmark_core::{Book, isbn};
use shelfmark_store::{OutboxState, Store};
use shelfmark_tests::{DEMO_PASSWORD, DemoServer, workspace_bin};
use uuid::Uuid;

/// How many times a sync must be killed (runs whose sync finished before its kill do not count).
const KILLS: usize = 50;
/// Runs at most, so an unlucky draw of delays cannot loop for long.
const MAX_RUNS: usize = 250;
/// How many edits wait in the outbox at the start of each run.
const OUTBOX: usize = 150;
/// One edit in five creates a book; the others append a line to a book's notes.
const CREATE_EVERY: usize = 5;

/// An edit the test made, and how to recognise it on the server.
enum Edit {
    /// A line appended to this book's notes.
    Note { book: Uuid, line: String },
    /// A new book with this title (unique to the edit).
    Create { book: Uuid, title: String },
}

/// A small xorshift generator: the delays need no quality, only a seed to replay a failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A desk's cache and the `shelfmark` binary working on it.
struct Desk {
    cache: PathBuf,
    bin: PathBuf,
}

impl Desk {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--cache")
            .arg(&self.cache)
            .args(args)
            .env("SHELFMARK_PASSWORD", DEMO_PASSWORD)
            .env("SHELFMARK_CREDENTIAL_STORE", "file")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = self.command(args).stderr(Stdio::piped()).output()?;
        ensure!(
            out.status.success(),
            "shelfmark {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.cache)?)
    }
}

fn signed_in_desk(dir: &Path, name: &str, server: &DemoServer) -> anyhow::Result<Desk> {
    let desk = Desk {
        cache: dir.join(name),
        bin: workspace_bin("shelfmark")?,
    };
    desk.run(&["login", "--server", &server.url, "--user", "librarian"])?;
    desk.run(&["sync"])?;
    Ok(desk)
}

/// Tops the outbox up to [`OUTBOX`] pending edits.
fn top_up(
    store: &mut Store,
    books: &mut impl Iterator<Item = Uuid>,
    edits: &mut Vec<Edit>,
    run: usize,
) -> anyhow::Result<()> {
    let pending = store.pending_edits()?.len();
    for _ in pending..OUTBOX {
        let n = edits.len();
        if n.is_multiple_of(CREATE_EVERY) {
            let book = Book {
                id: Uuid::now_v7(),
                isbn: isbn::from_body(700_000_000 + u32::try_from(n)?),
                title: format!("Crash test book {n}"),
                authors: vec!["Test Writer".into()],
                publisher: String::new(),
                year: Some(2026),
                subjects: vec![],
                summary: String::new(),
                notes: String::new(),
            };
            store.save(&book)?;
            edits.push(Edit::Create {
                book: book.id,
                title: book.title,
            });
        } else {
            let id = books.next().context("no demo books to edit")?;
            let mut book = store.get::<Book>(id)?.context("cached book")?.record;
            let line = format!("crash-test edit {n} in run {run}");
            book.notes = if book.notes.is_empty() {
                line.clone()
            } else {
                format!("{}\n{line}", book.notes)
            };
            store.save(&book)?;
            edits.push(Edit::Note { book: id, line });
        }
    }
    Ok(())
}

/// Every entry of the outbox is still waiting: a kill never turns an edit into a failure or a
/// conflict (which is what a doubled write would look like to the engine).
fn check_outbox(store: &Store, run: usize) -> anyhow::Result<usize> {
    let outbox = store.outbox()?;
    for e in &outbox {
        ensure!(
            e.state == OutboxState::Pending,
            "run {run}: edit {} of {} became {:?}: {:?}",
            e.seq,
            e.record_id,
            e.state,
            e.problem
        );
    }
    Ok(outbox.len())
}

#[test]
fn a_sync_killed_at_random_moments_loses_no_edit_and_doubles_none() -> anyhow::Result<()> {
    let started = Instant::now();
    let seed = std::env::var("SHELFMARK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash test seed {seed} (replay with SHELFMARK_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let server = DemoServer::start()?;
    let dir = tempfile::tempdir()?;
    let desk = signed_in_desk(dir.path(), "desk.db", &server)?;
    let all_books: Vec<Uuid> = desk
        .open()?
        .list_books("", 10_000)?
        .iter()
        .map(|b| b.id)
        .collect();
    // Books are edited in turn; a book met again gets another line (folded into its entry
    // when the earlier edit is still pending).
    let mut books = all_books.into_iter().cycle();
    let mut edits = Vec::new();

    // A first, whole sync tells how long one takes: kills are drawn up to that.
    top_up(&mut desk.open()?, &mut books, &mut edits, 0)?;
    let t = Instant::now();
    desk.run(&["sync"])?;
    let whole = t.elapsed();
    ensure!(
        check_outbox(&desk.open()?, 0)? == 0,
        "a whole sync left edits behind"
    );
    // Up to most of a whole sync: syncs vary with the machine's load, and a kill drawn past
    // the end of a faster sync does not count.
    let longest = whole.as_millis() as u64 * 4 / 5 + 10;

    let (mut interrupted, mut completed, mut run) = (0, 0, 0);
    while interrupted < KILLS && run < MAX_RUNS {
        run += 1;
        top_up(&mut desk.open()?, &mut books, &mut edits, run)?;
        let mut child = desk.command(&["sync"]).spawn()?;
        let delay = Duration::from_millis(rng.below(longest));
        let deadline = Instant::now() + delay;
        // Waiting out the random delay, unless the sync ends first.
        let mut exited = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match exited {
            Some(status) => {
                ensure!(status.success(), "run {run}: the sync failed on its own");
                completed += 1;
            }
            None => {
                child.kill()?; // SIGKILL
                child.wait()?;
                interrupted += 1;
            }
        }
        check_outbox(&desk.open()?, run)?;
    }
    eprintln!(
        "{run} runs: {interrupted} killed, {completed} finished first; {} edits; whole push \
         {whole:?}",
        edits.len()
    );
    ensure!(interrupted >= KILLS, "only {interrupted} runs were killed");

    // What is still pending goes now; then nothing may be left.
    desk.run(&["sync"])?;
    ensure!(
        check_outbox(&desk.open()?, run + 1)? == 0,
        "edits left after the last sync"
    );

    // The server's state, pulled whole through the API into a fresh cache.
    let fresh = signed_in_desk(dir.path(), "fresh.db", &server)?;
    let store = fresh.open()?;
    let mut titles: HashMap<String, usize> = HashMap::new();
    for b in store.list_books("", 100_000)? {
        *titles.entry(b.title).or_default() += 1;
    }
    let mut problems = Vec::new();
    for edit in &edits {
        match edit {
            Edit::Note { book, line } => {
                let notes = store
                    .get::<Book>(*book)?
                    .map(|b| b.record.notes)
                    .unwrap_or_default();
                let n = notes.lines().filter(|l| l == line).count();
                if n != 1 {
                    problems.push(format!("{line:?} is on the server {n} time(s)"));
                }
            }
            Edit::Create { book, title } => {
                let n = titles.get(title).copied().unwrap_or(0);
                if n != 1 || store.get::<Book>(*book)?.is_none() {
                    problems.push(format!("{title:?} is on the server {n} time(s)"));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} of {} edits are wrong (seed {seed}):\n{}",
            problems.len(),
            edits.len(),
            problems.join("\n")
        );
    }
    eprintln!("checked in {:?}", started.elapsed());
    Ok(())
}
