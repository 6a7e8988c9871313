//! Storage: one logical schema, two databases (an embedded SQLite file, or PostgreSQL).
//!
//! Handlers speak to [`Store`] only. Every storage rule is written once, above the small
//! `backend::Conn` interface (the primitive statements of one connection or transaction:
//! get a row, take sequence numbers, insert or update a row's columns, add a revision, look
//! a unique key up, outbox rows...) that [`sqlite`] and [`postgres`] implement with their own
//! SQL, binds, pools and locking: `write` holds the single-record write rules (`put`'s
//! decision tree, deletion, bulk insert, tokens, the migration), [`ops`] the multi-record
//! operations, `backend` the row decoding and the collection query. [`Store`]'s methods
//! only choose the transaction (a read, a point read, a write) each backend runs them in:
//!
//! - every record (book, copy, patron, hold, escalation, purchase request) is a row of one
//!   `records` table: its JSON, a per-record `version` (the ETag), the `seq` of
//!   its last change (the change feed), and a few indexed columns extracted from it (unique key,
//!   references, status, search text);
//! - every write runs in one transaction that first takes the next value of a one-row sequence
//!   counter. That lock orders writers, so sequence numbers are committed in order (a change
//!   feed reader can never skip one) and the compare-and-set `UPDATE ... WHERE version = $n`
//!   is evaluated against the latest committed state, whatever the number of server instances;
//! - every revision of every record is kept in `revisions`, for the `base` of a 409 answer and
//!   an audit view;
//! - an active hold's copy is an indexed column (`ref3_id`) under a unique partial index
//!   (`kind = 'hold' AND status = 'active'`): the database itself refuses a copy to a second
//!   active hold, whatever the code above it does;
//! - the business operations that change several records at once (placing a hold, the
//!   escalation actions) run in one transaction too; mails they send go into the
//!   `mail_outbox` table in that same transaction (see `crate::mail`).
//!
//! Imports point inward: the store uses `crate::records` (the kinds' rules) and
//! `crate::mail::compose` (the messages), never the HTTP layer or mail delivery.

mod backend;
pub mod ops;
pub mod postgres;
pub mod sqlite;
mod write;

use shelfmark_core::RecordType;
use shelfmark_core::wire::Role;
use uuid::Uuid;

use self::backend::{Conn, Res};
use self::postgres::PgConn;
pub use crate::mail::compose::OutboxMail;
pub use crate::records::Index;
use crate::records::{Kind, index_of};

/// The schema version this binary writes. A database with a higher one is refused.
pub const SCHEMA_VERSION: i64 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("a database task failed: {0}")]
    Task(String),
    #[error(
        "the database has schema version {found}, newer than this server's {supported}: upgrade the server"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// A unique index refused a row another transaction committed first (two instances
    /// racing past their own checks): the operation can simply be run again.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            StoreError::Postgres(sqlx::Error::Database(e)) => e.code().as_deref() == Some("23505"),
            _ => false,
        }
    }
}

/// One record as stored: its JSON (absent once deleted) and its concurrency metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: RecordType,
    pub id: Uuid,
    pub version: i64,
    pub seq: i64,
    pub deleted: bool,
    pub data: Option<String>,
}

impl Row {
    pub fn etag(&self) -> String {
        etag_for(self.version)
    }

