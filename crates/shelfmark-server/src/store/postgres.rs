//! The PostgreSQL backend, through sqlx: the same schema and semantics as the SQLite one.
//!
//! This module holds only what is PostgreSQL's: the schema, the pool, the locking and the SQL
//! of each [`Conn`] statement; the rules above them are `super::write` and `super::ops`.
//! Write transactions start with `UPDATE seq_counter ... RETURNING`, whose row lock orders all
//! writers of all server instances: sequence numbers commit in order, and every later statement
//! of the transaction (READ COMMITTED) sees the state the previous writer committed. Full-text
//! search uses a `tsvector` column with the `simple` configuration and a GIN index.

use shelfmark_core::RecordType;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgPoolOptions};
use sqlx::query::{Query, QueryAs};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::backend::{
    Arg, Conn, Dialect, Fields, MAIL_COLUMNS, REVISION_AUTHOR_JOIN, ROW_COLUMNS, RawMail,
    RawRevision, RawRow, RawUser, RawUserEntry, Res, Tombstone, USER_COLUMNS, USER_ENTRY_QUERY,
    dependents_query, list_query, recipients, to_dependents, to_mail, to_revision, to_row, to_user,
    to_user_entry,
};
use super::{ListQuery, OutboxMail, Revision, Row, User, UserEntry, Write, parse_id, write};
use crate::records::Dependent;

/// Schema steps; step `i` takes the database from version `i` to `i + 1` (public for the
/// migration tests, which build a database at each earlier schema).
pub const MIGRATIONS: &[&str] = &[
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
    // v1.1: a hold has its copy set aside while active and while ready on the hold shelf; a
    // loan has its copy out while on loan. One of each per copy, by the database.
    r#"
DROP INDEX records_active_hold_copy;
CREATE UNIQUE INDEX records_open_hold_copy ON records (ref3_id)
    WHERE kind = 'hold' AND status IN ('active', 'ready') AND NOT deleted AND ref3_id IS NOT NULL;
CREATE UNIQUE INDEX records_open_loan_copy ON records (ref3_id)
    WHERE kind = 'loan' AND status = 'on_loan' AND NOT deleted AND ref3_id IS NOT NULL;

-- Every decision on who gets a copy of a book, in the order made (under the writers' lock):
-- "why did this patron get the copy".
CREATE TABLE contests (
    n BIGSERIAL PRIMARY KEY,
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
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tokens_by_user ON tokens (user_id);
"#,
];

/// A PostgreSQL database shared by any number of server instances.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Res<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        let mut tx = pool.begin().await?;
        // Several instances may start at once: one migrates, the others wait and find it done.
        sqlx::query("SELECT pg_advisory_xact_lock(5417733)")
            .execute(&mut *tx)
            .await?;
        write::migrate(&mut PgConn(&mut tx), MIGRATIONS).await?;
        tx.commit().await?;
        Ok(PgStore { pool })
    }

    /// A connection of the pool, for reads.
    pub(super) async fn conn(&self) -> Res<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// A transaction, for writes; dropped without a commit, it rolls back.
    pub(super) async fn begin(&self) -> Res<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// A connection or transaction as the store's [`Conn`].
pub(crate) struct PgConn<'c>(pub &'c mut PgConnection);

type Rows<'q> = QueryAs<'q, Postgres, RawRow, PgArguments>;
type Mails<'q> = QueryAs<'q, Postgres, RawMail, PgArguments>;

fn tsquery(words: &[String]) -> String {
    let words: Vec<String> = words.iter().map(|w| format!("{w}:*")).collect();
    words.join(" & ")
}

const DIALECT: Dialect = Dialect {
    mark: '$',
    live: "NOT r.deleted",
    search_join: "",
    search_match: "r.search_tsv @@ to_tsquery('simple', {})",
    search_query: tsquery,
};

/// A write's statement with its columns bound in [`Fields`]' order.
fn bound<'q>(sql: &'q str, f: &'q Fields<'_>) -> Query<'q, Postgres, PgArguments> {
    let [r1, r2, r3] = &f.refs;
    sqlx::query(sql)
        .bind(f.kind)
        .bind(&f.id)
        .bind(f.seq)
        .bind(f.data)
        .bind(f.unique_key)
        .bind(r1)
        .bind(r2)
        .bind(r3)
        .bind(f.status)
        .bind(f.search)
        .bind(f.at)
        .bind(f.by)
}

