//! Benchmark: the desktop app's start and memory with a large cache (figures in BENCHMARKS.md,
//! "Desktop start and memory"). Goals (issue #7): the catalogue visible within 1 s of launch,
//! and the whole app (its own process and WebKit's) under 150 MB resident, with 100,000 books
//! in the cache.
//!
//! What a librarian has at the start of a day is prepared first: a cache holding the library
//! (100,000 books made by the demo's generator, 1 to 4 copies each), filled by a real first
//! sync (`Client::sync`) from a real server; the session remembered (`session.json` and a token
//! file beside the cache, as the app leaves them); and that server still up on loopback (in
//! this process), so the app opens straight on the catalogue and its own first sync is a `304`.
//!
//! Then the release app is launched under Xvfb with `SHELFMARK_STARTUP_PROBE` set, which makes
//! it print `shelfmark: catalogue visible` once the catalogue's first rows are painted. Each
//! round times spawn to that line, reads the resident memory (RSS and PSS from
//! `/proc/PID/smaps_rollup`) of the app and every process it started (WebKit's web and network
//! processes) at that moment and again 3 s later (settled: the first sync answered), then
//! stops the app. Rounds: one first launch (WebKit's data and caches empty), then cold and warm
//! launches alternately. Cold: before the launch, the files the app mapped in the first round
//! (its binary, the shared libraries of all its processes) and the cache file are dropped from
//! the page cache (`dd iflag=nocache`, i.e. `posix_fadvise(DONTNEED)`: no root needed; pages
//! that other running programs have mapped stay). Warm: right after another launch.
//!
//! Then, for reference, WebKitGTK's own MiniBrowser showing a static page of 40 rows: how long
//! it takes, cold and warm, from spawn to that page painted (the page reports its paint to a
//! loopback listener here, as the app's probe does), and what it costs in memory: what any
//! window drawn by WebKitGTK costs on this machine. Last, one launch driven over
//! WebDriver (WebKitWebDriver, as tauri-driver would start it) measures memory after scrolling
//! the list to its middle and after a search (under automation the app keeps WebKit's GPU
//! compositing, for WebDriver's screenshots: those figures compare with each other).
//!
//! Run (the UI is built into the binary):
//!
//! ```sh
//! (cd ui && npm run build) && cargo build --release -p shelfmark-desktop \
//!   && cargo bench -p shelfmark-tests --bench startup
//! ```
//!
//! `SHELFMARK_BENCH_BOOKS` (100000) and `SHELFMARK_BENCH_ROUNDS` (5 cold + 5 warm) change the
//! size; `SHELFMARK_BENCH_WEBDRIVER=0` skips the driven launch; `SHELFMARK_BENCH_KEEP=1` keeps
//! the prepared folder (the cache, the session) for profiling the app by hand;
//! `SHELFMARK_BENCH_APP=<path>` measures another build of the app (before and after a change).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use shelfmark_client::Client;
use shelfmark_client::credentials::{Backend, TokenStore};
use shelfmark_core::wire::Role;
use shelfmark_core::{Copy, CopyStatus, RecordType};
use shelfmark_server::http::records::{Books, Copies, Kind as _};
use shelfmark_server::store::{Actor, Write};
use shelfmark_store::Store;
use shelfmark_tests::{Xvfb, free_port, wait_for, workspace_bin};

/// What the app prints when the probe is on and the first rows are painted (`probe.rs`).
const VISIBLE_LINE: &str = "shelfmark: catalogue visible";
const USER: &str = "librarian";
const PASSWORD: &str = "bench-password";
/// How long after the first paint the settled sample is taken.
const SETTLE: Duration = Duration::from_secs(3);
const GOAL_START: Duration = Duration::from_secs(1);
const GOAL_MB: f64 = 150.0;

