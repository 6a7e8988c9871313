//! The PostgreSQL backend, through sqlx: the same schema and semantics as the SQLite one.
//!
//! Write transactions start with `UPDATE seq_counter ... RETURNING`, whose row lock orders all
//! writers of all server instances: sequence numbers commit in order, and every later statement
//! of the transaction (READ COMMITTED) sees the state the previous writer committed. Full-text
//! search uses a `tsvector` column with the `simple` configuration and a GIN index.

use shelfmark_core::RecordType;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
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
CREATE TABLE seq_counter (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
INSERT INTO seq_counter (id, value) VALUES (1, 0);

CREATE TABLE records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    data TEXT,
    unique_key TEXT,
    ref_id TEXT,
    ref2_id TEXT,
    status TEXT,
    search_tsv TSVECTOR,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX records_by_seq ON records (seq);
CREATE UNIQUE INDEX records_unique_key ON records (kind, unique_key)
    WHERE unique_key IS NOT NULL AND NOT deleted;
CREATE INDEX records_by_ref ON records (kind, ref_id, id) WHERE ref_id IS NOT NULL;
CREATE INDEX records_by_ref2 ON records (kind, ref2_id, id) WHERE ref2_id IS NOT NULL;
CREATE INDEX records_by_status ON records (kind, status, id) WHERE status IS NOT NULL;
CREATE INDEX records_search ON records USING GIN (search_tsv);

CREATE TABLE revisions (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
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
    expires_at BIGINT NOT NULL
);
"#,
    r#"
ALTER TABLE records ADD COLUMN ref3_id TEXT;
CREATE UNIQUE INDEX records_active_hold_copy ON records (ref3_id)
    WHERE kind = 'hold' AND status = 'active' AND NOT deleted AND ref3_id IS NOT NULL;

CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
"#,
];

type RawRow = (String, String, i64, i64, bool, Option<String>);
const ROW_COLUMNS: &str = "kind, id, version, seq, deleted, data";

fn to_row((kind, id, version, seq, deleted, data): RawRow) -> Result<Row, StoreError> {
    Ok(Row {
        kind: parse_kind(&kind)?,
        id: parse_id(&id)?,
        version,
        seq,
        deleted,
        data,
    })
}

/// A PostgreSQL database shared by any number of server instances.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

type Tx = Transaction<'static, Postgres>;

async fn get_row(tx: &mut Tx, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
    sqlx::query_as::<_, RawRow>(&format!(
        "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND id = $2"
    ))
    .bind(kind.as_str())
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .map(to_row)
    .transpose()
}

/// Takes the next `n` sequence numbers, returning the first; the row lock orders writers.
async fn take_seq(tx: &mut Tx, n: i64) -> Result<i64, StoreError> {
    let last: i64 = sqlx::query_scalar(
        "UPDATE seq_counter SET value = value + $1 WHERE id = 1 RETURNING value",
    )
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    Ok(last - n + 1)
}

