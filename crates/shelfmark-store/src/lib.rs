//! The desktop app's offline cache of the catalogue, kept in SQLite (rusqlite, WAL).
//!
//! It holds the records as last seen from the server, each with its ETag, and the change-feed
//! position, so the app can show and search the catalogue with no network. The sync engine
//! (`shelfmark-client`) writes into it one change-feed page per transaction; the Tauri shell
//! reads from it. It knows SQL, not HTTP.

mod error;
mod schema;

pub use error::StoreError;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use shelfmark_core::wire::{Change, ChangeFeed};
use shelfmark_core::{Book, Copy, CopyStatus, Patron, RecordType};
use uuid::Uuid;

/// A book as the catalogue list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookSummary {
    pub id: Uuid,
    pub title: String,
    pub authors: Vec<String>,
    pub year: Option<i32>,
    pub isbn: String,
    pub copies_total: u32,
    pub copies_available: u32,
}

/// Where the cache stands with the server's change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncPosition {
    /// The last change-feed sequence number applied (0: never synced).
    pub last_seq: i64,
    /// The feed's ETag as last answered, sent back as `If-None-Match`.
    pub feed_etag: Option<String>,
}

/// The offline cache. One per app; not shared between threads (wrap it in a mutex).
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating or migrating) the cache at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A cache that lives in memory only (tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    pub fn sync_position(&self) -> Result<SyncPosition, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT last_seq, feed_etag FROM sync_state WHERE id = 1",
                [],
                |r| {
                    Ok(SyncPosition {
                        last_seq: r.get(0)?,
                        feed_etag: r.get(1)?,
                    })
                },
            )
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    /// Applies one page of the change feed, and the feed position after it, atomically: a crash
    /// leaves the cache at the previous page, which the next sync fetches again.
    pub fn apply_changes(
        &mut self,
        feed: &ChangeFeed,
        feed_etag: Option<&str>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        for change in &feed.changes {
            apply_change(&tx, change)?;
        }
        // While more pages follow, the ETag names the server's latest seq, not this page's end:
        // only the last page may store it, or an idle poll would skip the remaining pages.
        let etag = if feed.more { None } else { feed_etag };
        tx.execute(
            "INSERT INTO sync_state (id, last_seq, feed_etag) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,
                                            feed_etag = excluded.feed_etag",
            params![feed.last_seq, etag],
        )?;
        tx.commit()?;
        Ok(feed.changes.len())
    }

    /// The catalogue list: every cached book matching `query` (full-text over title, authors,
    /// subjects and ISBN; all books when empty), by title, at most `limit`.
    pub fn list_books(&self, query: &str, limit: u32) -> Result<Vec<BookSummary>, StoreError> {
        let fts = fts_query(query);
        let sql = format!(
            "SELECT b.id, b.title, b.authors, b.year, b.isbn,
                    (SELECT count(*) FROM copies c WHERE c.book_id = b.id),
                    (SELECT count(*) FROM copies c WHERE c.book_id = b.id AND c.status = 'available')
             FROM books b {}
             ORDER BY b.title COLLATE NOCASE, b.id
             LIMIT ?1",
            if fts.is_some() {
                "WHERE b.rowid IN (SELECT rowid FROM books_fts WHERE books_fts MATCH ?2)"
            } else {
                ""
            }
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = match &fts {
            Some(q) => stmt.query_map(params![limit, q], book_summary)?,
            None => stmt.query_map(params![limit], book_summary)?,
        };
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many books the cache holds.
    pub fn count_books(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM books", [], |r| r.get(0))?)
    }
}

/// Reads a `list_books` row.
fn book_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<BookSummary> {
    let bad = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let id: String = r.get(0)?;
    let authors: String = r.get(2)?;
    Ok(BookSummary {
        id: Uuid::parse_str(&id).map_err(|e| bad(0, e.into()))?,
        title: r.get(1)?,
        authors: serde_json::from_str(&authors).map_err(|e| bad(2, e.into()))?,
        year: r.get(3)?,
        isbn: r.get(4)?,
        copies_total: r.get(5)?,
        copies_available: r.get(6)?,
    })
}

/// Turns what a librarian types into an FTS5 query: each word a prefix term, all required.
/// Quotes keep FTS5 syntax characters in the input from being read as operators.
fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

fn apply_change(tx: &Transaction<'_>, change: &Change) -> Result<(), StoreError> {
    let id = change.id.to_string();
    let data = match (&change.data, change.deleted) {
        (_, true) | (None, _) => None,
        (Some(d), false) => Some(d),
    };
    match change.kind {
        RecordType::Book => match data {
            None => {
                tx.execute("DELETE FROM books WHERE id = ?1", [&id])?;
            }
            Some(d) => {
                let b: Book = serde_json::from_value(d.clone())?;
                tx.execute(
                    "INSERT INTO books (id, etag, isbn, title, authors, subjects, year, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, isbn = excluded.isbn,
                        title = excluded.title, authors = excluded.authors,
                        subjects = excluded.subjects, year = excluded.year, data = excluded.data",
                    params![
                        id,
                        change.etag,
                        b.isbn,
                        b.title,
                        serde_json::to_string(&b.authors)?,
                        serde_json::to_string(&b.subjects)?,
                        b.year,
                        d.to_string()
                    ],
                )?;
            }
        },
        RecordType::Copy => match data {
            None => {
                tx.execute("DELETE FROM copies WHERE id = ?1", [&id])?;
            }
            Some(d) => {
                let c: Copy = serde_json::from_value(d.clone())?;
                tx.execute(
                    "INSERT INTO copies (id, etag, book_id, barcode, branch, status, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET etag = excluded.etag,
                        book_id = excluded.book_id, barcode = excluded.barcode,
                        branch = excluded.branch, status = excluded.status, data = excluded.data",
                    params![
                        id,
                        change.etag,
                        c.book_id.to_string(),
                        c.barcode,
                        c.branch,
                        status_str(c.status),
                        d.to_string()
                    ],
                )?;
            }
        },
        RecordType::Patron => match data {
            None => {
                tx.execute("DELETE FROM patrons WHERE id = ?1", [&id])?;
            }
            Some(d) => {
                let p: Patron = serde_json::from_value(d.clone())?;
                tx.execute(
                    "INSERT INTO patrons (id, etag, name, premium, branch, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, name = excluded.name,
                        premium = excluded.premium, branch = excluded.branch, data = excluded.data",
                    params![id, change.etag, p.name, p.premium, p.branch, d.to_string()],
                )?;
            }
        },
        // Holds, escalations and purchase requests get their tables with the sync-engine issue;
        // until then the cache keeps them as raw records so nothing the feed sent is lost.
        other => match data {
            None => {
                tx.execute(
                    "DELETE FROM other_records WHERE kind = ?1 AND id = ?2",
                    params![other.as_str(), id],
                )?;
            }
            Some(d) => {
                tx.execute(
                    "INSERT INTO other_records (kind, id, etag, data) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, id) DO UPDATE SET etag = excluded.etag, data = excluded.data",
                    params![other.as_str(), id, change.etag, d.to_string()],
                )?;
            }
        },
    }
    Ok(())
}

fn status_str(s: CopyStatus) -> &'static str {
    s.as_str()
}

#[cfg(test)]
mod tests;
