//! `shelfmark-server backup` and `restore` on SQLite: a backup taken while writes keep coming
//! through the real HTTP server holds every write acknowledged before it began, and restores
//! to a database the server opens; a restore refuses what is no Shelfmark database, a newer
//! schema, and a database a running server has open.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Backend;
use common::server::Server;
use reqwest::header::IF_NONE_MATCH;
use reqwest::{Method, StatusCode};
use shelfmark_core::RecordType;
use shelfmark_server::backup::{BackupError, backup_sqlite, restore_sqlite};
use shelfmark_server::config::sqlite_path;
use shelfmark_server::store::{SCHEMA_VERSION, Store};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Writers creating books until told to stop; each acknowledged id goes into `acked`.
fn spawn_writers(
    s: &Server,
    writers: usize,
    acked: Arc<Mutex<Vec<Uuid>>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let (http, base, token) = (s.http.clone(), s.base.clone(), s.token.clone());
            let (acked, stop) = (acked.clone(), stop.clone());
            tokio::spawn(async move {
                // Bounded: at most 400 writes each, whatever happens to `stop`.
                for n in 0..400u32 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = Uuid::now_v7();
                    let body = common::server::book(id, 1000 * w as u32 + n, "Written meanwhile");
                    let r = http
                        .request(Method::PUT, format!("{base}/v1/books/{id}"))
                        .bearer_auth(&token)
                        .header(IF_NONE_MATCH, "*")
                        .json(&body)
                        .send()
                        .await
                        .expect("write");
                    assert_eq!(r.status(), StatusCode::CREATED);
                    acked.lock().await.push(id);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_writes_restores_every_write_acknowledged_before_it_began() {
    let s = Server::start(Backend::Sqlite).await.expect("sqlite server");
    let db = sqlite_path(&s.db.url).expect("a SQLite file");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&s, 4, acked.clone(), stop.clone());

    // Let the writes get going, then take the backup in the middle of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acked.lock().await.len() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writers are stuck"
        );
        tokio::task::yield_now().await;
    }
    let before: Vec<Uuid> = acked.lock().await.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("backup.db");
    let (from, to) = (db.clone(), file.clone());
    tokio::task::spawn_blocking(move || backup_sqlite(&from, &to))
        .await
        .expect("join")
        .expect("the backup");
    let during = acked.lock().await.len();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("a writer");
    }
    let after = acked.lock().await.len();
    assert!(
        after > before.len(),
        "writes went on around the backup ({} before, {during} when it ended, {after} in all)",
        before.len()
    );

    // Restore into a fresh place and open it as the server would.
    let restored = dir.path().join("restored.db");
    let (from, to) = (file.clone(), restored.clone());
    let version = tokio::task::spawn_blocking(move || restore_sqlite(&from, &to))
        .await
        .expect("join")
        .expect("the restore");
    assert_eq!(version, SCHEMA_VERSION);
    let store = Store::connect(&format!("sqlite://{}", restored.display()))
        .await
        .expect("the restored database opens");
    for id in &before {
        let row = store.get(RecordType::Book, *id).await.expect("read");
        assert!(
            row.is_some_and(|r| r.is_live()),
            "a write acknowledged before the backup is missing from it"
        );
    }
    // And nothing in it is half a write: every book has its revision.
    let books = store.count(RecordType::Book).await.expect("count");
    assert!(books as usize >= before.len());
    let first = store
        .revisions(RecordType::Book, before[0], None)
        .await
        .expect("revisions");
    assert_eq!(first.len(), 1);
    // The staff users came along: the restored database signs in.
    assert!(
        store
            .user_by_name("librarian")
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_refuses_a_running_servers_database_a_foreign_file_and_a_newer_schema() {
    let s = Server::start(Backend::Sqlite).await.expect("sqlite server");
    let db = sqlite_path(&s.db.url).expect("a SQLite file");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("backup.db");
    backup_sqlite(&db, &file).expect("backup");

    // The server has the database open: refused, and the database untouched.
    let (id, _) = s.new_book(7, "Still here").await;
    match restore_sqlite(&file, &db) {
        Err(BackupError::InUse(path)) => assert_eq!(path, db),
        other => panic!("a running server's database was restored over: {other:?}"),
    }
    assert!(
        s.state
            .store
            .get(RecordType::Book, id)
            .await
            .expect("read")
            .is_some()
    );
    let r = s
        .req(Method::GET, &format!("/v1/books/{id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    // Not a database at all, or a SQLite file of something else.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just some text that is long enough").expect("write");
    assert!(matches!(
        restore_sqlite(&text, &dir.path().join("x.db")),
        Err(BackupError::NotShelfmark { .. })
    ));
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER);"))
        .expect("another SQLite file");
    assert!(matches!(
        restore_sqlite(&other, &dir.path().join("x.db")),
        Err(BackupError::NotShelfmark { .. })
    ));

    // A backup of a newer server's schema: refused by this one.
    rusqlite::Connection::open(&file)
        .and_then(|c| {
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [(SCHEMA_VERSION + 1).to_string()],
            )
        })
        .expect("make it newer");
    match restore_sqlite(&file, &dir.path().join("x.db")) {
        Err(BackupError::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("a newer schema was restored: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_backs_up_and_restores_and_points_postgres_to_its_tools() {
    let db = common::TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let store = db.store_with_staff().await;
    drop(store);
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("server.toml");
    std::fs::write(&settings, format!("database = {:?}\n", db.url)).expect("settings");
    let file = dir.path().join("nightly.db");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
            .arg("--config")
            .arg(&settings)
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .env_remove("SHELFMARK_DATABASE_URL")
            .output()
            .expect("run shelfmark-server")
    };
    let out = run(&["backup", "--to", &file.display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(file.exists());
    let out = run(&["restore", "--from", &file.display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&[
        "--database",
        "postgres://shelfmark:secret@db.example.org/library",
        "backup",
        "--to",
        "library.dump",
    ]);
    assert!(!out.status.success(), "no backup was made: not a success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "pg_dump --format=custom --file 'library.dump' 'postgres://shelfmark:****@db.example.org/library'"
        ),
        "{stderr}"
    );
    let out = run(&[
        "--database",
        "postgres://db.example.org/library",
        "restore",
        "--from",
        "library.dump",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("pg_restore --clean --if-exists"),
        "{stderr}"
    );
}