fn main() -> anyhow::Result<()> {
    let books = env_number("SHELFMARK_BENCH_BOOKS", 100_000)?;
    let rounds = env_number("SHELFMARK_BENCH_ROUNDS", 5)?;
    let app = desktop_binary()?;
    machine();
    let dir = tempfile::Builder::new()
        .prefix("shelfmark-startup-")
        .tempdir()?;
    let data_dir = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(prepare(dir.path(), &data_dir, books))?;
    let xvfb = Xvfb::start()?;
    let env = AppEnv {
        app,
        display: xvfb.display.clone(),
        data_dir,
        home: dir.path().join("home"),
    };

    println!("\nlaunches (time to the first painted rows; memory of the app and its processes)");
    println!(
        "{:<6} {:>9} {:>9} {:>15} {:>15} {:>6}",
        "launch", "visible", "online", "RSS/PSS visible", "RSS/PSS settled", "load"
    );
    let mut runs = Vec::new();
    let first = launch_round(&env, Kind::First)?;
    let mapped = first.mapped.clone();
    runs.push(first);
    for _ in 0..rounds {
        evict(&mapped, &env)?;
        runs.push(launch_round(&env, Kind::Cold)?);
        runs.push(launch_round(&env, Kind::Warm)?);
    }
    summary(&runs);
    reference(&env, &mapped)?;

    if std::env::var("SHELFMARK_BENCH_WEBDRIVER").as_deref() != Ok("0") {
        rt.block_on(driven(&env))?;
    }
    if std::env::var_os("SHELFMARK_BENCH_KEEP").is_some() {
        let kept = dir.keep();
        println!(
            "\nkept {} (the app's data folder in data/; the server is gone)",
            kept.display()
        );
    }
    Ok(())
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The release app, built after the UI it embeds (or `SHELFMARK_BENCH_APP`, another build).
fn desktop_binary() -> anyhow::Result<PathBuf> {
    if let Some(other) = std::env::var_os("SHELFMARK_BENCH_APP") {
        println!("app: {}", Path::new(&other).display());
        return Ok(PathBuf::from(other));
    }
    let app = workspace_bin("shelfmark-desktop")?;
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist/index.html");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(ui), Some(bin)) = (modified(&dist), modified(&app))
        && ui > bin
    {
        bail!(
            "{} is older than the UI it embeds (ui/dist): rebuild it \
             (`cargo build --release -p shelfmark-desktop`)",
            app.display()
        );
    }
    println!("app: {}", app.display());
    Ok(app)
}

/// What the numbers were measured on.
fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let webkit = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "machine: {cpu}, {cores} cores, {:.1} GB, Linux {}, WebKitGTK {webkit}, load {}",
        mem as f64 / 1e6,
        kernel.trim(),
        load()
    );
}

