//! The desktop app's offline cache, kept in SQLite (rusqlite, WAL, foreign keys on).
//!
//! It holds every record as last seen from the server with its ETag, the change-feed position,
//! the outbox of edits made here and not yet on the server, and the inbox of conflicts the
//! merge could not settle alone. What the librarian reads is the server's state overlaid with
//! pending edits, each marked pending. The sync engine (`shelfmark-client`) writes into it; the
//! Tauri shell and the CLI read from it. It knows SQL, not HTTP.
//!
//! Every change that must survive a crash (a feed page with its position, an edit with its
//! outbox entry, a push's acknowledgement) is one transaction.

mod catalogue;
mod circulation;
mod desk;
mod error;
pub mod escalations;
mod feed;
mod imports;
mod outbox;
mod schema;

pub use catalogue::{BookPage, BookQuery, BookSummary, CachedRecord, Lookup, Status};
pub use circulation::{ContestLine, LoanView, PatronActivity, ScanResult, ShelfHold};
pub use desk::{BarcodeMatch, BookDetail, FormRecord, HoldView, SaveMode};
pub use error::StoreError;
pub use imports::{ImportCandidate, ImportPreview, KnownBook, RejectedRecord};
pub use outbox::{ConflictEntry, ConflictReason, EditOp, OutboxEntry, OutboxState, StaffEdits};
pub use shelfmark_core::sync_status::SyncCounts;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shelfmark_core::{Book, Copy, Hold, Loan, Patron, RecordType, ValidationErrors};
use uuid::Uuid;

/// Where the cache stands with the server's change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncPosition {
    /// The last change-feed sequence number applied (0: never synced).
    pub last_seq: i64,
    /// The feed's ETag as last answered, sent back as `If-None-Match`.
    pub feed_etag: Option<String>,
    /// RFC 3339 time of the last complete sync.
    pub last_sync: Option<String>,
}

/// A record kind the app edits offline.
pub trait Editable: Serialize + DeserializeOwned + Clone {
    const KIND: RecordType;
    fn id(&self) -> Uuid;
    /// Checks the record's rules (and normalises it, like an ISBN's hyphens).
    fn validate(&mut self) -> Result<(), ValidationErrors>;
    /// The field no two records of this kind may share, as the server refuses it (a copy's
    /// barcode): `(field, value)`. The cache refuses what it already knows is taken.
    fn unique(&self) -> Option<(&'static str, &str)> {
        None
    }
    /// The branch the record belongs to, spelt as the cache already knows it when it is the
    /// same name in another case ("hillcrest" is "Hillcrest").
    fn branch_mut(&mut self) -> Option<&mut String> {
        None
    }
}

impl Editable for Book {
    const KIND: RecordType = RecordType::Book;
    fn id(&self) -> Uuid {
        self.id
    }
    fn validate(&mut self) -> Result<(), ValidationErrors> {
        Book::validate(self)
    }
}

impl Editable for Copy {
    const KIND: RecordType = RecordType::Copy;
    fn id(&self) -> Uuid {
        self.id
    }
    fn validate(&mut self) -> Result<(), ValidationErrors> {
        Copy::validate(self)
    }
    fn unique(&self) -> Option<(&'static str, &str)> {
        Some(("barcode", &self.barcode))
    }
    fn branch_mut(&mut self) -> Option<&mut String> {
        Some(&mut self.branch)
    }
}

impl Editable for Patron {
    const KIND: RecordType = RecordType::Patron;
    fn id(&self) -> Uuid {
        self.id
    }
    fn validate(&mut self) -> Result<(), ValidationErrors> {
        Patron::validate(self)
    }
    fn unique(&self) -> Option<(&'static str, &str)> {
        Some(("card", self.card.as_str())).filter(|(_, card)| !card.is_empty())
    }
    fn branch_mut(&mut self) -> Option<&mut String> {
        Some(&mut self.branch)
    }
}

impl Editable for Hold {
    const KIND: RecordType = RecordType::Hold;
    fn id(&self) -> Uuid {
        self.id
    }
    fn validate(&mut self) -> Result<(), ValidationErrors> {
        Hold::validate(self)
    }
}

