//! `shelfmark-server backup` and `restore`: a consistent copy of a SQLite database taken while
//! the server runs, and that copy put back.
//!
//! A backup goes through SQLite's online backup API, copying every page in one step: that step
//! reads one snapshot of the database (WAL lets the server go on writing meanwhile), so the copy
//! holds exactly the transactions committed before it began. It is written to a temporary file
//! beside the destination and renamed over it once complete, in rollback-journal mode, so that
//! the backup is one self-contained file and never half a one.
//!
//! A restore first checks that the file is a Shelfmark database of a schema this binary can
//! open (older ones are migrated at the next start), then copies it into the configured
//! database through the same API, holding the database exclusively: it refuses while any other
//! process (a running server) has the database open, since a server's sequence numbers and
//! sessions must not change under it.
//!
//! PostgreSQL has its own tools for both; [`postgres_commands`] says which.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::store::SCHEMA_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: there is no database there", .0.display())]
    NoDatabase(PathBuf),
    #[error("{}: not a Shelfmark database ({why})", path.display())]
    NotShelfmark { path: PathBuf, why: String },
    #[error(
        "{}: its schema version {found} is newer than this server's {supported}: restore it with a newer shelfmark-server",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "{}: another process has the database open (is the server running?): stop the server, then restore",
        .0.display()
    )]
    InUse(PathBuf),
    #[error("the database is busy: try again")]
    Busy,
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// How long a step waits for a writer to let go before it counts as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Copies the SQLite database at `db` to `to`, consistently, while the server may be writing.
pub fn backup_sqlite(db: &Path, to: &Path) -> Result<(), BackupError> {
    if !db.exists() {
        return Err(BackupError::NoDatabase(db.to_owned()));
    }
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    schema_of(&source, db)?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let partial = to.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut dest = Connection::open(&partial)?;
        copy(&source, &mut dest)?;
        // The copy is one file: no `-wal` beside it to lose.
        dest.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        dest.close().map_err(|(_, e)| e)?;
        std::fs::rename(&partial, to)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Replaces the SQLite database at `db` by the backup `from`, after checking `from`; answers
/// the backup's schema version. Refused while another process has `db` open.
pub fn restore_sqlite(from: &Path, db: &Path) -> Result<i64, BackupError> {
    if !from.exists() {
        return Err(BackupError::NoDatabase(from.to_owned()));
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let version = schema_of(&source, from)?;
    let check: String = source.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(BackupError::NotShelfmark {
            path: from.to_owned(),
            why: format!("it fails SQLite's check: {check}"),
        });
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut dest = exclusive(db)?;
    copy(&source, &mut dest)?;
    // The server opens it in WAL mode again.
    dest.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    dest.close().map_err(|(_, e)| e)?;
    Ok(version)
}

/// The database at `db`, held exclusively (no other connection can read or write it until
/// this one closes), or [`BackupError::InUse`] when another process has it open.
fn exclusive(db: &Path) -> Result<Connection, BackupError> {
    let conn = Connection::open(db)?;
    // Set before the first access, so that a WAL database is opened without shared memory,
    // which needs every other connection to be gone; no waiting for them either.
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE;")?;
    conn.busy_timeout(Duration::ZERO)?;
    let taken = conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;");
    match taken {
        Ok(()) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy
                || e.code == rusqlite::ErrorCode::DatabaseLocked =>
        {
            Err(BackupError::InUse(db.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies every page of `source` into `dest` in one step (one snapshot of `source`).
fn copy(source: &Connection, dest: &mut Connection) -> Result<(), BackupError> {
    let backup = Backup::new(source, dest)?;
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => {
                if std::time::Instant::now() > deadline {
                    return Err(BackupError::Busy);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // A later SQLite's answer this code does not know: try again like a busy one.
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The schema version of a Shelfmark database, refusing anything else and a newer schema.
fn schema_of(conn: &Connection, path: &Path) -> Result<i64, BackupError> {
    let not = |why: &str| BackupError::NotShelfmark {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('meta', 'records', 'revisions', 'users', 'tokens', 'seq_counter')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                not("not a SQLite database")
            }
            other => other.into(),
        })?;
    if tables < 6 {
        return Err(not("it lacks the tables of one"));
    }
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let version: i64 = version
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| not("it has no schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(BackupError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        return Err(not("its schema version is below 1"));
    }
    Ok(version)
}

/// What to run instead for a PostgreSQL database (the URL's password masked): the backup
/// command, and the restore command.
pub fn postgres_commands(database_url: &str, file: &Path) -> (String, String) {
    let url = crate::config::mask_url(database_url);
    let file = file.display();
    (
        format!("pg_dump --format=custom --file '{file}' '{url}'"),
        format!("pg_restore --clean --if-exists --no-owner --dbname '{url}' '{file}'"),
    )
}