/// The 1-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The server with the library (it keeps running on the runtime), and the app's data folder
/// as a synced, signed-in app leaves it.
async fn prepare(dir: &Path, data_dir: &Path, count: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    let books = shelfmark_server::demo::books(count, 0x5348_454c_464d_4b21)?;
    let mut rng = Rng(0x636f_7069_6573);
    let mut writes = Vec::with_capacity(count * 3);
    let mut barcode = 40_000_000u32;
    for book in &books {
        writes.push(Write {
            kind: RecordType::Book,
            id: book.id,
            data: serde_json::to_string(book)?,
            index: Books::index(book),
        });
        let class = format!("{}.{}", 100 + rng.below(800), rng.below(100));
        for _ in 0..1 + rng.below(4) {
            barcode += 1;
            let copy = Copy {
                id: rng.uuid(),
                book_id: book.id,
                barcode: barcode.to_string(),
                branch: shelfmark_server::demo::BRANCHES
                    [rng.below(shelfmark_server::demo::BRANCHES.len() as u64) as usize]
                    .to_owned(),
                call_number: class.clone(),
                status: match rng.below(100) {
                    0..=74 => CopyStatus::Available,
                    75..=96 => CopyStatus::OnLoan,
                    _ => CopyStatus::Missing,
                },
            };
            writes.push(Write {
                kind: RecordType::Copy,
                id: copy.id,
                data: serde_json::to_string(&copy)?,
                index: Copies::index(&copy),
            });
        }
    }
    let records = writes.len();
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let store = shelfmark_server::store::Store::connect(&url).await?;
    shelfmark_server::auth::add_user(&store, USER, Role::Librarian, PASSWORD).await?;
    let actor = Actor {
        name: "bench".into(),
    };
    store.insert_many(&actor, writes).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = format!("http://{}", listener.local_addr()?);
    let state = shelfmark_server::AppState::new(store, shelfmark_server::Config::default());
    tokio::spawn(shelfmark_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    println!(
        "server: {count} books, {} copies, seeded in {:.1} s",
        records - count,
        t.elapsed().as_secs_f64()
    );

    // The app's data folder after a sign-in and a first sync.
    let t = Instant::now();
    std::fs::create_dir_all(data_dir)?;
    let mut client = Client::new(&server)?;
    let user = client.sign_in(USER, PASSWORD).await?;
    let cache = Arc::new(Mutex::new(Store::open(&data_dir.join("cache.db"))?));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let report = client.sync(&cache, &tx).await?;
    ensure!(
        report.pull.changes == records,
        "the first sync brought {} changes, not {records}",
        report.pull.changes
    );
    let books_cached = cache
        .lock()
        .map_err(|_| anyhow::anyhow!("the cache's lock is poisoned"))?
        .count_books()?;
    ensure!(books_cached == count as i64, "{books_cached} books cached");
    drop(cache);
    let session = serde_json::json!({ "server_url": server, "user": user.name, "role": user.role });
    std::fs::write(
        data_dir.join("session.json"),
        serde_json::to_string_pretty(&session)?,
    )?;
    let token = client.token().context("signed in without a token")?;
    TokenStore::new(&server, &user.name, data_dir.join("token"), Backend::File).save(token)?;
    let size: u64 = std::fs::read_dir(data_dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "cache: first sync of {records} records in {:.1} s, {:.0} MB on disk",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    Ok(())
}

/// A small deterministic generator (xorshift), so every run has the same copies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uuid(&mut self) -> uuid::Uuid {
        let bytes = (u128::from(self.next()) << 64 | u128::from(self.next())).to_le_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// How the app is started.
struct AppEnv {
    app: PathBuf,
    display: String,
    data_dir: PathBuf,
    /// XDG folders of the launched app (WebKit's data and caches): the bench's own.
    home: PathBuf,
}

impl AppEnv {
    /// The app's command with the bench's environment: the probe on, the remembered session
    /// (nothing from the environment), our display and XDG folders.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for name in [
            "SHELFMARK_SERVER_URL",
            "SHELFMARK_USERNAME",
            "SHELFMARK_PASSWORD",
            "SHELFMARK_SYNC_INTERVAL",
            "WAYLAND_DISPLAY",
            "RUST_LOG",
        ] {
            cmd.env_remove(name);
        }
        cmd.env("DISPLAY", &self.display)
            .env("SHELFMARK_DATA_DIR", &self.data_dir)
            .env("SHELFMARK_CREDENTIAL_STORE", "file")
            .env("SHELFMARK_STARTUP_PROBE", "1")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env("XDG_CONFIG_HOME", self.home.join("config"));
        cmd
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    First,
    Cold,
    Warm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::First => "first",
            Kind::Cold => "cold",
            Kind::Warm => "warm",
        }
    }
}

/// What the app said, and when.
enum Said {
    Visible(Instant),
    /// The first sync's outcome (`synced` or `sync failed`), from the log.
    Synced(Instant, bool),
}

struct Round {
    kind: Kind,
    visible: Duration,
    online: Option<Duration>,
    at_visible: Sample,
    settled: Sample,
    load: String,
    /// The files the app's processes had mapped (for the cold rounds' eviction).
    mapped: BTreeSet<PathBuf>,
}