impl Editable for Loan {
    const KIND: RecordType = RecordType::Loan;
    fn id(&self) -> Uuid {
        self.id
    }
    fn validate(&mut self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// SQLite's page cache for everyday use, in KiB (SQLite's default is 2,000).
const CACHE_KIB: i64 = 8 * 1024;
/// The page cache while a first sync loads a library: the title and search indexes being
/// built stay in memory instead of being written and read back.
const BULK_CACHE_KIB: i64 = 64 * 1024;
/// SQLite's default: the write-ahead log is copied into the database every 1,000 pages.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// The offline cache. One per app; not shared between threads (wrap it in a mutex).
pub struct Store {
    conn: Connection,
    /// The member of staff signed in at this desk (see [`Store::set_user`]).
    user: Option<String>,
    /// The catalogue's last count of books by their copies (see `Store::book_page`).
    last_count: std::cell::RefCell<Option<catalogue::CountMemo>>,
}

impl Store {
    /// Opens (creating or migrating) the cache at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A cache that lives in memory only (tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // FULL: an edit the app acknowledged survives a power cut, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        let mut store = Store {
            conn,
            user: None,
            last_count: Default::default(),
        };
        // A first sync was cut short: its rows are there, their search entries are not.
        store.end_bulk_load()?;
        Ok(store)
    }

    /// Says who is signed in at this desk. A desk is shared by several staff in a day: the
    /// edits saved from now on are made in `user`'s name, and the outbox, the conflicts and
    /// the counts this cache answers are `user`'s (and those made before edits had an author).
    /// Another user's edits stay, untouched, until they sign in again or a manager discards
    /// them ([`Store::other_staff_edits`]). `None` (nobody in particular: a tool or a test)
    /// answers every edit.
    pub fn set_user(&mut self, user: Option<&str>) {
        self.user = user.map(str::to_owned);
    }

    /// Who the cache answers for (see [`Store::set_user`]).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Before loading a whole library into an empty cache (a first sync): the search index is
    /// left for [`Store::end_bulk_load`] to build in one pass, commits skip the fsync (a crash
    /// only means pages fetched again), the write-ahead log is copied into the database once at
    /// the end instead of every 4 MB, and the page cache is large enough for the indexes being
    /// built. Does nothing when the cache holds books.
    pub fn begin_bulk_load(&mut self) -> Result<bool, StoreError> {
        let empty: bool = self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM records WHERE kind = 'book')",
            [],
            |r| r.get(0),
        )?;
        if empty {
            self.conn.execute("UPDATE fts_state SET live = 0", [])?;
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
            self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            self.conn
                .pragma_update(None, "cache_size", -BULK_CACHE_KIB)?;
        }
        Ok(empty)
    }

    /// Ends a bulk load: builds the search index from the records and restores durable
    /// commits. Harmless when no bulk load is under way.
    pub fn end_bulk_load(&mut self) -> Result<(), StoreError> {
        let live: bool = self
            .conn
            .query_row("SELECT live FROM fts_state", [], |r| r.get(0))?;
        if !live {
            let tx = self.conn.transaction()?;
            // Only books are indexed ('rebuild' would read every kind of record).
            tx.execute(
                "INSERT INTO books_fts (books_fts) VALUES ('delete-all')",
                [],
            )?;
            tx.execute(
                "INSERT INTO books_fts (rowid, title, authors, subjects, isbn)
                 SELECT rowid, title, authors, subjects, isbn FROM records
                 WHERE kind = 'book' AND NOT deleted",
                [],
            )?;
            tx.execute("UPDATE fts_state SET live = 1", [])?;
            tx.commit()?;
            // The whole load sits in the write-ahead log: into the database with it, once.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        self.conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        Ok(())
    }

    /// What SQLite plans for `sql` with `params` (tests of index use).
    #[cfg(test)]
    pub(crate) fn query_plan(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let details = stmt.query_map(params, |r| r.get::<_, String>(3))?;
        Ok(details.collect::<Result<Vec<_>, _>>()?.join("; "))
    }

    pub fn sync_position(&self) -> Result<SyncPosition, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT last_seq, feed_etag, last_sync FROM sync_state WHERE id = 1",
                [],
                |r| {
                    Ok(SyncPosition {
                        last_seq: r.get(0)?,
                        feed_etag: r.get(1)?,
                        last_sync: r.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    /// Records that a sync completed now.
    pub fn mark_synced(&mut self, at: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sync_state (id, last_seq, last_sync) VALUES (1, 0, ?1)
             ON CONFLICT (id) DO UPDATE SET last_sync = excluded.last_sync",
            [at],
        )?;
        Ok(())
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