    /// The record's JSON as a value (`Null` for a deleted record).
    pub fn json(&self) -> serde_json::Value {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn is_live(&self) -> bool {
        !self.deleted
    }
}

/// The strong ETag of a record version.
pub fn etag_for(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The version an ETag of [`etag_for`] names, if it is one.
pub fn version_of(etag: &str) -> Option<i64> {
    etag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

/// A new state of a record.
#[derive(Debug, Clone)]
pub struct Write {
    pub kind: RecordType,
    pub id: Uuid,
    pub data: String,
    pub index: Index,
}

impl Write {
    /// A record of kind `K` as it is written: its JSON and its indexed columns.
    pub fn of<K: Kind>(id: Uuid, record: &K::Record) -> Result<Write, StoreError> {
        Ok(Write {
            kind: K::TYPE,
            id,
            data: serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            index: index_of::<K>(record),
        })
    }
}

/// The state a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No live record (`If-None-Match: *`).
    Absent,
    /// A live record at exactly this version (`If-Match`).
    Version(i64),
}

/// What a bulk import did with one book ([`Store::import_books`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    Updated,
    /// The catalogue already says the same.
    Unchanged,
    /// Already in the catalogue (this book's id), with other content, and updates not asked for.
    Skipped(Uuid),
    /// Not written, for this reason (another book holds the ISBN it was updated to).
    Refused(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Created(Row),
    Updated(Row),
    /// `Expect::Version` and no live record.
    NotFound,
    /// `Expect::Absent` and a live record exists.
    Exists(Row),
    /// `Expect::Version` did not match: the current state.
    Conflict(Row),
    /// Another live record of the kind holds the unique key.
    Duplicate(Uuid),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    Deleted(Row),
    NotFound,
    Conflict(Row),
    /// Others still depend on the record (a book's copies): each kind of them, how many, and
    /// the first ids. Nothing was deleted.
    InUse(Vec<shelfmark_core::wire::Dependents>),
}

/// Who made a change and when, for the revision history.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
}

pub use shelfmark_core::wire::Revision;

/// A filtered, paged read of one collection, in id order.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub ref_id: Option<Uuid>,
    pub ref2_id: Option<Uuid>,
    pub status: Option<String>,
    /// The record whose unique value this is (a patron's card).
    pub unique_key: Option<String>,
    /// Full-text search: every word must match a word of the record (as a prefix).
    pub words: Vec<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// A staff user as stored.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    /// A disabled user can neither sign in nor use a token (schema 4).
    pub disabled: bool,
}

/// A staff user as `shelfmark-server user list` shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEntry {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
    /// Tokens not yet expired.
    pub live_sessions: i64,
}

/// An administrator's change to a staff user (`shelfmark-server user ...`).
#[derive(Debug, Clone)]
pub enum UserChange {
    /// A new password hash; every token of the user ends.
    Password(String),
    /// Disabling ends every token of the user; enabling ends none.
    Disabled(bool),
    /// The user and their tokens go; revisions keep the name as their author's text.
    Remove,
}

/// What a database URL names: `sqlite://PATH` (or `sqlite:PATH`, a `?query` ignored), or
/// `postgres://...` / `postgresql://...`. Read here once, for opening, checking a setting and
/// finding the file to back up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl<'a> {
    Sqlite(std::path::PathBuf),
    Postgres(&'a str),
}

impl DatabaseUrl<'_> {
    pub fn parse(url: &str) -> Result<DatabaseUrl<'_>, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url));
        }
        let path = url
            .strip_prefix("sqlite:")
            .map(|rest| rest.strip_prefix("//").unwrap_or(rest))
            .map(|rest| rest.split('?').next().unwrap_or(rest))
            .filter(|path| !path.is_empty())
            .ok_or_else(|| StoreError::BadUrl(url.into()))?;
        Ok(DatabaseUrl::Sqlite(path.into()))
    }
}

/// The database behind the server.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Runs one request's handling: on SQLite its point reads (the token's check, a record's
    /// version, the feed's head) share one read transaction, ended by a write or the request's
    /// end; PostgreSQL's reads go to its pool as they come.
    pub async fn scoped<F: Future>(&self, request: F) -> F::Output {
        match self {
            Store::Sqlite(s) => s.scoped(request).await,
            Store::Postgres(_) => request.await,
        }
    }
}

/// Runs `$body`, a future over `$c: &mut impl Conn`, on a read connection: SQLite's on the
/// blocking pool, PostgreSQL's from its pool.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        match $store {
            Store::Sqlite(s) => s.read(move |$c| sqlite::now($body)).await,
            Store::Postgres(p) => {
                let mut conn = p.conn().await?;
                let $c = &mut PgConn(&mut conn);
                $body.await
            }
        }
    };
}

/// [`read!`] of one row by primary key: SQLite's runs on the calling task (see
/// `SqliteStore::read_now`).
macro_rules! read_now {
    ($store:expr, |$c:ident| $body:expr) => {
        match $store {
            Store::Sqlite(s) => s.read_now(|$c| sqlite::now($body)),
            Store::Postgres(_) => read!($store, |$c| $body),
        }
    };
}

/// Runs `$body`, a future over `$c: &mut impl Conn` answering `(value, commit)`, in a write
/// transaction committed when it says so (else rolled back).
macro_rules! write_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        match $store {
            Store::Sqlite(s) => s.write(move |$c| sqlite::now($body)).await,
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                let (value, commit) = {
                    let $c = &mut PgConn(&mut tx);
                    $body.await?
                };
                if commit {
                    tx.commit().await?;
                }
                Ok(value)
            }
        }
    };
}