/// One launch: spawn, wait for the painted rows, sample memory, stop.
fn launch_round(env: &AppEnv, kind: Kind) -> anyhow::Result<Round> {
    let log_path = env.home.join(format!("app-{}.log", kind.name()));
    std::fs::create_dir_all(&env.home)?;
    let log = std::fs::File::create(&log_path)?;
    let (tx, rx) = mpsc::channel();
    let spawned = Instant::now();
    let mut child = env
        .command(&env.app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the app")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == VISIBLE_LINE {
                let _ = out_tx.send(Said::Visible(Instant::now()));
            }
        }
    });
    std::thread::spawn(move || {
        let mut log = std::io::BufWriter::new(log);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            let _ = log.flush();
            if line.contains(" synced") {
                let _ = tx.send(Said::Synced(Instant::now(), true));
            } else if line.contains("sync failed") || line.contains("sign-in failed") {
                let _ = tx.send(Said::Synced(Instant::now(), false));
            }
        }
    });
    let pid = child.id();
    let mut child = Stopped(child);
    let result = (|| {
        let mut online = None;
        let deadline = spawned + Duration::from_secs(60);
        let visible = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Said::Visible(at)) => break at - spawned,
                Ok(Said::Synced(at, ok)) => online = Some((at - spawned, ok)),
                Err(_) if Instant::now() > deadline => bail!("no painted rows within 60 s"),
                Err(_) => {
                    if let Some(status) = child.0.try_wait()? {
                        bail!("the app exited ({status}) before showing the catalogue");
                    }
                }
            }
        };
        let at_visible = sample(pid);
        let mut mapped = BTreeSet::new();
        collect_mapped(&at_visible, &mut mapped);
        let settle_until = Instant::now() + SETTLE;
        while let Some(left) = settle_until.checked_duration_since(Instant::now()) {
            if let Ok(Said::Synced(at, ok)) = rx.recv_timeout(left)
                && online.is_none()
            {
                online = Some((at - spawned, ok));
            }
        }
        let settled = sample(pid);
        collect_mapped(&settled, &mut mapped);
        let online = match online {
            Some((d, true)) => Some(d),
            Some((_, false)) => bail!("the app's first sync failed: it did not start online"),
            None => None,
        };
        Ok(Round {
            kind,
            visible,
            online,
            at_visible,
            settled,
            load: load(),
            mapped,
        })
    })();
    drop(child);
    let round = result.map_err(|e| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        e.context(format!(
            "{} launch; the app's log ({}) ends:\n{}",
            kind.name(),
            log_path.display(),
            tail.join("\n")
        ))
    })?;
    println!(
        "{:<6} {:>9} {:>9} {:>15} {:>15} {:>6}",
        kind.name(),
        ms(round.visible),
        round.online.map_or("-".into(), ms),
        round.at_visible.both(),
        round.settled.both(),
        round.load
    );
    Ok(round)
}

