//! The embedded backend: one SQLite file in WAL mode, through rusqlite.
//!
//! This module holds only what is SQLite's: the schema, the connections, the locking and the
//! SQL of each [`Conn`] statement; the rules above them are `super::write` and `super::ops`.
//! rusqlite is blocking, so scans and writes run on tokio's blocking pool, while point reads
//! by primary key (the conditional GET path) run inline, being cheaper than the hand-off.
//! Either way the store's (async) rules run over [`SqliteConn`], whose futures never wait:
//! [`now`] drives them to completion on the thread at hand.
//! Reads take a connection from a small pool (WAL lets them run beside a writer). Within one
//! request ([`SqliteStore::scoped`]) the point reads share one read transaction: the token's
//! check and the record's version are read from one snapshot, and a conditional GET starts
//! and ends one transaction, not three (each costs SQLite's shared-memory locks, the larger
//! part of a 304's time). A write ends that snapshot first, so what a request wrote, it reads
//! back. Writes go
//! through one connection in `BEGIN IMMEDIATE` transactions, which SQLite serialises across
//! processes too (a second server instance on the same file waits on the busy timeout
//! instead of failing). Full-text search uses an FTS5 table keyed by the record's rowid.

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::{FromSql, ToSql, ToSqlOutput};
use rusqlite::{Connection, OptionalExtension, Params, TransactionBehavior, params};
use shelfmark_core::RecordType;
use uuid::Uuid;

use super::backend::{
    Arg, Conn, Dialect, Fields, MAIL_COLUMNS, REVISION_AUTHOR_JOIN, ROW_COLUMNS, RawMail,
    RawRevision, RawRow, RawUser, RawUserEntry, Res, Tombstone, USER_COLUMNS, USER_ENTRY_QUERY,
    dependents_query, list_query, recipients, to_dependents, to_mail, to_revision, to_row, to_user,
    to_user_entry,
};
use super::{ListQuery, OutboxMail, Revision, Row, StoreError, User, UserEntry, parse_id, write};
use crate::records::Dependent;

/// Schema steps; step `i` takes the database from version `i` to `i + 1` (public for the
/// migration tests, which build a database at each earlier schema).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE seq_counter (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT INTO seq_counter (id, value) VALUES (1, 0);

CREATE TABLE records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT,
    unique_key TEXT,
    ref_id TEXT,
    ref2_id TEXT,
    status TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX records_by_seq ON records (seq);
CREATE UNIQUE INDEX records_unique_key ON records (kind, unique_key)
    WHERE unique_key IS NOT NULL AND deleted = 0;
CREATE INDEX records_by_ref ON records (kind, ref_id, id) WHERE ref_id IS NOT NULL;
CREATE INDEX records_by_ref2 ON records (kind, ref2_id, id) WHERE ref2_id IS NOT NULL;
CREATE INDEX records_by_status ON records (kind, status, id) WHERE status IS NOT NULL;
CREATE VIRTUAL TABLE records_fts USING fts5 (search);

CREATE TABLE revisions (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    data TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, id, version)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE records ADD COLUMN ref3_id TEXT;
CREATE UNIQUE INDEX records_active_hold_copy ON records (ref3_id)
    WHERE kind = 'hold' AND status = 'active' AND deleted = 0 AND ref3_id IS NOT NULL;

CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
"#,
    // v1.1: a hold has its copy set aside while active and while ready on the hold shelf; a
    // loan has its copy out while on loan. One of each per copy, by the database.
    r#"
DROP INDEX records_active_hold_copy;
CREATE UNIQUE INDEX records_open_hold_copy ON records (ref3_id)
    WHERE kind = 'hold' AND status IN ('active', 'ready') AND deleted = 0 AND ref3_id IS NOT NULL;
CREATE UNIQUE INDEX records_open_loan_copy ON records (ref3_id)
    WHERE kind = 'loan' AND status = 'on_loan' AND deleted = 0 AND ref3_id IS NOT NULL;