/// A write of one statement, always committed.
async fn committed<T>(step: impl Future<Output = Result<T, StoreError>>) -> Res<(T, bool)> {
    Ok((step.await?, true))
}

impl Store {
    /// Opens (creating and migrating when needed) the database a URL names ([`DatabaseUrl`]).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        match DatabaseUrl::parse(url)? {
            DatabaseUrl::Postgres(url) => {
                Ok(Store::Postgres(postgres::PgStore::connect(url).await?))
            }
            DatabaseUrl::Sqlite(path) => Ok(Store::Sqlite(sqlite::SqliteStore::open(&path).await?)),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn get(&self, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
        read_now!(self, |c| c.get(kind, id))
    }

    /// The version of a live record, without its data (the conditional GET path).
    pub async fn version(&self, kind: RecordType, id: Uuid) -> Result<Option<i64>, StoreError> {
        read_now!(self, |c| c.version(kind, id))
    }

    pub async fn put(
        &self,
        actor: &Actor,
        w: Write,
        expect: Expect,
    ) -> Result<WriteOutcome, StoreError> {
        let actor = actor.clone();
        write_tx!(self, |c| async move {
            let outcome = write::put(c, &actor, w, expect).await?;
            let commit = matches!(outcome, WriteOutcome::Created(_) | WriteOutcome::Updated(_));
            Res::Ok((outcome, commit))
        })
    }

    pub async fn delete(
        &self,
        actor: &Actor,
        kind: RecordType,
        id: Uuid,
        version: i64,
    ) -> Result<DeleteOutcome, StoreError> {
        let actor = actor.clone();
        write_tx!(self, |c| async move {
            let outcome = write::delete(c, &actor, kind, id, version).await?;
            let commit = matches!(outcome, DeleteOutcome::Deleted(_));
            Res::Ok((outcome, commit))
        })
    }

    /// Writes a batch of imported books (each as [`Write::of`] made it) in one transaction
    /// ([`write::import_books`]): each created, updated (when `update`), left as it is or
    /// refused, in order.
    pub async fn import_books(
        &self,
        actor: &Actor,
        books: Vec<Write>,
        update: bool,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let actor = actor.clone();
        write_tx!(self, |c| write::import_books(c, &actor, books, update))
    }

    /// A bulk load begins ([`Conn::begin_bulk`]); call [`Store::end_bulk`] when it is over,
    /// failed or not.
    pub async fn begin_bulk(&self) -> Result<(), StoreError> {
        write_tx!(self, |c| committed(c.begin_bulk()))
    }

    /// The bulk load is over ([`Conn::end_bulk`]).
    pub async fn end_bulk(&self) -> Result<(), StoreError> {
        write_tx!(self, |c| committed(c.end_bulk()))
    }

    /// Inserts many new records in one transaction (demo data). Ids must be new.
    pub async fn insert_many(&self, actor: &Actor, writes: Vec<Write>) -> Result<(), StoreError> {
        let actor = actor.clone();
        write_tx!(self, |c| write::insert_many(c, &actor, writes))
    }

    pub async fn revisions(
        &self,
        kind: RecordType,
        id: Uuid,
        version: Option<i64>,
    ) -> Result<Vec<Revision>, StoreError> {
        read!(self, |c| c.revisions(kind, id, version))
    }

    pub async fn list(&self, kind: RecordType, q: ListQuery) -> Result<Vec<Row>, StoreError> {
        read!(self, |c| c.list(kind, &q))
    }

