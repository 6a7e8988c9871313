//! The embedded backend: one SQLite file in WAL mode, through rusqlite.
//!
//! rusqlite is blocking, so scans and writes run on tokio's blocking pool, while point reads
//! by primary key (the conditional GET path) run inline, being cheaper than the hand-off.
//! Reads take a connection from a small pool (WAL lets them run beside a writer); writes go
//! through one
//! connection in `BEGIN IMMEDIATE` transactions, which SQLite serialises across processes too
//! (a second server instance on the same file waits on the busy timeout instead of failing).
//! Full-text search uses an FTS5 table keyed by the record's rowid.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use shelfmark_core::RecordType;
use uuid::Uuid;

use super::ops::{self, Op, Outcome, TxOps};
use super::{
    Actor, DeleteOutcome, Expect, ListQuery, OutboxMail, Revision, Row, SCHEMA_VERSION, StoreError,
    User, Write, WriteOutcome, etag_for, now_rfc3339, parse_id, parse_kind, parse_role,
};
use crate::mail::compose::MailSettings;

/// Schema steps; step `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
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
];

const ROW_COLUMNS: &str = "kind, id, version, seq, deleted, data";
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
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let result = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    let found: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .map(|v| v.parse().unwrap_or(i64::MAX))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.execute_batch(step)?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [SCHEMA_VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

fn row_from(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, i64, i64, bool, Option<String>)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_row(
    (kind, id, version, seq, deleted, data): (String, String, i64, i64, bool, Option<String>),
) -> Result<Row, StoreError> {
    Ok(Row {
        kind: parse_kind(&kind)?,
        id: parse_id(&id)?,
        version,
        seq,
        deleted,
        data,
    })
}

fn get_row(conn: &Connection, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND id = ?2"
    ))?;
    stmt.query_row(params![kind.as_str(), id.to_string()], row_from)
        .optional()?
        .map(to_row)
        .transpose()
}

/// Takes the next `n` sequence numbers, returning the first. Being the first write of every
/// write transaction, it is also what orders writers.
fn take_seq(tx: &Transaction<'_>, n: i64) -> Result<i64, StoreError> {
    let last: i64 = tx.query_row(
        "UPDATE seq_counter SET value = value + ?1 WHERE id = 1 RETURNING value",
        [n],
        |r| r.get(0),
    )?;
    Ok(last - n + 1)
}

fn set_search(
    tx: &Transaction<'_>,
    kind: RecordType,
    id: Uuid,
    search: Option<&str>,
) -> Result<(), StoreError> {
    let rowid: i64 = tx
        .prepare_cached("SELECT rowid FROM records WHERE kind = ?1 AND id = ?2")?
        .query_row(params![kind.as_str(), id.to_string()], |r| r.get(0))?;
    tx.prepare_cached("DELETE FROM records_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    if let Some(search) = search.filter(|s| !s.trim().is_empty()) {
        tx.prepare_cached("INSERT INTO records_fts (rowid, search) VALUES (?1, ?2)")?
            .execute(params![rowid, search])?;
    }
    Ok(())
}

fn add_revision(
    tx: &Transaction<'_>,
    row: &Row,
    actor: &Actor,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.kind.as_str(),
        row.id.to_string(),
        row.version,
        row.deleted,
        row.data,
        actor.name,
        at
    ])?;
    Ok(())
}