-- Every decision on who gets a copy of a book, in the order made (under the writers' lock):
-- "why did this patron get the copy".
CREATE TABLE contests (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    book_id TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX contests_by_book ON contests (book_id, n);
CREATE UNIQUE INDEX contests_once ON contests (hold_id, kind);
"#,
    // v1.1: an administrator disables a staff user (`shelfmark-server user disable`).
    r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tokens_by_user ON tokens (user_id);
"#,
];

const MAX_IDLE_READERS: usize = 16;

/// A SQLite database file shared by the server's tasks.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// Writers queue here, asynchronously, before taking a blocking-pool thread: only the
    /// writer whose turn it is waits on `writer`. Without it, a burst of concurrent writes
    /// (1,000 hold placements) parks hundreds of blocking threads on the mutex.
    write_turn: tokio::sync::Mutex<()>,
    readers: Mutex<Vec<Connection>>,
}

impl Inner {
    fn with_reader<T>(&self, f: impl FnOnce(&mut SqliteConn<'_>) -> Res<T>) -> Res<T> {
        let conn = self.take_reader()?;
        let result = f(&mut SqliteConn(&conn));
        self.give_back(conn);
        result
    }

    fn take_reader(&self) -> Res<Connection> {
        let pooled = lock(&self.readers).pop();
        match pooled {
            Some(c) => Ok(c),
            None => open_connection(&self.path),
        }
    }

    /// Returns a reader to the pool; one still inside a transaction is closed instead.
    fn give_back(&self, conn: Connection) {
        if !conn.is_autocommit() {
            return;
        }
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
    }
}

tokio::task_local! {
    /// The read transaction of the request being served on this task ([`SqliteStore::scoped`]).
    static SNAPSHOT: RefCell<Snapshot>;
}

/// One request's read transaction: begun by its first point read, ended by a write or by the
/// request's end.
struct Snapshot {
    inner: Arc<Inner>,
    /// The connection, inside `BEGIN` (deferred: SQLite takes the snapshot at the first read).
    conn: Option<Connection>,
}

impl Snapshot {
    fn run<T>(&mut self, f: impl FnOnce(&mut SqliteConn<'_>) -> Res<T>) -> Res<T> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = self.inner.take_reader()?;
                conn.prepare_cached("BEGIN")?.execute([])?;
                conn
            }
        };
        let result = f(&mut SqliteConn(&conn));
        self.conn = Some(conn);
        result
    }