impl PgConn<'_> {
    async fn exec(&mut self, q: Query<'_, Postgres, PgArguments>) -> Res<u64> {
        Ok(q.execute(&mut *self.0).await?.rows_affected())
    }

    async fn row(&mut self, q: Rows<'_>) -> Res<Option<Row>> {
        q.fetch_optional(&mut *self.0)
            .await?
            .map(to_row)
            .transpose()
    }

    async fn rows(&mut self, q: Rows<'_>) -> Res<Vec<Row>> {
        let raw = q.fetch_all(&mut *self.0).await?;
        raw.into_iter().map(to_row).collect()
    }

    async fn mails(&mut self, q: Mails<'_>) -> Res<Vec<OutboxMail>> {
        let raw = q.fetch_all(&mut *self.0).await?;
        raw.into_iter().map(to_mail).collect()
    }
}

impl Conn for PgConn<'_> {
    async fn lock(&mut self) -> Res<()> {
        // The row every writer updates first: held until this transaction ends.
        let sql = "SELECT value FROM seq_counter WHERE id = 1 FOR UPDATE";
        self.exec(sqlx::query(sql)).await?;
        Ok(())
    }

    async fn take_seq(&mut self, n: i64) -> Res<i64> {
        let sql = "UPDATE seq_counter SET value = value + $1 WHERE id = 1 RETURNING value";
        let last: i64 = sqlx::query_scalar(sql)
            .bind(n)
            .fetch_one(&mut *self.0)
            .await?;
        Ok(last - n + 1)
    }

    async fn get(&mut self, kind: RecordType, id: Uuid) -> Res<Option<Row>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND id = $2");
        let q = sqlx::query_as(&sql)
            .bind(kind.as_str())
            .bind(id.to_string());
        self.row(q).await
    }

    async fn version(&mut self, kind: RecordType, id: Uuid) -> Res<Option<i64>> {
        let sql = "SELECT version FROM records WHERE kind = $1 AND id = $2 AND NOT deleted";
        let q = sqlx::query_scalar(sql)
            .bind(kind.as_str())
            .bind(id.to_string());
        Ok(q.fetch_optional(&mut *self.0).await?)
    }

    async fn key_holder(&mut self, kind: RecordType, key: &str, not: Uuid) -> Res<Option<Uuid>> {
        let sql = "SELECT id FROM records
                   WHERE kind = $1 AND unique_key = $2 AND NOT deleted AND id <> $3";
        let q = sqlx::query_scalar(sql).bind(kind.as_str()).bind(key);
        let id: Option<String> = q.bind(not.to_string()).fetch_optional(&mut *self.0).await?;
        id.as_deref().map(parse_id).transpose()
    }

    async fn by_unique_key(&mut self, kind: RecordType, key: &str) -> Res<Option<Row>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND unique_key = $2 AND NOT deleted"
        );
        self.row(sqlx::query_as(&sql).bind(kind.as_str()).bind(key))
            .await
    }

    async fn dependents(&mut self, rule: &Dependent, id: Uuid) -> Res<(i64, Vec<Uuid>)> {
        let (sql, args) = dependents_query(&DIALECT, rule, id);
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for arg in args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        to_dependents(query.fetch_all(&mut *self.0).await?)
    }

    async fn available_copy(&mut self, book_id: Uuid) -> Res<Option<Row>> {
        let sql = "SELECT c.kind, c.id, c.version, c.seq, c.deleted, c.data FROM records c
             WHERE c.kind = 'copy' AND c.ref_id = $1 AND c.status = 'available' AND NOT c.deleted
               AND NOT EXISTS (SELECT 1 FROM records h WHERE h.kind = 'hold'
                   AND h.status IN ('active', 'ready') AND NOT h.deleted AND h.ref3_id = c.id)
             ORDER BY c.id LIMIT 1";
        self.row(sqlx::query_as(sql).bind(book_id.to_string()))
            .await
    }

    async fn insert_record(&mut self, f: &Fields<'_>) -> Res<()> {
        let sql = "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                ref2_id, ref3_id, status, search_tsv, updated_at, updated_by)
             VALUES ($1, $2, 1, $3, FALSE, $4, $5, $6, $7, $8, $9, to_tsvector('simple', $10),
                $11, $12)";
        self.exec(bound(sql, f)).await?;
        Ok(())
    }

    async fn update_record(&mut self, f: &Fields<'_>, at_version: Option<i64>) -> Res<bool> {
        let sql = "UPDATE records SET version = version + 1, seq = $3, deleted = FALSE, data = $4,
                unique_key = $5, ref_id = $6, ref2_id = $7, ref3_id = $8, status = $9,
                search_tsv = to_tsvector('simple', $10), updated_at = $11, updated_by = $12
             WHERE kind = $1 AND id = $2
               AND ($13::bigint IS NULL OR (version = $13 AND NOT deleted))";
        Ok(self.exec(bound(sql, f).bind(at_version)).await? == 1)
    }

    async fn delete_record(&mut self, t: &Tombstone<'_>) -> Res<bool> {
        let sql = "UPDATE records SET version = version + 1, seq = $1, deleted = TRUE, data = NULL,
                unique_key = NULL, ref_id = NULL, ref2_id = NULL, ref3_id = NULL, status = NULL,
                search_tsv = NULL, updated_at = $2, updated_by = $3
             WHERE kind = $4 AND id = $5 AND version = $6 AND NOT deleted";
        let q = sqlx::query(sql).bind(t.seq).bind(t.at).bind(t.by);
        let q = q
            .bind(t.kind.as_str())
            .bind(t.id.to_string())
            .bind(t.version);
        Ok(self.exec(q).await? == 1)
    }

    async fn add_revision(&mut self, row: &Row, by: &str, at: &str) -> Res<()> {
        let sql = "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql)
            .bind(row.kind.as_str())
            .bind(row.id.to_string());
        let q = q.bind(row.version).bind(row.deleted).bind(&row.data);
        self.exec(q.bind(by).bind(at)).await?;
        Ok(())
    }

    /// One statement for all the records and one for their revisions, whatever their number.
    async fn insert_new(&mut self, first: i64, writes: Vec<Write>, at: &str, by: &str) -> Res<()> {
        let n = writes.len();
        let (mut kinds, mut ids, mut seqs) = (Vec::with_capacity(n), Vec::with_capacity(n), vec![]);
        let (mut datas, mut keys, mut statuses) = (Vec::with_capacity(n), vec![], vec![]);
        let (mut refs, mut refs2, mut refs3, mut searches) = (vec![], vec![], vec![], vec![]);
        for (seq, w) in (first..).zip(writes) {
            kinds.push(w.kind.as_str());
            ids.push(w.id.to_string());
            seqs.push(seq);
            datas.push(w.data);
            keys.push(w.index.unique_key);
            refs.push(w.index.ref_id.map(|u| u.to_string()));
            refs2.push(w.index.ref2_id.map(|u| u.to_string()));
            refs3.push(w.index.ref3_id.map(|u| u.to_string()));
            statuses.push(w.index.status);
            searches.push(w.index.search);
        }
        let sql = "INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id,
                ref2_id, status, updated_at, updated_by, search_tsv, ref3_id)
             SELECT k, i, 1, s, FALSE, d, u, r, r2, st, $10, $11, to_tsvector('simple', se), r3
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $12::text[])
                  AS t (k, i, s, d, u, r, r2, st, se, r3)";
        let q = sqlx::query(sql)
            .bind(&kinds)
            .bind(&ids)
            .bind(&seqs)
            .bind(&datas);
        let q = q
            .bind(&keys)
            .bind(&refs)
            .bind(&refs2)
            .bind(&statuses)
            .bind(&searches);
        self.exec(q.bind(at).bind(by).bind(&refs3)).await?;
        let sql = "INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
             SELECT k, i, 1, FALSE, d, $4, $5
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t (k, i, d)";
        let q = sqlx::query(sql).bind(&kinds).bind(&ids).bind(&datas);
        self.exec(q.bind(by).bind(at)).await?;
        Ok(())
    }

    async fn list(&mut self, kind: RecordType, q: &ListQuery) -> Res<Vec<Row>> {
        let (sql, args) = list_query(&DIALECT, kind, q);
        let mut query = sqlx::query_as(&sql);
        for arg in args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        self.rows(query).await
    }

    async fn changes(&mut self, since: i64, limit: i64) -> Res<Vec<Row>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM records WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.rows(sqlx::query_as(&sql).bind(since).bind(limit))
            .await
    }

    async fn count(&mut self, kind: RecordType) -> Res<i64> {
        let sql = "SELECT count(*) FROM records WHERE kind = $1 AND NOT deleted";
        let q = sqlx::query_scalar(sql).bind(kind.as_str());
        Ok(q.fetch_one(&mut *self.0).await?)
    }

    async fn latest_seq(&mut self) -> Res<i64> {
        let q = sqlx::query_scalar("SELECT value FROM seq_counter WHERE id = 1");
        Ok(q.fetch_one(&mut *self.0).await?)
    }

    async fn revisions(&mut self, k: RecordType, id: Uuid, v: Option<i64>) -> Res<Vec<Revision>> {
        let sql = format!(
            "SELECT r.version, r.deleted, r.data, r.actor, r.at, u.id
             FROM revisions r {REVISION_AUTHOR_JOIN}
             WHERE r.kind = $1 AND r.id = $2 AND ($3::bigint IS NULL OR r.version = $3)
             ORDER BY r.version DESC"
        );
        let q = sqlx::query_as::<_, RawRevision>(&sql).bind(k.as_str());
        let raw = q
            .bind(id.to_string())
            .bind(v)
            .fetch_all(&mut *self.0)
            .await?;
        raw.into_iter().map(to_revision).collect()
    }

    async fn user_by_name(&mut self, name: &str) -> Res<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        let q = sqlx::query_as::<_, RawUser>(&sql).bind(name);
        q.fetch_optional(&mut *self.0)
            .await?
            .map(to_user)
            .transpose()
    }

    async fn users(&mut self, now: i64) -> Res<Vec<UserEntry>> {
        let sql = USER_ENTRY_QUERY.replace("{}", "$1");
        let q = sqlx::query_as::<_, RawUserEntry>(&sql).bind(now);
        let raw = q.fetch_all(&mut *self.0).await?;
        raw.into_iter().map(to_user_entry).collect()
    }

    async fn set_password(&mut self, user: Uuid, hash: &str) -> Res<()> {
        let sql = "UPDATE users SET password_hash = $1 WHERE id = $2";
        self.exec(sqlx::query(sql).bind(hash).bind(user.to_string()))
            .await?;
        Ok(())
    }

    async fn set_disabled(&mut self, user: Uuid, disabled: bool) -> Res<()> {
        let sql = "UPDATE users SET disabled = $1 WHERE id = $2";
        self.exec(sqlx::query(sql).bind(disabled).bind(user.to_string()))
            .await?;
        Ok(())
    }

    async fn delete_user(&mut self, user: Uuid) -> Res<()> {
        let q = sqlx::query("DELETE FROM users WHERE id = $1").bind(user.to_string());
        self.exec(q).await?;
        Ok(())
    }

    async fn drop_user_tokens(&mut self, user: Uuid, now: i64) -> Res<u64> {
        let sql = "WITH gone AS (DELETE FROM tokens WHERE user_id = $1 RETURNING expires_at)
             SELECT count(*) FROM gone WHERE expires_at > $2";
        let q = sqlx::query_scalar::<_, i64>(sql)
            .bind(user.to_string())
            .bind(now);
        Ok(q.fetch_one(&mut *self.0).await?.max(0) as u64)
    }

    async fn upsert_user(&mut self, user: &User, at: &str) -> Res<()> {
        let sql = "INSERT INTO users (id, name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE
             SET role = excluded.role, password_hash = excluded.password_hash";
        let q = sqlx::query(sql).bind(user.id.to_string()).bind(&user.name);
        let q = q
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(at);
        self.exec(q).await?;
        Ok(())
    }

    async fn drop_tokens(&mut self, now: i64) -> Res<()> {
        let q = sqlx::query("DELETE FROM tokens WHERE expires_at < $1").bind(now);
        self.exec(q).await?;
        Ok(())
    }

    async fn insert_token(&mut self, hash: &str, user: Uuid, at: &str, expires: i64) -> Res<()> {
        let sql = "INSERT INTO tokens (token_hash, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)";
        let q = sqlx::query(sql).bind(hash).bind(user.to_string());
        self.exec(q.bind(at).bind(expires)).await?;
        Ok(())
    }

    async fn session(&mut self, hash: &str) -> Res<Option<(User, i64)>> {
        let sql = format!(
            "SELECT u.{}, t.expires_at
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
            USER_COLUMNS.replace(", ", ", u.")
        );
        type Raw = (String, String, String, String, bool, i64);
        let q = sqlx::query_as::<_, Raw>(&sql).bind(hash);
        let raw = q.fetch_optional(&mut *self.0).await?;
        raw.map(|(id, name, role, hash, disabled, expires)| {
            Ok((to_user((id, name, role, hash, disabled))?, expires))
        })
        .transpose()
    }

    async fn end_session(&mut self, hash: &str) -> Res<()> {
        let q = sqlx::query("DELETE FROM tokens WHERE token_hash = $1").bind(hash);
        self.exec(q).await?;
        Ok(())
    }

    async fn insert_mail(&mut self, mail: &OutboxMail, at: &str, due_ms: i64) -> Res<()> {
        let sql = "INSERT INTO mail_outbox (id, message_id, sender, recipients, subject, raw,
                created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let q = sqlx::query(sql)
            .bind(mail.id.to_string())
            .bind(&mail.message_id);
        let q = q
            .bind(&mail.sender)
            .bind(recipients(mail))
            .bind(&mail.subject);
        self.exec(q.bind(&mail.raw).bind(at).bind(due_ms)).await?;
        Ok(())
    }

    async fn claim_mail(&mut self, until_ms: i64, now_ms: i64, limit: i64) -> Res<Vec<OutboxMail>> {
        let sql = format!(
            "UPDATE mail_outbox SET claimed_until = $1
             WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL
                 AND next_attempt_at <= $2 AND claimed_until <= $2
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {MAIL_COLUMNS}"
        );
        let q = sqlx::query_as(&sql).bind(until_ms).bind(now_ms);
        self.mails(q.bind(limit)).await
    }

    async fn mail_sent(&mut self, id: Uuid, at: &str) -> Res<()> {
        let sql = "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, claimed_until = 0,
                last_error = NULL
             WHERE id = $2";
        self.exec(sqlx::query(sql).bind(at).bind(id.to_string()))
            .await?;
        Ok(())
    }

    async fn mail_failed(&mut self, id: Uuid, error: &str, next_ms: i64) -> Res<()> {
        let sql = "UPDATE mail_outbox SET attempts = attempts + 1, claimed_until = 0,
                last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND sent_at IS NULL";
        let q = sqlx::query(sql).bind(error).bind(next_ms);
        self.exec(q.bind(id.to_string())).await?;
        Ok(())
    }

    async fn outbox(&mut self) -> Res<Vec<OutboxMail>> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at, id");
        self.mails(sqlx::query_as(&sql)).await
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
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hold_id, kind) DO NOTHING";
        let q = sqlx::query(sql)
            .bind(book.to_string())
            .bind(hold.to_string())
            .bind(kind)
            .bind(entry)
            .bind(at);
        self.exec(q).await?;
        Ok(())
    }

    async fn contests(&mut self, book: Uuid) -> Res<Vec<String>> {
        let q = sqlx::query_scalar("SELECT entry FROM contests WHERE book_id = $1 ORDER BY n")
            .bind(book.to_string());
        Ok(q.fetch_all(&mut *self.0).await?)
    }

    async fn meta(&mut self, key: &str) -> Res<Option<String>> {
        let q = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(key);
        Ok(q.fetch_optional(&mut *self.0).await?)
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Res<()> {
        let sql = "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.exec(sqlx::query(sql).bind(key).bind(value)).await?;
        Ok(())
    }

    async fn batch(&mut self, sql: &str) -> Res<()> {
        sqlx::raw_sql(sql).execute(&mut *self.0).await?;
        Ok(())
    }
}