fn put_tx(
    tx: &Transaction<'_>,
    actor: &Actor,
    w: Write,
    expect: Expect,
) -> Result<(WriteOutcome, bool), StoreError> {
    let seq = take_seq(tx, 1)?;
    let current = get_row(tx, w.kind, w.id)?;
    let live = current.clone().filter(Row::is_live);
    match (expect, &live) {
        (Expect::Absent, Some(row)) => return Ok((WriteOutcome::Exists(row.clone()), false)),
        (Expect::Version(_), None) => return Ok((WriteOutcome::NotFound, false)),
        _ => {}
    }
    if let Some(key) = &w.index.unique_key {
        let other: Option<String> = tx
            .prepare_cached(
                "SELECT id FROM records WHERE kind = ?1 AND unique_key = ?2 AND deleted = 0 AND id <> ?3",
            )?
            .query_row(params![w.kind.as_str(), key, w.id.to_string()], |r| r.get(0))
            .optional()?;
        if let Some(other) = other {
            return Ok((WriteOutcome::Duplicate(parse_id(&other)?), false));
        }
    }
    let now = now_rfc3339();
    let id = w.id.to_string();
    let ref_id = w.index.ref_id.map(|u| u.to_string());
    let ref2_id = w.index.ref2_id.map(|u| u.to_string());
    let ref3_id = w.index.ref3_id.map(|u| u.to_string());
    let version =
        match (expect, current) {
            (Expect::Version(v), _) => {
                let n = tx
                .prepare_cached(
                    "UPDATE records SET version = version + 1, seq = ?1, data = ?2, unique_key = ?3,
                        ref_id = ?4, ref2_id = ?5, status = ?6, updated_at = ?7, updated_by = ?8,
                        ref3_id = ?12
                     WHERE kind = ?9 AND id = ?10 AND version = ?11 AND deleted = 0",
                )?
                .execute(params![
                    seq, w.data, w.index.unique_key, ref_id, ref2_id, w.index.status, now,
                    actor.name, w.kind.as_str(), id, v, ref3_id
                ])?;
                match (n, live) {
                    (1, _) => v + 1,
                    (_, Some(row)) => return Ok((WriteOutcome::Conflict(row), false)),
                    (_, None) => return Ok((WriteOutcome::NotFound, false)),
                }
            }
            (Expect::Absent, Some(tombstone)) => {
                tx.prepare_cached(
                    "UPDATE records SET version = version + 1, seq = ?1, deleted = 0, data = ?2,
                    unique_key = ?3, ref_id = ?4, ref2_id = ?5, status = ?6, updated_at = ?7,
                    updated_by = ?8, ref3_id = ?11
                 WHERE kind = ?9 AND id = ?10",
                )?
                .execute(params![
                    seq,
                    w.data,
                    w.index.unique_key,
                    ref_id,
                    ref2_id,
                    w.index.status,
                    now,
                    actor.name,
                    w.kind.as_str(),
                    id,
                    ref3_id
                ])?;
                tombstone.version + 1
            }
            (Expect::Absent, None) => {
                tx.prepare_cached(
                "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                    ref2_id, status, updated_at, updated_by, ref3_id)
                 VALUES (?1, ?2, 1, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                w.kind.as_str(), id, seq, w.data, w.index.unique_key, ref_id, ref2_id,
                w.index.status, now, actor.name, ref3_id
            ])?;
                1
            }
        };
    set_search(tx, w.kind, w.id, Some(&w.index.search))?;
    let row = Row {
        kind: w.kind,
        id: w.id,
        version,
        seq,
        deleted: false,
        data: Some(w.data),
    };
    add_revision(tx, &row, actor, &now)?;
    let outcome = match expect {
        Expect::Absent => WriteOutcome::Created(row),
        Expect::Version(_) => WriteOutcome::Updated(row),
    };
    Ok((outcome, true))
}

fn delete_tx(
    tx: &Transaction<'_>,
    actor: &Actor,
    kind: RecordType,
    id: Uuid,
    version: i64,
) -> Result<(DeleteOutcome, bool), StoreError> {
    let seq = take_seq(tx, 1)?;
    let Some(current) = get_row(tx, kind, id)?.filter(Row::is_live) else {
        return Ok((DeleteOutcome::NotFound, false));
    };
    let now = now_rfc3339();
    let n = tx
        .prepare_cached(
            "UPDATE records SET version = version + 1, seq = ?1, deleted = 1, data = NULL,
                unique_key = NULL, ref_id = NULL, ref2_id = NULL, ref3_id = NULL, status = NULL, updated_at = ?2,
                updated_by = ?3
             WHERE kind = ?4 AND id = ?5 AND version = ?6 AND deleted = 0",
        )?
        .execute(params![
            seq,
            now,
            actor.name,
            kind.as_str(),
            id.to_string(),
            version
        ])?;
    if n != 1 {
        return Ok((DeleteOutcome::Conflict(current), false));
    }
    set_search(tx, kind, id, None)?;
    let row = Row {
        kind,
        id,
        version: version + 1,
        seq,
        deleted: true,
        data: None,
    };
    add_revision(tx, &row, actor, &now)?;
    Ok((DeleteOutcome::Deleted(row), true))
}