    fn end(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Ending a read transaction cannot lose anything; should it fail, the connection
            // is closed rather than pooled (`give_back`).
            let _ = conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]));
            self.inner.give_back(conn);
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.end();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(path: &Path) -> Res<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    // Plans that do not depend on the values bound. Without it SQLite, weighing whether a
    // partial index (`kind = 'hold' AND ...`) fits a query with `kind = ?1`, marks the
    // statement to be re-prepared whenever ?1 is bound again: every point read and every
    // write of `records` was parsed and planned anew at each execution.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens the file (creating it and its directory when missing) and migrates it.
    pub async fn open(path: &Path) -> Res<SqliteStore> {
        let path = path.to_owned();
        let inner = blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut writer = open_connection(&path)?;
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            now(write::migrate(&mut SqliteConn(&tx), MIGRATIONS))?;
            tx.execute_batch(RESTORE_AUTOMERGE)?;
            tx.commit()?;
            Ok(Inner {
                path,
                writer: Mutex::new(writer),
                write_turn: tokio::sync::Mutex::new(()),
                readers: Mutex::new(Vec::new()),
            })
        })
        .await?;
        Ok(SqliteStore {
            inner: Arc::new(inner),
        })
    }

    /// Fails when the database file is no longer where it was opened (deleted or moved while
    /// the server ran: what it writes now would be lost with the last connection).
    pub(super) fn file_present(&self) -> Res<()> {
        std::fs::metadata(&self.inner.path)?;
        Ok(())
    }

    /// Runs `f` on a pooled read connection, on tokio's blocking pool.
    pub(super) async fn read<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConn<'_>) -> Res<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || inner.with_reader(f)).await
    }

    /// Runs a point read (one row by primary key) on the calling task. Such a read takes a few
    /// microseconds and, in WAL mode, never waits for a writer: handing it to the blocking pool
    /// would cost more than the read itself, and this is the path of every conditional GET.
    ///
    /// Inside [`SqliteStore::scoped`] it reads from the request's snapshot.
    pub(super) fn read_now<T>(&self, f: impl FnOnce(&mut SqliteConn<'_>) -> Res<T>) -> Res<T> {
        let ours = SNAPSHOT
            .try_with(|cell| {
                cell.try_borrow()
                    .is_ok_and(|s| Arc::ptr_eq(&s.inner, &self.inner))
            })
            .unwrap_or(false);
        if ours {
            SNAPSHOT.with(|cell| cell.borrow_mut().run(f))
        } else {
            self.inner.with_reader(f)
        }
    }

    /// Runs `request` (one request's handling) with its point reads in one read transaction.
    pub(super) async fn scoped<F: Future>(&self, request: F) -> F::Output {
        let snapshot = Snapshot {
            inner: self.inner.clone(),
            conn: None,
        };
        SNAPSHOT.scope(RefCell::new(snapshot), request).await
    }

    /// Ends the request's read transaction, if one is open: what follows reads the database
    /// as it is then (after this request's own write).
    fn end_snapshot(&self) {
        let _ = SNAPSHOT.try_with(|cell| {
            if let Ok(mut snapshot) = cell.try_borrow_mut()
                && Arc::ptr_eq(&snapshot.inner, &self.inner)
            {
                snapshot.end();
            }
        });
    }

    /// Runs `f` in an immediate transaction, committed when it says so (else rolled back).
    pub(super) async fn write<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConn<'_>) -> Res<(T, bool)> + Send + 'static,
    {
        let inner = self.inner.clone();
        self.end_snapshot();
        let _turn = self.inner.write_turn.lock().await;
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (value, commit) = f(&mut SqliteConn(&tx))?;
            if commit {
                tx.commit()?;
            }
            Ok(value)
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Res<T>
where
    T: Send + 'static,
    F: FnOnce() -> Res<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

/// Runs a future of [`SqliteConn`] steps to its end on this thread. Those steps are
/// synchronous underneath, so the future is ready at its first poll; one that is not (it
/// would have to await something else) is refused rather than blocked on.
pub(super) fn now<T>(f: impl Future<Output = Res<T>>) -> Res<T> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Task(
            "a SQLite step did not finish at once".into(),
        )),
    }
}

/// A connection (or the writer's transaction, which derefs to one) as the store's [`Conn`].
pub(crate) struct SqliteConn<'a>(&'a Connection);

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::Text(s) => s.to_sql(),
            Arg::Int(i) => i.to_sql(),
        }
    }
}

fn fts_query(words: &[String]) -> String {
    let words: Vec<String> = words.iter().map(|w| format!("\"{w}\"*")).collect();
    words.join(" ")
}

const DIALECT: Dialect = Dialect {
    mark: '?',
    live: "r.deleted = 0",
    search_join: " JOIN records_fts f ON f.rowid = r.rowid",
    search_match: "records_fts MATCH {}",
    search_query: fts_query,
};

/// A write's columns in [`Fields`]' order (`?10`, the search text, goes to the FTS table).
fn binds<'a>(f: &'a Fields<'_>) -> Vec<&'a dyn ToSql> {
    let [r1, r2, r3] = &f.refs;
    vec![
        &f.kind,
        &f.id,
        &f.seq,
        &f.data,
        &f.unique_key,
        r1,
        r2,
        r3,
        &f.status,
        &f.search,
        &f.at,
        &f.by,
    ]
}