    /// The sequence number of the latest committed change (0 on an empty database).
    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        read_now!(self, |c| c.latest_seq())
    }

    /// Live and deleted records changed after `since`, in `seq` order, at most `limit`.
    pub async fn changes(&self, since: i64, limit: i64) -> Result<Vec<Row>, StoreError> {
        read!(self, |c| c.changes(since, limit))
    }

    pub async fn count(&self, kind: RecordType) -> Result<i64, StoreError> {
        read!(self, |c| c.count(kind))
    }

    /// The user of that name who may sign in: a disabled user is no one to a sign-in (the
    /// answer is the same as for a wrong name). [`Store::user_named`] finds them too.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.user_named(name).await?.filter(|u| !u.disabled))
    }

    /// The user of that name, enabled or disabled.
    pub async fn user_named(&self, name: &str) -> Result<Option<User>, StoreError> {
        let name = name.to_owned();
        read!(self, |c| c.user_by_name(&name))
    }

    /// Every staff user, by name, with their live sessions.
    pub async fn users(&self) -> Result<Vec<UserEntry>, StoreError> {
        let now = chrono::Utc::now().timestamp();
        read!(self, |c| c.users(now))
    }

    /// Adds a user, or replaces the role and password of the user of that name (ending that
    /// user's sessions: a password changed ends them).
    pub async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        write_tx!(self, |c| write::upsert_user(c, &user))
    }

    /// Changes the user of that name; `None` when there is none, else how many of their
    /// sessions ended.
    pub async fn change_user(
        &self,
        name: &str,
        change: UserChange,
    ) -> Result<Option<u64>, StoreError> {
        let name = name.to_owned();
        write_tx!(self, |c| write::change_user(c, &name, change))
    }

    pub async fn insert_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let hash = token_hash.to_owned();
        write_tx!(self, |c| write::insert_token(c, &hash, user_id, expires_at))
    }

    /// The user a token belongs to, and when it expires (unix seconds); none for a disabled
    /// user's token. A point read: it runs on every authenticated request, so that an ended
    /// session, a disabled user or a changed role takes effect on the next request.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(User, i64)>, StoreError> {
        let hash = token_hash.to_owned();
        let found = read_now!(self, |c| c.session(&hash))?;
        Ok(found.filter(|(user, _)| !user.disabled))
    }

    /// Ends one session (sign-out): the token is forgotten.
    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_owned();
        write_tx!(self, |c| committed(c.end_session(&hash)))
    }

    /// Whether the database answers and holds this binary's schema (`GET /readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(s) = self {
            s.file_present()?;
        }
        let found = read_now!(self, |c| c.meta("schema_version"))?;
        match found.as_deref().map(str::parse::<i64>) {
            Some(Ok(SCHEMA_VERSION)) => Ok(()),
            other => Err(StoreError::Corrupt(format!(
                "schema version {other:?}, this server's is {SCHEMA_VERSION}"
            ))),
        }
    }

    /// Runs a business operation (several records, maybe a mail) in one transaction,
    /// committed only when the operation says so. A unique-index race with another instance
    /// runs it again (bounded).
    pub async fn run(
        &self,
        actor: &Actor,
        op: ops::Op,
        rules: &ops::Rules,
    ) -> Result<ops::Outcome, StoreError> {
        let mut attempt = 0;
        loop {
            let (actor, op, rules) = (actor.clone(), op.clone(), rules.clone());
            let result = write_tx!(self, |c| ops::run(c, &actor, op, &rules));
            match result {
                Err(e) if e.is_unique_violation() && attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Claims up to `limit` undelivered mails that are due, for `lease_ms`: another instance
    /// delivering the same outbox skips them meanwhile.
    pub async fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let until_ms = now_ms.saturating_add(lease_ms);
        write_tx!(self, |c| committed(c.claim_mail(until_ms, now_ms, limit)))
    }

    /// Marks a mail delivered (the SMTP server accepted it, or it is in the spool).
    pub async fn mail_sent(&self, id: Uuid) -> Result<(), StoreError> {
        write_tx!(self, |c| committed(c.mail_sent(id, &now_rfc3339())))
    }

    /// Records a failed attempt and when to try again.
    pub async fn mail_failed(
        &self,
        id: Uuid,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        write_tx!(self, |c| committed(c.mail_failed(
            id,
            &error,
            next_attempt_ms
        )))
    }

    /// A book's contest: every decision on who gets one of its copies, in the order made.
    pub async fn contests(
        &self,
        book: Uuid,
    ) -> Result<Vec<shelfmark_core::wire::ContestEntry>, StoreError> {
        let entries = read!(self, |c| c.contests(book))?;
        entries
            .iter()
            .map(|e| {
                serde_json::from_str(e)
                    .map_err(|e| StoreError::Corrupt(format!("a contest entry: {e}")))
            })
            .collect()
    }

    /// Every mail of the outbox, oldest first (delivered ones too).
    pub async fn outbox(&self) -> Result<Vec<OutboxMail>, StoreError> {
        read!(self, |c| c.outbox())
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        read!(self, |c| c.meta(&key))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        write_tx!(self, |c| committed(c.set_meta(&key, &value)))
    }
}

/// The time of a change, as stored and shown.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_kind(s: &str) -> Result<RecordType, StoreError> {
    RecordType::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown record kind {s:?}")))
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad uuid {s:?}")))
}