fn list_rows(c: &Connection, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
    let mut sql =
        String::from("SELECT r.kind, r.id, r.version, r.seq, r.deleted, r.data FROM records r");
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(kind.as_str())];
    if !q.words.is_empty() {
        sql.push_str(" JOIN records_fts f ON f.rowid = r.rowid");
    }
    sql.push_str(" WHERE r.kind = ?1 AND r.deleted = 0");
    let mut push = |clause: &str, arg: Box<dyn ToSql>, sql: &mut String| {
        args.push(arg);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(r) = q.ref_id {
        push("r.ref_id =", Box::new(r.to_string()), &mut sql);
    }
    if let Some(r) = q.ref2_id {
        push("r.ref2_id =", Box::new(r.to_string()), &mut sql);
    }
    if let Some(s) = q.status {
        push("r.status =", Box::new(s), &mut sql);
    }
    if !q.words.is_empty() {
        let query = q
            .words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ");
        push("records_fts MATCH", Box::new(query), &mut sql);
    }
    if let Some(after) = q.after {
        push("r.id >", Box::new(after.to_string()), &mut sql);
    }
    args.push(Box::new(q.limit));
    sql.push_str(&format!(" ORDER BY r.id LIMIT ?{}", args.len()));
    let mut stmt = c.prepare_cached(&sql)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), row_from)?;
    rows.map(|r| to_row(r?)).collect()
}

/// The steps of a business operation, over the writer's transaction.
struct SqliteTx<'a, 'c> {
    tx: &'a Transaction<'c>,
}

const MAIL_COLUMNS: &str =
    "id, message_id, sender, recipients, subject, raw, attempts, sent_at IS NOT NULL, last_error";

fn mail_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailRaw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

type MailRaw = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    bool,
    Option<String>,
);

fn to_mail(
    (id, message_id, sender, recipients, subject, raw, attempts, sent, last_error): MailRaw,
) -> Result<OutboxMail, StoreError> {
    Ok(OutboxMail {
        id: parse_id(&id)?,
        message_id,
        sender,
        recipients: recipients.split(',').map(str::to_owned).collect(),
        subject,
        raw,
        attempts,
        sent,
        last_error,
    })
}

impl TxOps for SqliteTx<'_, '_> {
    async fn lock(&mut self) -> Result<(), StoreError> {
        // `BEGIN IMMEDIATE` took the database's write lock already.
        Ok(())
    }

    async fn get(&mut self, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
        get_row(self.tx, kind, id)
    }

    async fn put(
        &mut self,
        actor: &Actor,
        w: Write,
        expect: Expect,
    ) -> Result<WriteOutcome, StoreError> {
        Ok(put_tx(self.tx, actor, w, expect)?.0)
    }

    async fn delete(
        &mut self,
        actor: &Actor,
        kind: RecordType,
        id: Uuid,
        version: i64,
    ) -> Result<DeleteOutcome, StoreError> {
        Ok(delete_tx(self.tx, actor, kind, id, version)?.0)
    }

    async fn by_unique_key(
        &mut self,
        kind: RecordType,
        key: &str,
    ) -> Result<Option<Row>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND unique_key = ?2 AND deleted = 0"
        ))?;
        stmt.query_row(params![kind.as_str(), key], row_from)
            .optional()?
            .map(to_row)
            .transpose()
    }

    async fn available_copy(&mut self, book_id: Uuid) -> Result<Option<Row>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT c.kind, c.id, c.version, c.seq, c.deleted, c.data FROM records c
             WHERE c.kind = 'copy' AND c.ref_id = ?1 AND c.status = 'available' AND c.deleted = 0
               AND NOT EXISTS (SELECT 1 FROM records h WHERE h.kind = 'hold'
                   AND h.status = 'active' AND h.deleted = 0 AND h.ref3_id = c.id)
             ORDER BY c.id LIMIT 1",
        )?;
        stmt.query_row([book_id.to_string()], row_from)
            .optional()?
            .map(to_row)
            .transpose()
    }

    async fn list(&mut self, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
        list_rows(self.tx, kind, q)
    }

    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO mail_outbox (id, message_id, sender, recipients, subject, raw, created_at,
                next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                mail.id.to_string(),
                mail.message_id,
                mail.sender,
                mail.recipients.join(","),
                mail.subject,
                mail.raw,
                now_rfc3339(),
                chrono::Utc::now().timestamp_millis()
            ],
        )?;
        Ok(())
    }
}