impl SqliteConn<'_> {
    fn exec(&self, sql: &str, p: impl Params) -> Res<usize> {
        Ok(self.0.prepare_cached(sql)?.execute(p)?)
    }

    fn one<T: FromSql>(&self, sql: &str, p: impl Params) -> Res<T> {
        Ok(self.0.prepare_cached(sql)?.query_row(p, |r| r.get(0))?)
    }

    fn maybe<T: FromSql>(&self, sql: &str, p: impl Params) -> Res<Option<T>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.query_row(p, |r| r.get(0)).optional()?)
    }

    fn row(&self, sql: &str, p: impl Params) -> Res<Option<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let raw = stmt.query_row(p, |r| RawRow::try_from(r)).optional()?;
        raw.map(to_row).transpose()
    }

    fn rows(&self, sql: &str, p: impl Params) -> Res<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| RawRow::try_from(r))?;
        rows.map(|r| to_row(r?)).collect()
    }

    fn mails(&self, sql: &str, p: impl Params) -> Res<Vec<OutboxMail>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| RawMail::try_from(r))?;
        rows.map(|r| to_mail(r?)).collect()
    }

    /// Replaces the record's row of the FTS table.
    fn set_search(&self, kind: &str, id: &str, search: Option<&str>) -> Res<()> {
        let sql = "SELECT rowid FROM records WHERE kind = ?1 AND id = ?2";
        let rowid: i64 = self.one(sql, params![kind, id])?;
        self.exec("DELETE FROM records_fts WHERE rowid = ?1", [rowid])?;
        if let Some(search) = search.filter(|s| !s.trim().is_empty()) {
            let sql = "INSERT INTO records_fts (rowid, search) VALUES (?1, ?2)";
            self.exec(sql, params![rowid, search])?;
        }
        Ok(())
    }
}