pub(crate) fn parse_role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_a_sqlite_file_or_a_postgresql_server_and_nothing_else() {
        for (url, path) in [
            (
                "sqlite:///var/lib/shelfmark/s.db",
                "/var/lib/shelfmark/s.db",
            ),
            ("sqlite:s.db?mode=rwc", "s.db"),
        ] {
            assert_eq!(
                DatabaseUrl::parse(url).ok(),
                Some(DatabaseUrl::Sqlite(path.into()))
            );
        }
        let pg = "postgresql://u@h/db";
        assert_eq!(DatabaseUrl::parse(pg).ok(), Some(DatabaseUrl::Postgres(pg)));
        for bad in ["sqlite://", "sqlite:?x=1", "mysql://h/db", ""] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn a_book(n: u32) -> Write {
        let book = shelfmark_core::Book {
            id: Uuid::now_v7(),
            isbn: shelfmark_core::isbn::from_body(n),
            title: format!("Book {n}"),
            authors: vec![],
            publisher: String::new(),
            year: None,
            subjects: vec![],
            summary: String::new(),
            notes: String::new(),
        };
        match Write::of::<crate::records::Books>(book.id, &book) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    async fn sqlite(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        Store::connect(&url).await.expect("open")
    }

    #[tokio::test]
    async fn reads_within_one_request_share_one_snapshot_and_the_next_request_sees_new_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let (server, other) = (sqlite(&dir).await, sqlite(&dir).await);
        let actor = Actor { name: "t".into() };
        let inside = server
            .scoped(async {
                let before = server.latest_seq().await.expect("read");
                // Another process (here: another connection pool) writes meanwhile.
                other
                    .insert_many(&actor, vec![a_book(1)])
                    .await
                    .expect("write");
                (before, server.latest_seq().await.expect("read"))
            })
            .await;
        assert_eq!(inside, (0, 0), "one request reads one snapshot");
        let next = server.scoped(server.latest_seq()).await.expect("read");
        assert_eq!(next, 1, "the next request reads the new state");
    }

    #[tokio::test]
    async fn a_request_reads_its_own_write_back() {
        let dir = tempfile::tempdir().expect("dir");
        let server = sqlite(&dir).await;
        let actor = Actor { name: "t".into() };
        let seqs = server
            .scoped(async {
                let before = server.latest_seq().await.expect("read");
                server
                    .insert_many(&actor, vec![a_book(2)])
                    .await
                    .expect("write");
                (before, server.latest_seq().await.expect("read"))
            })
            .await;
        assert_eq!(seqs, (0, 1));
    }

    /// The search index's merging setting, read from the database file.
    fn automerge(dir: &tempfile::TempDir) -> i64 {
        let conn = rusqlite::Connection::open(dir.path().join("s.db")).expect("open");
        conn.query_row(
            "SELECT v FROM records_fts_config WHERE k = 'automerge'",
            [],
            |r| r.get(0),
        )
        .expect("the setting")
    }

    #[tokio::test]
    async fn a_bulk_load_pauses_the_search_index_s_merging_until_its_end_or_the_next_open() {
        let dir = tempfile::tempdir().expect("dir");
        let store = sqlite(&dir).await;
        let actor = Actor { name: "t".into() };
        assert_eq!(automerge(&dir), 4, "merging as it goes by default");
        store.begin_bulk().await.expect("begin");
        assert_eq!(automerge(&dir), 0, "paused for the load");
        for n in 1..=3 {
            let outcomes = store
                .import_books(&actor, vec![a_book(n)], false)
                .await
                .expect("import");
            assert_eq!(outcomes, [ImportOutcome::Created]);
        }
        store.end_bulk().await.expect("end");
        assert_eq!(automerge(&dir), 4, "merging again after the load");
        let found = store
            .list(
                RecordType::Book,
                ListQuery {
                    words: vec!["book".into()],
                    limit: 10,
                    ..ListQuery::default()
                },
            )
            .await
            .expect("search");
        assert_eq!(
            found.len(),
            3,
            "the loaded books are found, their segments merged"
        );

        // A load cut short never ends: opening the database turns merging back on.
        store.begin_bulk().await.expect("begin");
        drop(store);
        assert_eq!(automerge(&dir), 0);
        let _reopened = sqlite(&dir).await;
        assert_eq!(automerge(&dir), 4);
    }

    #[test]
    fn etags_round_trip_their_version() {
        assert_eq!(etag_for(7), "\"v7\"");
        assert_eq!(version_of(&etag_for(42)), Some(42));
        assert_eq!(version_of("W/\"v1\""), None);
        assert_eq!(version_of("\"x\""), None);
    }
}