impl SqliteStore {
    /// Opens the file (creating it and its directory when missing) and migrates it.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_owned();
        let inner = blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut writer = open_connection(&path)?;
            migrate(&mut writer)?;
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

    /// Runs `f` on a pooled read connection, on tokio's blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || inner.with_reader(f)).await
    }

    /// Runs a point read (one row by primary key) on the calling task. Such a read takes a few
    /// microseconds and, in WAL mode, never waits for a writer: handing it to the blocking pool
    /// would cost more than the read itself, and this is the path of every conditional GET.
    fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.with_reader(f)
    }

    /// Runs `f` in an immediate transaction, committed when it says so (else rolled back).
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<(T, bool), StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        let _turn = self.inner.write_turn.lock().await;
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (value, commit) = f(&tx)?;
            if commit {
                tx.commit()?;
            }
            Ok(value)
        })
        .await
    }

    pub async fn get(&self, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
        self.read_now(|c| get_row(c, kind, id))
    }

    pub async fn version(&self, kind: RecordType, id: Uuid) -> Result<Option<i64>, StoreError> {
        self.read_now(|c| {
            Ok(c.prepare_cached(
                "SELECT version FROM records WHERE kind = ?1 AND id = ?2 AND deleted = 0",
            )?
            .query_row(params![kind.as_str(), id.to_string()], |r| r.get(0))
            .optional()?)
        })
    }

    pub async fn put(
        &self,
        actor: &Actor,
        w: Write,
        expect: Expect,
    ) -> Result<WriteOutcome, StoreError> {
        let actor = actor.clone();
        self.write(move |tx| put_tx(tx, &actor, w, expect)).await
    }

    pub async fn delete(
        &self,
        actor: &Actor,
        kind: RecordType,
        id: Uuid,
        version: i64,
    ) -> Result<DeleteOutcome, StoreError> {
        let actor = actor.clone();
        self.write(move |tx| delete_tx(tx, &actor, kind, id, version))
            .await
    }

    pub async fn insert_many(&self, actor: &Actor, writes: Vec<Write>) -> Result<(), StoreError> {
        let actor = actor.clone();
        self.write(move |tx| {
            if writes.is_empty() {
                return Ok(((), false));
            }
            let first = take_seq(tx, writes.len() as i64)?;
            let now = now_rfc3339();
            for (seq, w) in (first..).zip(writes) {
                tx.prepare_cached(
                    "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                        ref2_id, status, updated_at, updated_by, ref3_id)
                     VALUES (?1, ?2, 1, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    w.kind.as_str(),
                    w.id.to_string(),
                    seq,
                    w.data,
                    w.index.unique_key,
                    w.index.ref_id.map(|u| u.to_string()),
                    w.index.ref2_id.map(|u| u.to_string()),
                    w.index.status,
                    now,
                    actor.name,
                    w.index.ref3_id.map(|u| u.to_string())
                ])?;
                let rowid = tx.last_insert_rowid();
                if !w.index.search.trim().is_empty() {
                    tx.prepare_cached("INSERT INTO records_fts (rowid, search) VALUES (?1, ?2)")?
                        .execute(params![rowid, w.index.search])?;
                }
                let row = Row {
                    kind: w.kind,
                    id: w.id,
                    version: 1,
                    seq,
                    deleted: false,
                    data: Some(w.data),
                };
                add_revision(tx, &row, &actor, &now)?;
            }
            Ok(((), true))
        })
        .await
    }

    pub async fn revisions(
        &self,
        kind: RecordType,
        id: Uuid,
        version: Option<i64>,
    ) -> Result<Vec<Revision>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT version, deleted, data, actor, at FROM revisions
                 WHERE kind = ?1 AND id = ?2 AND (?3 IS NULL OR version = ?3) ORDER BY version",
            )?;
            let rows = stmt.query_map(params![kind.as_str(), id.to_string(), version], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (version, deleted, data, by, at) = row?;
                out.push(Revision {
                    version,
                    etag: etag_for(version),
                    deleted,
                    data: data.and_then(|d| serde_json::from_str(&d).ok()),
                    by,
                    at,
                });
            }
            Ok(out)
        })
        .await
    }

    pub async fn list(&self, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
        self.read(move |c| list_rows(c, kind, q)).await
    }

    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        self.read_now(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM seq_counter WHERE id = 1")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    pub async fn changes(&self, since: i64, limit: i64) -> Result<Vec<Row>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![since, limit], row_from)?;
            rows.map(|r| to_row(r?)).collect()
        })
        .await
    }

    pub async fn count(&self, kind: RecordType) -> Result<i64, StoreError> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE kind = ?1 AND deleted = 0",
                [kind.as_str()],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, role, password_hash FROM users WHERE name = ?1")?
                .query_row([name], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                    ))
                })
                .optional()?
                .map(|(id, name, role, password_hash)| {
                    Ok(User {
                        id: parse_id(&id)?,
                        name,
                        role: parse_role(&role)?,
                        password_hash,
                    })
                })
                .transpose()
        })
        .await
    }

    pub async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO users (id, name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
                params![user.id.to_string(), user.name, user.role.as_str(), user.password_hash, now_rfc3339()],
            )?;
            Ok(((), true))
        })
        .await
    }

    pub async fn insert_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM tokens WHERE expires_at < ?1",
                [chrono::Utc::now().timestamp()],
            )?;
            tx.execute(
                "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user_id.to_string(), now_rfc3339(), expires_at],
            )?;
            Ok(((), true))
        })
        .await
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<(User, i64)>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.name, u.role, u.password_hash, t.expires_at
                 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()?
            .map(|(id, name, role, password_hash, expires)| {
                Ok((
                    User {
                        id: parse_id(&id)?,
                        name,
                        role: parse_role(&role)?,
                        password_hash,
                    },
                    expires,
                ))
            })
            .transpose()
        })
        .await
    }

    pub async fn run(
        &self,
        actor: &Actor,
        op: Op,
        mail: &MailSettings,
    ) -> Result<Outcome, StoreError> {
        let (actor, mail) = (actor.clone(), mail.clone());
        let inner = self.inner.clone();
        let handle = tokio::runtime::Handle::current();
        let _turn = self.inner.write_turn.lock().await;
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The steps are synchronous underneath: the future never waits, block_on only
            // drives it on this blocking-pool thread.
            let (outcome, commit) =
                handle.block_on(ops::run(&mut SqliteTx { tx: &tx }, &actor, op, &mail))?;
            if commit {
                tx.commit()?;
            }
            Ok(outcome)
        })
        .await
    }

    pub async fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE mail_outbox SET claimed_until = ?1
                 WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL
                     AND next_attempt_at <= ?2 AND claimed_until <= ?2
                     ORDER BY next_attempt_at LIMIT ?3)
                 RETURNING {MAIL_COLUMNS}"
            ))?;
            let rows = stmt.query_map(
                params![now_ms.saturating_add(lease_ms), now_ms, limit],
                mail_from,
            )?;
            let mails = rows
                .map(|r| to_mail(r?))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok((mails, true))
        })
        .await
    }

    pub async fn mail_sent(&self, id: Uuid) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE mail_outbox SET sent_at = ?1, attempts = attempts + 1, claimed_until = 0,
                    last_error = NULL
                 WHERE id = ?2",
                params![now_rfc3339(), id.to_string()],
            )?;
            Ok(((), true))
        })
        .await
    }

    pub async fn mail_failed(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, claimed_until = 0,
                    last_error = ?1, next_attempt_at = ?2
                 WHERE id = ?3 AND sent_at IS NULL",
                params![error, next_attempt_ms, id.to_string()],
            )?;
            Ok(((), true))
        })
        .await
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxMail>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([], mail_from)?;
            rows.map(|r| to_mail(r?)).collect()
        })
        .await
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(((), true))
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}