async fn add_revision(tx: &mut Tx, row: &Row, actor: &Actor, at: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.kind.as_str())
    .bind(row.id.to_string())
    .bind(row.version)
    .bind(row.deleted)
    .bind(&row.data)
    .bind(&actor.name)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn put_tx(
    tx: &mut Tx,
    actor: &Actor,
    w: Write,
    expect: Expect,
) -> Result<WriteOutcome, StoreError> {
    let seq = take_seq(tx, 1).await?;
    let current = get_row(tx, w.kind, w.id).await?;
    let live = current.clone().filter(Row::is_live);
    match (expect, &live) {
        (Expect::Absent, Some(row)) => return Ok(WriteOutcome::Exists(row.clone())),
        (Expect::Version(_), None) => return Ok(WriteOutcome::NotFound),
        _ => {}
    }
    if let Some(key) = &w.index.unique_key {
        let other: Option<String> = sqlx::query_scalar(
            "SELECT id FROM records WHERE kind = $1 AND unique_key = $2 AND NOT deleted AND id <> $3",
        )
        .bind(w.kind.as_str())
        .bind(key)
        .bind(w.id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(other) = other {
            return Ok(WriteOutcome::Duplicate(parse_id(&other)?));
        }
    }
    let now = now_rfc3339();
    let id = w.id.to_string();
    let ref_id = w.index.ref_id.map(|u| u.to_string());
    let ref2_id = w.index.ref2_id.map(|u| u.to_string());
    let ref3_id = w.index.ref3_id.map(|u| u.to_string());
    let version = match (expect, current) {
        (Expect::Version(v), _) => {
            let n = sqlx::query(
                "UPDATE records SET version = version + 1, seq = $1, data = $2, unique_key = $3,
                    ref_id = $4, ref2_id = $5, status = $6, updated_at = $7, updated_by = $8,
                    search_tsv = to_tsvector('simple', $12), ref3_id = $13
                 WHERE kind = $9 AND id = $10 AND version = $11 AND NOT deleted",
            )
            .bind(seq)
            .bind(&w.data)
            .bind(&w.index.unique_key)
            .bind(&ref_id)
            .bind(&ref2_id)
            .bind(&w.index.status)
            .bind(&now)
            .bind(&actor.name)
            .bind(w.kind.as_str())
            .bind(&id)
            .bind(v)
            .bind(&w.index.search)
            .bind(&ref3_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            match (n, live) {
                (1, _) => v + 1,
                (_, Some(row)) => return Ok(WriteOutcome::Conflict(row)),
                (_, None) => return Ok(WriteOutcome::NotFound),
            }
        }
        (Expect::Absent, Some(tombstone)) => {
            sqlx::query(
                "UPDATE records SET version = version + 1, seq = $1, deleted = FALSE, data = $2,
                    unique_key = $3, ref_id = $4, ref2_id = $5, status = $6, updated_at = $7,
                    updated_by = $8, search_tsv = to_tsvector('simple', $11), ref3_id = $12
                 WHERE kind = $9 AND id = $10",
            )
            .bind(seq)
            .bind(&w.data)
            .bind(&w.index.unique_key)
            .bind(&ref_id)
            .bind(&ref2_id)
            .bind(&w.index.status)
            .bind(&now)
            .bind(&actor.name)
            .bind(w.kind.as_str())
            .bind(&id)
            .bind(&w.index.search)
            .bind(&ref3_id)
            .execute(&mut **tx)
            .await?;
            tombstone.version + 1
        }
        (Expect::Absent, None) => {
            sqlx::query(
                "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                    ref2_id, status, updated_at, updated_by, search_tsv, ref3_id)
                 VALUES ($1, $2, 1, $3, FALSE, $4, $5, $6, $7, $8, $9, $10, to_tsvector('simple', $11), $12)",
            )
            .bind(w.kind.as_str())
            .bind(&id)
            .bind(seq)
            .bind(&w.data)
            .bind(&w.index.unique_key)
            .bind(&ref_id)
            .bind(&ref2_id)
            .bind(&w.index.status)
            .bind(&now)
            .bind(&actor.name)
            .bind(&w.index.search)
            .bind(&ref3_id)
            .execute(&mut **tx)
            .await?;
            1
        }
    };
    let row = Row {
        kind: w.kind,
        id: w.id,
        version,
        seq,
        deleted: false,
        data: Some(w.data),
    };
    add_revision(tx, &row, actor, &now).await?;
    Ok(match expect {
        Expect::Absent => WriteOutcome::Created(row),
        Expect::Version(_) => WriteOutcome::Updated(row),
    })
}

async fn delete_tx(
    tx: &mut Tx,
    actor: &Actor,
    kind: RecordType,
    id: Uuid,
    version: i64,
) -> Result<DeleteOutcome, StoreError> {
    let seq = take_seq(tx, 1).await?;
    let Some(current) = get_row(tx, kind, id).await?.filter(Row::is_live) else {
        return Ok(DeleteOutcome::NotFound);
    };
    let now = now_rfc3339();
    let n = sqlx::query(
        "UPDATE records SET version = version + 1, seq = $1, deleted = TRUE, data = NULL,
            unique_key = NULL, ref_id = NULL, ref2_id = NULL, ref3_id = NULL, status = NULL,
            search_tsv = NULL,
            updated_at = $2, updated_by = $3
         WHERE kind = $4 AND id = $5 AND version = $6 AND NOT deleted",
    )
    .bind(seq)
    .bind(&now)
    .bind(&actor.name)
    .bind(kind.as_str())
    .bind(id.to_string())
    .bind(version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(DeleteOutcome::Conflict(current));
    }
    let row = Row {
        kind,
        id,
        version: version + 1,
        seq,
        deleted: true,
        data: None,
    };
    add_revision(tx, &row, actor, &now).await?;
    Ok(DeleteOutcome::Deleted(row))
}

async fn list_rows<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    kind: RecordType,
    q: ListQuery,
) -> Result<Vec<Row>, StoreError> {
    let mut sql = format!("SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND NOT deleted");
    let mut n = 1;
    let mut clause = |text: &str, sql: &mut String| {
        n += 1;
        sql.push_str(&text.replace("$?", &format!("${n}")));
    };
    if q.ref_id.is_some() {
        clause(" AND ref_id = $?", &mut sql);
    }
    if q.ref2_id.is_some() {
        clause(" AND ref2_id = $?", &mut sql);
    }
    if q.status.is_some() {
        clause(" AND status = $?", &mut sql);
    }
    if !q.words.is_empty() {
        clause(" AND search_tsv @@ to_tsquery('simple', $?)", &mut sql);
    }
    if q.after.is_some() {
        clause(" AND id > $?", &mut sql);
    }
    clause(" ORDER BY id LIMIT $?", &mut sql);
    let mut query = sqlx::query_as::<_, RawRow>(&sql).bind(kind.as_str());
    if let Some(r) = q.ref_id {
        query = query.bind(r.to_string());
    }
    if let Some(r) = q.ref2_id {
        query = query.bind(r.to_string());
    }
    if let Some(s) = q.status {
        query = query.bind(s);
    }
    if !q.words.is_empty() {
        let tsquery = q
            .words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        query = query.bind(tsquery);
    }
    if let Some(after) = q.after {
        query = query.bind(after.to_string());
    }
    query = query.bind(q.limit);
    query
        .fetch_all(executor)
        .await?
        .into_iter()
        .map(to_row)
        .collect()
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

const MAIL_COLUMNS: &str =
    "id, message_id, sender, recipients, subject, raw, attempts, sent_at IS NOT NULL, last_error";

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

/// The steps of a business operation, over one transaction.
struct PgTx<'a> {
    tx: &'a mut Tx,
}

impl TxOps for PgTx<'_> {
    async fn lock(&mut self) -> Result<(), StoreError> {
        // The row every writer updates first: held until this transaction ends.
        sqlx::query("SELECT value FROM seq_counter WHERE id = 1 FOR UPDATE")
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn get(&mut self, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
        get_row(self.tx, kind, id).await
    }

    async fn put(
        &mut self,
        actor: &Actor,
        w: Write,
        expect: Expect,
    ) -> Result<WriteOutcome, StoreError> {
        put_tx(self.tx, actor, w, expect).await
    }

    async fn delete(
        &mut self,
        actor: &Actor,
        kind: RecordType,
        id: Uuid,
        version: i64,
    ) -> Result<DeleteOutcome, StoreError> {
        delete_tx(self.tx, actor, kind, id, version).await
    }

    async fn by_unique_key(
        &mut self,
        kind: RecordType,
        key: &str,
    ) -> Result<Option<Row>, StoreError> {
        sqlx::query_as::<_, RawRow>(&format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND unique_key = $2 AND NOT deleted"
        ))
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&mut **self.tx)
        .await?
        .map(to_row)
        .transpose()
    }

    async fn available_copy(&mut self, book_id: Uuid) -> Result<Option<Row>, StoreError> {
        sqlx::query_as::<_, RawRow>(
            "SELECT c.kind, c.id, c.version, c.seq, c.deleted, c.data FROM records c
             WHERE c.kind = 'copy' AND c.ref_id = $1 AND c.status = 'available' AND NOT c.deleted
               AND NOT EXISTS (SELECT 1 FROM records h WHERE h.kind = 'hold'
                   AND h.status = 'active' AND NOT h.deleted AND h.ref3_id = c.id)
             ORDER BY c.id LIMIT 1",
        )
        .bind(book_id.to_string())
        .fetch_optional(&mut **self.tx)
        .await?
        .map(to_row)
        .transpose()
    }

    async fn list(&mut self, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
        list_rows(&mut **self.tx, kind, q).await
    }

    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mail_outbox (id, message_id, sender, recipients, subject, raw, created_at,
                next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(mail.id.to_string())
        .bind(&mail.message_id)
        .bind(&mail.sender)
        .bind(mail.recipients.join(","))
        .bind(&mail.subject)
        .bind(&mail.raw)
        .bind(now_rfc3339())
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut **self.tx)
        .await?;
        Ok(())
    }
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Several instances may start at once: one migrates, the others wait and find it done.
        sqlx::query("SELECT pg_advisory_xact_lock(5417733)")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let found: i64 =
            sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = 'schema_version'")
                .fetch_optional(&mut *tx)
                .await?
                .map(|v| v.parse().unwrap_or(i64::MAX))
                .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for step in MIGRATIONS.iter().skip(found.max(0) as usize) {
            sqlx::raw_sql(step).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(SCHEMA_VERSION.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get(&self, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
        sqlx::query_as::<_, RawRow>(&format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND id = $2"
        ))
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(to_row)
        .transpose()
    }

    pub async fn version(&self, kind: RecordType, id: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM records WHERE kind = $1 AND id = $2 AND NOT deleted",
        )
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn put(
        &self,
        actor: &Actor,
        w: Write,
        expect: Expect,
    ) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome = put_tx(&mut tx, actor, w, expect).await?;
        if matches!(outcome, WriteOutcome::Created(_) | WriteOutcome::Updated(_)) {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    pub async fn delete(
        &self,
        actor: &Actor,
        kind: RecordType,
        id: Uuid,
        version: i64,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome = delete_tx(&mut tx, actor, kind, id, version).await?;
        if matches!(outcome, DeleteOutcome::Deleted(_)) {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    pub async fn insert_many(&self, actor: &Actor, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let first = take_seq(&mut tx, writes.len() as i64).await?;
        let now = now_rfc3339();
        let mut kinds = Vec::with_capacity(writes.len());
        let mut ids = Vec::with_capacity(writes.len());
        let mut seqs = Vec::with_capacity(writes.len());
        let mut datas = Vec::with_capacity(writes.len());
        let mut keys = Vec::with_capacity(writes.len());
        let mut refs = Vec::with_capacity(writes.len());
        let mut refs2 = Vec::with_capacity(writes.len());
        let mut statuses = Vec::with_capacity(writes.len());
        let mut searches = Vec::with_capacity(writes.len());
        let mut refs3 = Vec::with_capacity(writes.len());
        for (i, w) in writes.into_iter().enumerate() {
            kinds.push(w.kind.as_str().to_owned());
            ids.push(w.id.to_string());
            seqs.push(first + i as i64);
            datas.push(w.data);
            keys.push(w.index.unique_key);
            refs.push(w.index.ref_id.map(|u| u.to_string()));
            refs2.push(w.index.ref2_id.map(|u| u.to_string()));
            statuses.push(w.index.status);
            searches.push(w.index.search);
            refs3.push(w.index.ref3_id.map(|u| u.to_string()));
        }
        sqlx::query(
            "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id, ref2_id,
                status, updated_at, updated_by, search_tsv, ref3_id)
             SELECT k, i, 1, s, FALSE, d, u, r, r2, st, $10, $11, to_tsvector('simple', se), r3
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $12::text[])
                  AS t (k, i, s, d, u, r, r2, st, se, r3)",
        )
        .bind(&kinds)
        .bind(&ids)
        .bind(&seqs)
        .bind(&datas)
        .bind(&keys)
        .bind(&refs)
        .bind(&refs2)
        .bind(&statuses)
        .bind(&searches)
        .bind(&now)
        .bind(&actor.name)
        .bind(&refs3)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
             SELECT k, i, 1, FALSE, d, $4, $5 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t (k, i, d)",
        )
        .bind(&kinds)
        .bind(&ids)
        .bind(&datas)
        .bind(&actor.name)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn revisions(
        &self,
        kind: RecordType,
        id: Uuid,
        version: Option<i64>,
    ) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query_as::<_, (i64, bool, Option<String>, String, String)>(
            "SELECT version, deleted, data, actor, at FROM revisions
             WHERE kind = $1 AND id = $2 AND ($3::bigint IS NULL OR version = $3) ORDER BY version",
        )
        .bind(kind.as_str())
        .bind(id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(version, deleted, data, by, at)| Revision {
                version,
                etag: etag_for(version),
                deleted,
                data: data.and_then(|d| serde_json::from_str(&d).ok()),
                by,
                at,
            })
            .collect())
    }

    pub async fn list(&self, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
        list_rows(&self.pool, kind, q).await
    }

    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM seq_counter WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn changes(&self, since: i64, limit: i64) -> Result<Vec<Row>, StoreError> {
        sqlx::query_as::<_, RawRow>(&format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(to_row)
        .collect()
    }

    pub async fn count(&self, kind: RecordType) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM records WHERE kind = $1 AND NOT deleted")
                .bind(kind.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT id, name, role, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .map(|(id, name, role, password_hash)| {
            Ok(User {
                id: parse_id(&id)?,
                name,
                role: parse_role(&role)?,
                password_hash,
            })
        })
        .transpose()
    }

    pub async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        )
        .bind(user.id.to_string())
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn insert_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(chrono::Utc::now().timestamp())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id.to_string())
        .bind(now_rfc3339())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<(User, i64)>, StoreError> {
        sqlx::query_as::<_, (String, String, String, String, i64)>(
            "SELECT u.id, u.name, u.role, u.password_hash, t.expires_at
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
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
    }

    pub async fn run(
        &self,
        actor: &Actor,
        op: Op,
        mail: &MailSettings,
    ) -> Result<Outcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (outcome, commit) = ops::run(&mut PgTx { tx: &mut tx }, actor, op, mail).await?;
        if commit {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    pub async fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        sqlx::query_as::<_, MailRaw>(&format!(
            "UPDATE mail_outbox SET claimed_until = $1
             WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL
                 AND next_attempt_at <= $2 AND claimed_until <= $2
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {MAIL_COLUMNS}"
        ))
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(to_mail)
        .collect()
    }

    pub async fn mail_sent(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, claimed_until = 0,
                last_error = NULL
             WHERE id = $2",
        )
        .bind(now_rfc3339())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mail_failed(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, claimed_until = 0, last_error = $1,
                next_attempt_at = $2
             WHERE id = $3 AND sent_at IS NULL",
        )
        .bind(error)
        .bind(next_attempt_ms)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxMail>, StoreError> {
        sqlx::query_as::<_, MailRaw>(&format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(to_mail)
        .collect()
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