/// A process stopped, with every process it started, when dropped (even on a panic).
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Stops the app (SIGTERM, then SIGKILL) and waits until every process it started is gone.
fn stop(child: &mut Child) {
    let tree = descendants(child.id());
    signal("TERM", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let _ = child.wait();
    let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
    let gone = wait_for(Duration::from_secs(5), "the app's processes to end", || {
        tree.iter().skip(1).all(|p| !alive(p))
    });
    if gone.is_err() {
        for pid in tree.iter().skip(1).filter(|p| alive(p)) {
            signal("KILL", *pid);
        }
    }
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Drops the files the app maps, and its cache, from the page cache (a cold start without
/// root: `posix_fadvise(POSIX_FADV_DONTNEED)` through `dd`). Says how much stayed resident
/// (pages other running programs have mapped).
fn evict(mapped: &BTreeSet<PathBuf>, env: &AppEnv) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = mapped.iter().cloned().collect();
    files.push(env.app.clone());
    for name in ["cache.db", "cache.db-wal"] {
        files.push(env.data_dir.join(name));
    }
    files.retain(|f| f.is_file());
    for f in &files {
        let status = Command::new("dd")
            .arg(format!("if={}", f.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .context("cannot run dd")?;
        ensure!(status.success(), "dd could not evict {}", f.display());
    }
    // What is left in the page cache, if `fincore` (util-linux) is there to tell.
    if let Ok(out) = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES,SIZE"])
        .args(&files)
        .output()
    {
        let (mut res, mut size) = (0u64, 0u64);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut cols = line
                .split_whitespace()
                .map(|c| c.parse::<u64>().unwrap_or(0));
            res += cols.next().unwrap_or(0);
            size += cols.next().unwrap_or(0);
        }
        println!(
            "       (evicted {} files, {:.0} MB; {:.0} MB stayed in the page cache)",
            files.len(),
            size as f64 / 1e6,
            res as f64 / 1e6
        );
    }
    Ok(())
}

/// One process's memory.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    name: String,
    rss_kb: u64,
    pss_kb: u64,
    /// Private pages (USS): what ending this process would give back.
    uss_kb: u64,
}

/// The memory of a process tree at one moment.
#[derive(Debug, Clone, Default)]
struct Sample {
    procs: Vec<Proc>,
}

impl Sample {
    fn rss_mb(&self) -> f64 {
        self.procs.iter().map(|p| p.rss_kb).sum::<u64>() as f64 * 1024.0 / 1e6
    }

    fn pss_mb(&self) -> f64 {
        self.procs.iter().map(|p| p.pss_kb).sum::<u64>() as f64 * 1024.0 / 1e6
    }

    fn uss_mb(&self) -> f64 {
        self.procs.iter().map(|p| p.uss_kb).sum::<u64>() as f64 * 1024.0 / 1e6
    }

    fn both(&self) -> String {
        format!("{:.0}/{:.0} MB", self.rss_mb(), self.pss_mb())
    }
}

/// RSS and PSS of `root` and every process under it.
fn sample(root: u32) -> Sample {
    let procs = descendants(root)
        .into_iter()
        .filter_map(|pid| {
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let field = |name: &str| {
                rollup
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            Some(Proc {
                pid,
                name: process_name(pid),
                rss_kb: field("Rss:"),
                pss_kb: field("Pss:"),
                uss_kb: field("Private_Clean:") + field("Private_Dirty:"),
            })
        })
        .collect();
    Sample { procs }
}

/// The program's file name (`/proc/PID/cmdline`'s first word), else the kernel's short name.
fn process_name(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = Path::new(&*String::from_utf8_lossy(first))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    } else {
        name
    }
}

/// `root` and every process under it (from each process's parent in `/proc/PID/stat`).
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the name may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    tree
}

/// The files the sampled processes map (binaries and shared libraries).
fn collect_mapped(sample: &Sample, into: &mut BTreeSet<PathBuf>) {
    for p in &sample.procs {
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{}/maps", p.pid)) else {
            continue;
        };
        for line in maps.lines() {
            if let Some(path) = line.split_whitespace().nth(5)
                && path.starts_with('/')
                && !path.starts_with("/dev/")
                && !path.starts_with("/memfd")
                && !line.ends_with("(deleted)")
            {
                into.insert(PathBuf::from(path));
            }
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// Medians per kind of launch, the processes' share, and the verdict.
fn summary(runs: &[Round]) {
    println!("\nmedians (visible: spawn to the first rows painted; memory in MB = 10^6 bytes)");
    println!(
        "{:<6} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "launch", "n", "visible", "online", "RSS vis", "PSS vis", "RSS set", "PSS set", "USS set"
    );
    for kind in [Kind::First, Kind::Cold, Kind::Warm] {
        let of: Vec<&Round> = runs.iter().filter(|r| r.kind == kind).collect();
        if of.is_empty() {
            continue;
        }
        let m = |f: &dyn Fn(&Round) -> f64| median(of.iter().map(|r| f(r)).collect());
        println!(
            "{:<6} {:>3} {:>6.0} ms {:>6.0} ms {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            kind.name(),
            of.len(),
            m(&|r| r.visible.as_secs_f64() * 1e3),
            m(&|r| r.online.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)),
            m(&|r| r.at_visible.rss_mb()),
            m(&|r| r.at_visible.pss_mb()),
            m(&|r| r.settled.rss_mb()),
            m(&|r| r.settled.pss_mb()),
            m(&|r| r.settled.uss_mb()),
        );
    }

    println!("\nper process, settled, medians over the cold and warm launches (MB)");
    let mut by_name: BTreeMap<String, [Vec<f64>; 3]> = BTreeMap::new();
    let later: Vec<&Round> = runs.iter().filter(|r| r.kind != Kind::First).collect();
    for r in &later {
        let mut sums: BTreeMap<String, [u64; 3]> = BTreeMap::new();
        for p in &r.settled.procs {
            let e = sums.entry(p.name.clone()).or_default();
            e[0] += p.rss_kb;
            e[1] += p.pss_kb;
            e[2] += p.uss_kb;
        }
        for (name, kb) in sums {
            let e = by_name.entry(name).or_default();
            for (values, kb) in e.iter_mut().zip(kb) {
                values.push(kb as f64 * 1024.0 / 1e6);
            }
        }
    }
    for (name, [rss, pss, uss]) in by_name {
        println!(
            "  {name:<22} RSS {:>6.1}  PSS {:>6.1}  USS {:>6.1}",
            median(rss),
            median(pss),
            median(uss)
        );
    }

    let visible: Vec<f64> = later.iter().map(|r| r.visible.as_secs_f64()).collect();
    let worst_pss = runs
        .iter()
        .map(|r| r.settled.pss_mb().max(r.at_visible.pss_mb()))
        .fold(0.0, f64::max);
    let cold = median(
        runs.iter()
            .filter(|r| r.kind == Kind::Cold)
            .map(|r| r.visible.as_secs_f64())
            .collect(),
    );
    println!(
        "\nverdict: start {} (cold median {:.0} ms, all later launches median {:.0} ms; goal < {:.0} ms); \
         memory {} (largest PSS {:.0} MB; goal < {GOAL_MB:.0} MB)",
        if cold < GOAL_START.as_secs_f64() {
            "met"
        } else {
            "MISSED"
        },
        cold * 1e3,
        median(visible) * 1e3,
        GOAL_START.as_secs_f64() * 1e3,
        if worst_pss < GOAL_MB { "met" } else { "MISSED" },
        worst_pss,
    );
}

/// WebKitGTK's own floor on this machine, to compare with: its MiniBrowser (beside WebKit's
/// web process) showing a static page like the catalogue's first screen (40 rows of text),
/// with WebKit's defaults and drawn without compositing as the app is. Memory only (it has no
/// probe): sampled like the app's settled memory, 4 s after the launch.
fn reference(env: &AppEnv, mapped: &BTreeSet<PathBuf>) -> anyhow::Result<()> {
    let Some(mini) = mapped
        .iter()
        .find(|p| p.ends_with("WebKitWebProcess"))
        .map(|p| p.with_file_name("MiniBrowser"))
        .filter(|p| p.is_file())
    else {
        println!("\n(no MiniBrowser beside WebKit's web process: no reference)");
        return Ok(());
    };
    let rows: String = (1..=40)
        .map(|i| format!("<li>Book {i} <span>Author {i}</span> 2001 2 of 3 available</li>"))
        .collect();
    let page = env.home.join("reference.html");
    std::fs::write(
        &page,
        format!("<!doctype html><html><body><h1>Catalogue</h1><ul>{rows}</ul></body></html>"),
    )?;
    reference_start(env, &mini, &rows, mapped)?;
    println!("\nreference: WebKitGTK's MiniBrowser on a static page of 40 rows (3 launches each)");
    for (label, compositing) in [("WebKit's defaults", true), ("compositing off", false)] {
        let mut samples = Vec::new();
        for _ in 0..3 {
            let child = start_minibrowser(env, &mini, &page, compositing)?;
            std::thread::sleep(Duration::from_secs(4));
            samples.push(sample(child.0.id()));
        }
        println!(
            "  {label:<18} RSS {:.0} MB, PSS {:.0} MB, USS {:.0} MB (medians)",
            median(samples.iter().map(Sample::rss_mb).collect()),
            median(samples.iter().map(Sample::pss_mb).collect()),
            median(samples.iter().map(Sample::uss_mb).collect()),
        );
    }
    Ok(())
}

/// MiniBrowser showing `page`, with WebKit's GPU compositing or without it (as the app draws).
fn start_minibrowser(
    env: &AppEnv,
    mini: &Path,
    page: &Path,
    compositing: bool,
) -> anyhow::Result<Stopped> {
    let mut cmd = env.command(mini);
    if !compositing {
        cmd.env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    let child = cmd
        .arg("--geometry=1200x800")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start MiniBrowser")?;
    Ok(Stopped(child))
}

/// WebKitGTK's own start on this machine: MiniBrowser, drawn without compositing as the app
/// is, from spawn to its static page of 40 rows painted. The page does what the app's probe
/// does: two animation frames after it is parsed it asks a loopback listener here for an image,
/// and the time is taken when that connection comes. Cold launches drop the same files from the
/// page cache as the app's cold launches (WebKit's libraries are most of them), and
/// MiniBrowser's own binary.
fn reference_start(
    env: &AppEnv,
    mini: &Path,
    rows: &str,
    mapped: &BTreeSet<PathBuf>,
) -> anyhow::Result<()> {
    let mut files = mapped.clone();
    files.insert(mini.to_path_buf());
    println!(
        "\nreference: WebKitGTK's MiniBrowser (compositing off), spawn to a static page of 40 rows \
         painted"
    );
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..3 {
        for kind in ["cold", "warm"] {
            if kind == "cold" {
                evict(&files, env)?;
            }
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            let port = listener.local_addr()?.port();
            let page = env.home.join("reference-start.html");
            std::fs::write(
                &page,
                format!(
                    "<!doctype html><html><body><h1>Catalogue</h1><ul>{rows}</ul><script>\
                     requestAnimationFrame(() => requestAnimationFrame(() => {{ \
                     new Image().src = 'http://127.0.0.1:{port}/painted'; }}));\
                     </script></body></html>"
                ),
            )?;
            let spawned = Instant::now();
            let child = start_minibrowser(env, mini, &page, false)?;
            let painted = loop {
                match listener.accept() {
                    Ok(_) => break spawned.elapsed(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        ensure!(
                            spawned.elapsed() < Duration::from_secs(60),
                            "MiniBrowser painted nothing within 60 s"
                        );
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            drop(child);
            println!("  {kind:<5} {:>9}", ms(painted));
            times
                .entry(kind)
                .or_default()
                .push(painted.as_secs_f64() * 1e3);
        }
    }
    for (kind, t) in times {
        println!("  {kind} median {:.0} ms", median(t));
    }
    Ok(())
}

/// One launch driven over WebDriver: memory once the rows are painted, after scrolling the
/// list to its middle, and after a search.
async fn driven(env: &AppEnv) -> anyhow::Result<()> {
    use fantoccini::Locator;

    println!(
        "\ndriven over WebDriver (under automation the app keeps WebKit's GPU compositing, see \
         webview.rs: compare these with each other, not with the launches above)"
    );
    let port = free_port()?;
    let driver = env
        .command(Path::new("WebKitWebDriver"))
        .arg(format!("--port={port}"))
        .env("TAURI_WEBVIEW_AUTOMATION", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start WebKitWebDriver (Debian package webkit2gtk-driver)")?;
    let driver = Stopped(driver);
    let result = async {
        wait_for(Duration::from_secs(20), "WebKitWebDriver's port", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "webkitgtk:browserOptions".into(),
            serde_json::json!({ "binary": env.app.to_string_lossy(), "args": [] }),
        );
        shelfmark_tests::choose_tls_provider();
        let client = fantoccini::ClientBuilder::rustls()?
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("cannot open a WebDriver session on the app")?;
        let steps = async {
            client
                .wait()
                .at_most(Duration::from_secs(60))
                .for_element(Locator::Css("[data-testid=book-row]"))
                .await?;
            let app = descendants(driver.0.id())
                .into_iter()
                .find(|pid| process_name(*pid) == "shelfmark-desktop")
                .context("no shelfmark-desktop under WebKitWebDriver")?;
            tokio::time::sleep(SETTLE).await;
            report("rows painted, settled", None, &sample(app));

            // Scroll to the middle; wait for other rows, none of them still loading.
            let took = client
                .execute_async(
                    r#"const done = arguments[0];
                    const list = document.querySelector("[data-testid=catalogue-list]");
                    const first = () => document.querySelector("[data-testid=book-row]")?.textContent;
                    const before = first();
                    const t0 = performance.now();
                    list.scrollTop = list.scrollHeight / 2;
                    (function check() {
                      if (first() !== before && !document.querySelector("li.loading"))
                        requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
                      else setTimeout(check, 5);
                    })();"#,
                    vec![],
                )
                .await?;
            tokio::time::sleep(SETTLE).await;
            report("scrolled to the middle", took.as_f64(), &sample(app));

            // A search as the librarian types it.
            let count = |c: &fantoccini::Client| {
                let c = c.clone();
                async move {
                    c.find(Locator::Css("[data-testid=catalogue-count]"))
                        .await?
                        .text()
                        .await
                }
            };
            let before = count(&client).await?;
            let t0 = Instant::now();
            client
                .find(Locator::Css("[data-testid=catalogue-search]"))
                .await?
                .send_keys("garden")
                .await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let now = count(&client).await?;
                let loading = client.find_all(Locator::Css("li.loading")).await?.len();
                if now != before && loading == 0 {
                    break;
                }
                ensure!(Instant::now() < deadline, "the search never finished");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let took = t0.elapsed().as_secs_f64() * 1e3;
            tokio::time::sleep(SETTLE).await;
            let found = count(&client).await?;
            report(
                &format!("searched \"garden\" ({found})"),
                Some(took),
                &sample(app),
            );
            anyhow::Ok(())
        }
        .await;
        let _ = client.close().await;
        steps
    }
    .await;
    drop(driver);
    result
}

fn report(step: &str, took_ms: Option<f64>, s: &Sample) {
    let took = took_ms.map_or(String::new(), |t| format!(" in {t:.0} ms"));
    println!(
        "  {step}{took}: RSS {:.0} MB, PSS {:.0} MB, USS {:.0} MB (PSS: {})",
        s.rss_mb(),
        s.pss_mb(),
        s.uss_mb(),
        s.procs
            .iter()
            .map(|p| format!("{} {:.0}", p.name, p.pss_kb as f64 * 1024.0 / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