impl Conn for SqliteConn<'_> {
    async fn lock(&mut self) -> Res<()> {
        // `BEGIN IMMEDIATE` took the database's write lock already.
        Ok(())
    }

    async fn take_seq(&mut self, n: i64) -> Res<i64> {
        let sql = "UPDATE seq_counter SET value = value + ?1 WHERE id = 1 RETURNING value";
        Ok(self.one::<i64>(sql, [n])? - n + 1)
    }

    async fn get(&mut self, kind: RecordType, id: Uuid) -> Res<Option<Row>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND id = ?2");
        self.row(&sql, params![kind.as_str(), id.to_string()])
    }

    async fn version(&mut self, kind: RecordType, id: Uuid) -> Res<Option<i64>> {
        let sql = "SELECT version FROM records WHERE kind = ?1 AND id = ?2 AND deleted = 0";
        self.maybe(sql, params![kind.as_str(), id.to_string()])
    }

    async fn key_holder(&mut self, kind: RecordType, key: &str, not: Uuid) -> Res<Option<Uuid>> {
        let sql = "SELECT id FROM records
                   WHERE kind = ?1 AND unique_key = ?2 AND deleted = 0 AND id <> ?3";
        let id: Option<String> = self.maybe(sql, params![kind.as_str(), key, not.to_string()])?;
        id.as_deref().map(parse_id).transpose()
    }

    async fn by_unique_key(&mut self, kind: RecordType, key: &str) -> Res<Option<Row>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND unique_key = ?2 AND deleted = 0"
        );
        self.row(&sql, params![kind.as_str(), key])
    }

    async fn dependents(&mut self, rule: &Dependent, id: Uuid) -> Res<(i64, Vec<Uuid>)> {
        let (sql, args) = dependents_query(&DIALECT, rule, id);
        let mut stmt = self.0.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        to_dependents(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn available_copy(&mut self, book_id: Uuid) -> Res<Option<Row>> {
        let sql = "SELECT c.kind, c.id, c.version, c.seq, c.deleted, c.data FROM records c
             WHERE c.kind = 'copy' AND c.ref_id = ?1 AND c.status = 'available' AND c.deleted = 0
               AND NOT EXISTS (SELECT 1 FROM records h WHERE h.kind = 'hold'
                   AND h.status IN ('active', 'ready') AND h.deleted = 0 AND h.ref3_id = c.id)
             ORDER BY c.id LIMIT 1";
        self.row(sql, [book_id.to_string()])
    }

    async fn insert_record(&mut self, f: &Fields<'_>) -> Res<()> {
        let sql = "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                ref2_id, ref3_id, status, updated_at, updated_by)
             VALUES (?1, ?2, 1, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?12)";
        self.exec(sql, binds(f).as_slice())?;
        let rowid = self.0.last_insert_rowid();
        if !f.search.trim().is_empty() {
            let sql = "INSERT INTO records_fts (rowid, search) VALUES (?1, ?2)";
            self.exec(sql, params![rowid, f.search])?;
        }
        Ok(())
    }

    async fn update_record(&mut self, f: &Fields<'_>, at_version: Option<i64>) -> Res<bool> {
        let sql = "UPDATE records SET version = version + 1, seq = ?3, deleted = 0, data = ?4,
                unique_key = ?5, ref_id = ?6, ref2_id = ?7, ref3_id = ?8, status = ?9,
                updated_at = ?11, updated_by = ?12
             WHERE kind = ?1 AND id = ?2 AND (?13 IS NULL OR (version = ?13 AND deleted = 0))";
        let mut binds = binds(f);
        binds.push(&at_version);
        if self.exec(sql, binds.as_slice())? != 1 {
            return Ok(false);
        }
        self.set_search(f.kind, &f.id, Some(f.search))?;
        Ok(true)
    }

    async fn delete_record(&mut self, t: &Tombstone<'_>) -> Res<bool> {
        let sql = "UPDATE records SET version = version + 1, seq = ?1, deleted = 1, data = NULL,
                unique_key = NULL, ref_id = NULL, ref2_id = NULL, ref3_id = NULL, status = NULL,
                updated_at = ?2, updated_by = ?3
             WHERE kind = ?4 AND id = ?5 AND version = ?6 AND deleted = 0";
        let (kind, id) = (t.kind.as_str(), t.id.to_string());
        if self.exec(sql, params![t.seq, t.at, t.by, kind, id, t.version])? != 1 {
            return Ok(false);
        }
        self.set_search(kind, &id, None)?;
        Ok(true)
    }

    async fn add_revision(&mut self, row: &Row, by: &str, at: &str) -> Res<()> {
        let sql = "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        let (kind, id) = (row.kind.as_str(), row.id.to_string());
        self.exec(
            sql,
            params![kind, id, row.version, row.deleted, row.data, by, at],
        )?;
        Ok(())
    }

    async fn list(&mut self, kind: RecordType, q: &ListQuery) -> Res<Vec<Row>> {
        let (sql, args) = list_query(&DIALECT, kind, q);
        self.rows(&sql, rusqlite::params_from_iter(args.iter()))
    }

    async fn changes(&mut self, since: i64, limit: i64) -> Res<Vec<Row>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        self.rows(&sql, params![since, limit])
    }

    async fn count(&mut self, kind: RecordType) -> Res<i64> {
        let sql = "SELECT count(*) FROM records WHERE kind = ?1 AND deleted = 0";
        self.one(sql, [kind.as_str()])
    }

    async fn latest_seq(&mut self) -> Res<i64> {
        self.one("SELECT value FROM seq_counter WHERE id = 1", [])
    }

    async fn revisions(&mut self, k: RecordType, id: Uuid, v: Option<i64>) -> Res<Vec<Revision>> {
        let sql = format!(
            "SELECT r.version, r.deleted, r.data, r.actor, r.at, u.id
             FROM revisions r {REVISION_AUTHOR_JOIN}
             WHERE r.kind = ?1 AND r.id = ?2 AND (?3 IS NULL OR r.version = ?3)
             ORDER BY r.version DESC"
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let p = params![k.as_str(), id.to_string(), v];
        let rows = stmt.query_map(p, |r| RawRevision::try_from(r))?;
        rows.map(|r| to_revision(r?)).collect()
    }

    async fn user_by_name(&mut self, name: &str) -> Res<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1");
        let mut stmt = self.0.prepare_cached(&sql)?;
        let raw = stmt
            .query_row([name], |r| RawUser::try_from(r))
            .optional()?;
        raw.map(to_user).transpose()
    }

    async fn users(&mut self, now: i64) -> Res<Vec<UserEntry>> {
        let mut stmt = self
            .0
            .prepare_cached(&USER_ENTRY_QUERY.replace("{}", "?1"))?;
        let rows = stmt.query_map([now], |r| RawUserEntry::try_from(r))?;
        rows.map(|r| to_user_entry(r?)).collect()
    }

    async fn set_password(&mut self, user: Uuid, hash: &str) -> Res<()> {
        let sql = "UPDATE users SET password_hash = ?1 WHERE id = ?2";
        self.exec(sql, params![hash, user.to_string()])?;
        Ok(())
    }

    async fn set_disabled(&mut self, user: Uuid, disabled: bool) -> Res<()> {
        let sql = "UPDATE users SET disabled = ?1 WHERE id = ?2";
        self.exec(sql, params![disabled, user.to_string()])?;
        Ok(())
    }

    async fn delete_user(&mut self, user: Uuid) -> Res<()> {
        self.exec("DELETE FROM users WHERE id = ?1", [user.to_string()])?;
        Ok(())
    }

    async fn drop_user_tokens(&mut self, user: Uuid, now: i64) -> Res<u64> {
        let sql = "DELETE FROM tokens WHERE user_id = ?1 RETURNING expires_at > ?2";
        let mut stmt = self.0.prepare_cached(sql)?;
        let live = stmt.query_map(params![user.to_string(), now], |r| r.get::<_, bool>(0))?;
        let mut n = 0;
        for was_live in live {
            n += u64::from(was_live?);
        }
        Ok(n)
    }

    async fn upsert_user(&mut self, user: &User, at: &str) -> Res<()> {
        let sql = "INSERT INTO users (id, name, role, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE
             SET role = excluded.role, password_hash = excluded.password_hash";
        let (id, role) = (user.id.to_string(), user.role.as_str());
        self.exec(sql, params![id, user.name, role, user.password_hash, at])?;
        Ok(())
    }

    async fn drop_tokens(&mut self, now: i64) -> Res<()> {
        self.exec("DELETE FROM tokens WHERE expires_at < ?1", [now])?;
        Ok(())
    }

    async fn insert_token(&mut self, hash: &str, user: Uuid, at: &str, expires: i64) -> Res<()> {
        let sql = "INSERT INTO tokens (token_hash, user_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)";
        self.exec(sql, params![hash, user.to_string(), at, expires])?;
        Ok(())
    }

    async fn session(&mut self, hash: &str) -> Res<Option<(User, i64)>> {
        // Two point reads rather than a join: the join's statement was re-prepared by SQLite
        // at every new binding (it showed as half the time of a 304), these two never are.
        static USER_BY_ID: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"));
        let token = self
            .0
            .prepare_cached("SELECT user_id, expires_at FROM tokens WHERE token_hash = ?1")?
            .query_row([hash], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        let Some((user_id, expires)) = token else {
            return Ok(None);
        };
        let raw = self
            .0
            .prepare_cached(&USER_BY_ID)?
            .query_row([user_id], |r| RawUser::try_from(r))
            .optional()?;
        raw.map(|user| Ok((to_user(user)?, expires))).transpose()
    }

    async fn end_session(&mut self, hash: &str) -> Res<()> {
        self.exec("DELETE FROM tokens WHERE token_hash = ?1", params![hash])?;
        Ok(())
    }

    async fn insert_mail(&mut self, mail: &OutboxMail, at: &str, due_ms: i64) -> Res<()> {
        let sql = "INSERT INTO mail_outbox (id, message_id, sender, recipients, subject, raw,
                created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        let (id, to) = (mail.id.to_string(), recipients(mail));
        let (message_id, sender) = (&mail.message_id, &mail.sender);
        self.exec(
            sql,
            params![
                id,
                message_id,
                sender,
                to,
                mail.subject,
                mail.raw,
                at,
                due_ms
            ],
        )?;
        Ok(())
    }

    async fn claim_mail(&mut self, until_ms: i64, now_ms: i64, limit: i64) -> Res<Vec<OutboxMail>> {
        let sql = format!(
            "UPDATE mail_outbox SET claimed_until = ?1
             WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL
                 AND next_attempt_at <= ?2 AND claimed_until <= ?2
                 ORDER BY next_attempt_at LIMIT ?3)
             RETURNING {MAIL_COLUMNS}"
        );
        self.mails(&sql, params![until_ms, now_ms, limit])
    }

    async fn mail_sent(&mut self, id: Uuid, at: &str) -> Res<()> {
        let sql = "UPDATE mail_outbox SET sent_at = ?1, attempts = attempts + 1, claimed_until = 0,
                last_error = NULL
             WHERE id = ?2";
        self.exec(sql, params![at, id.to_string()])?;
        Ok(())
    }

    async fn mail_failed(&mut self, id: Uuid, error: &str, next_ms: i64) -> Res<()> {
        let sql = "UPDATE mail_outbox SET attempts = attempts + 1, claimed_until = 0,
                last_error = ?1, next_attempt_at = ?2
             WHERE id = ?3 AND sent_at IS NULL";
        self.exec(sql, params![error, next_ms, id.to_string()])?;
        Ok(())
    }

    async fn outbox(&mut self) -> Res<Vec<OutboxMail>> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at, id");
        self.mails(&sql, [])
    }

    async fn add_contest(
        &mut self,
        book: Uuid,
        hold: Uuid,
        kind: &str,
        entry: &str,
        at: &str,
    ) -> Res<()> {
        let sql = "INSERT INTO contests (book_id, hold_id, kind, entry, at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hold_id, kind) DO NOTHING";
        let (book, hold) = (book.to_string(), hold.to_string());
        self.exec(sql, params![book, hold, kind, entry, at])?;
        Ok(())
    }

    async fn contests(&mut self, book: Uuid) -> Res<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT entry FROM contests WHERE book_id = ?1 ORDER BY n")?;
        let rows = stmt.query_map([book.to_string()], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn meta(&mut self, key: &str) -> Res<Option<String>> {
        self.maybe("SELECT value FROM meta WHERE key = ?1", [key])
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Res<()> {
        let sql = "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.exec(sql, [key, value])?;
        Ok(())
    }

    async fn batch(&mut self, sql: &str) -> Res<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    /// On the writer's connection, for the load: a page cache that holds the indexes' pages
    /// between batches, a checkpoint every 64 MiB of log rather than every 4 MiB (each page
    /// a load rewrites batch after batch is copied into the database once per checkpoint),
    /// and no automatic merging of the full-text index's segments (each merge rewrites the
    /// segments so far; the load's end merges them once).
    async fn begin_bulk(&mut self) -> Res<()> {
        Ok(self.0.execute_batch(&format!(
            "PRAGMA cache_size = -{BULK_CACHE_KIB}; PRAGMA wal_autocheckpoint = {BULK_CHECKPOINT_PAGES};
             INSERT INTO records_fts (records_fts, rank) VALUES ('automerge', 0);"
        ))?)
    }

    async fn end_bulk(&mut self) -> Res<()> {
        Ok(self.0.execute_batch(&format!(
            "INSERT INTO records_fts (records_fts) VALUES ('optimize');
             {RESTORE_AUTOMERGE}
             PRAGMA wal_autocheckpoint = {DEFAULT_CHECKPOINT_PAGES}; PRAGMA cache_size = -{DEFAULT_CACHE_KIB};"
        ))?)
    }
}

/// The writer's page cache during a bulk load (a MARC import), in KiB, and outside one
/// (SQLite's default).
const BULK_CACHE_KIB: u32 = 32 * 1024;
const DEFAULT_CACHE_KIB: u32 = 2000;
/// Pages of write-ahead log between checkpoints during a bulk load, and outside one
/// (SQLite's default).
const BULK_CHECKPOINT_PAGES: u32 = 16_384;
const DEFAULT_CHECKPOINT_PAGES: u32 = 1000;
/// The full-text index merges its segments as it goes (FTS5's default), as it must for a
/// server's steady trickle of writes; a bulk load turns it off until its end, and opening the
/// database turns it back on should a load have been cut short.
const RESTORE_AUTOMERGE: &str =
    "INSERT INTO records_fts (records_fts, rank) VALUES ('automerge', 4);";
