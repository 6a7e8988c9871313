//! Reading the cache: the catalogue list and its search, single records, and the counts the
//! status bar shows.

use rusqlite::params;
use serde::{Deserialize, Serialize};
use shelfmark_core::sync_status::SyncCounts;
use shelfmark_core::{Patron, RecordType};
use uuid::Uuid;

use crate::outbox::MINE;
use crate::{Editable, Store, StoreError};

/// A book as the catalogue list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BookSummary {
    pub id: Uuid,
    pub title: String,
    pub authors: Vec<String>,
    pub year: Option<i32>,
    pub isbn: String,
    pub copies_total: u32,
    pub copies_available: u32,
    /// A local edit of this book waits in the outbox.
    pub pending: bool,
}

/// What the catalogue list asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct BookQuery {
    /// Words to search for (empty: every book).
    pub text: String,
    /// Only books with a copy at this branch.
    pub branch: Option<String>,
    /// Only books with an available copy (at `branch`, when given).
    pub available_only: bool,
    pub offset: u32,
    pub limit: u32,
}

impl Default for BookQuery {
    fn default() -> BookQuery {
        BookQuery {
            text: String::new(),
            branch: None,
            available_only: false,
            offset: 0,
            limit: 100,
        }
    }
}

/// One window of the catalogue list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BookPage {
    /// How many books match in all.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub total: i64,
    pub offset: u32,
    pub rows: Vec<BookSummary>,
}

/// A record as the cache has it, with what the UI must say about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CachedRecord<R> {
    pub record: R,
    /// The server's ETag of the state this record was last seen in (None: not on the server).
    pub etag: Option<String>,
    /// A local edit waits in the outbox.
    pub pending: bool,
    /// The server refused the local edit with a conflict waiting in the inbox.
    pub in_conflict: bool,
}

/// What `shelfmark status` shows: the records cached by kind, and [`SyncCounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Status {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub books: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub copies: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub patrons: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub holds: i64,
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub sync: SyncCounts,
}

/// What a count of the catalogue's matches depends on besides the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CountKey {
    fts: Option<String>,
    branch: Option<String>,
    available_only: bool,
}

/// The last count of matches the search index could not give, and the state of the cache it
/// was made in.
#[derive(Debug)]
pub(crate) struct CountMemo {
    key: CountKey,
    version: (u64, i64),
    total: i64,
}

/// The branches of the cached copies, from the branch index (with 200,000 copies: 15 ms
/// instead of 160 ms reading every copy warm, and seconds cold).
pub(crate) const BRANCHES_SQL: &str =
    "SELECT DISTINCT branch FROM records WHERE kind = 'copy' AND branch IS NOT NULL
     ORDER BY branch";

/// Up to this many matches, a search fetches them all and sorts them by title; beyond, it walks
/// the title index (see [`Store::book_page`]).
pub(crate) const FETCH_AND_SORT_MAX: i64 = 2_000;

impl Store {
    /// The catalogue list: the cached books matching `query` (full-text over title, authors,
    /// subjects and ISBN, each word a prefix; all books when empty), by title, at most `limit`.
    pub fn list_books(&self, query: &str, limit: u32) -> Result<Vec<BookSummary>, StoreError> {
        let q = BookQuery {
            text: query.to_owned(),
            limit,
            ..BookQuery::default()
        };
        Ok(self.book_page(&q)?.rows)
    }

    /// One window of the catalogue list (for a virtualised list), with the number of books
    /// matching in all.
    ///
    /// The list is in title order whatever the search. Two ways to get there, chosen on the
    /// number of books the words match (counted in the search index alone, which holds only
    /// the books the librarian sees): few matches are fetched and sorted by title; many are
    /// found by walking the title index until the window is full, which stops early because
    /// matches are dense. Either way a search touches a few thousand index entries at most,
    /// not the whole library.
    pub fn book_page(&self, q: &BookQuery) -> Result<BookPage, StoreError> {
        let fts = fts_query(&q.text);
        let mut copy_filter = String::new();
        if q.branch.is_some() || q.available_only {
            copy_filter.push_str(
                " AND EXISTS (SELECT 1 FROM records c WHERE c.kind = 'copy' AND c.book_id = b.id
                   AND NOT c.deleted",
            );
            if q.branch.is_some() {
                copy_filter.push_str(" AND c.branch = :branch");
            }
            if q.available_only {
                copy_filter.push_str(" AND c.status = 'available'");
            }
            copy_filter.push(')');
        }
        let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        if let Some(f) = &fts {
            named.push((":fts", f));
        }
        if let Some(b) = &q.branch {
            named.push((":branch", b));
        }
        let matches = match &fts {
            Some(f) => Some(
                self.conn
                    .prepare_cached("SELECT count(*) FROM books_fts WHERE books_fts MATCH ?1")?
                    .query_row([f], |r| r.get::<_, i64>(0))?,
            ),
            None => None,
        };
        // Where the rows come from, and the condition they meet.
        let (from, filters) = match matches {
            Some(n) if n <= FETCH_AND_SORT_MAX => (
                "books_fts f CROSS JOIN records b ON b.rowid = f.rowid",
                format!("f.books_fts MATCH :fts{copy_filter}"),
            ),
            Some(_) => (
                "records b",
                format!(
                    "b.kind = 'book' AND NOT b.deleted
                     AND b.rowid IN (SELECT rowid FROM books_fts WHERE books_fts MATCH :fts)
                     {copy_filter}"
                ),
            ),
            None => (
                "records b",
                format!("b.kind = 'book' AND NOT b.deleted{copy_filter}"),
            ),
        };
        let total: i64 = match matches {
            Some(n) if copy_filter.is_empty() => n,
            _ => {
                let key = CountKey {
                    fts: fts.clone(),
                    branch: q.branch.clone(),
                    available_only: q.available_only,
                };
                self.remembered_count(key, || {
                    let sql = format!("SELECT count(*) FROM {from} WHERE {filters}");
                    let mut stmt = self.conn.prepare_cached(&sql)?;
                    Ok(stmt.query_row(named.as_slice(), |r| r.get(0))?)
                })?
            }
        };
        let sql = format!(
            "SELECT b.id, b.title, b.authors, json_extract(b.data, '$.year'), b.isbn,
                    (SELECT count(*) FROM records c
                      WHERE c.kind = 'copy' AND c.book_id = b.id AND NOT c.deleted),
                    (SELECT count(*) FROM records c
                      WHERE c.kind = 'copy' AND c.book_id = b.id AND c.status = 'available'
                        AND NOT c.deleted),
                    b.pending
             FROM {from}
             WHERE {filters}
             ORDER BY b.title COLLATE NOCASE, b.rowid
             LIMIT :limit OFFSET :offset"
        );
        let (limit, offset) = (i64::from(q.limit), i64::from(q.offset));
        named.push((":limit", &limit));
        named.push((":offset", &offset));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(named.as_slice(), book_summary)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BookPage {
            total,
            offset: q.offset,
            rows,
        })
    }

    /// `count()`, unless it was made for `key` with the cache in the same state: the list asks
    /// for its total with every window it scrolls to, and counting books by their copies visits
    /// every book.
    fn remembered_count(
        &self,
        key: CountKey,
        count: impl FnOnce() -> Result<i64, StoreError>,
    ) -> Result<i64, StoreError> {
        let version = self.version()?;
        if let Some(memo) = self.last_count.borrow().as_ref()
            && memo.key == key
            && memo.version == version
        {
            return Ok(memo.total);
        }
        let total = count()?;
        *self.last_count.borrow_mut() = Some(CountMemo {
            key,
            version,
            total,
        });
        Ok(total)
    }

    /// Changes whenever the cache's data may have: a write through this connection
    /// (`total_changes`) or a commit by another one (`data_version`).
    fn version(&self) -> Result<(u64, i64), StoreError> {
        let data_version = self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        Ok((self.conn.total_changes(), data_version))
    }

    /// The branches the cached copies belong to, by name.
    pub fn branches(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(BRANCHES_SQL)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Patrons whose name or email contains `query`, or whose card it is (all when empty),
    /// premium first, by name.
    pub fn search_patrons(&self, query: &str, limit: u32) -> Result<Vec<Patron>, StoreError> {
        let like = format!(
            "%{}%",
            query
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM records WHERE kind = 'patron' AND NOT deleted
               AND (json_extract(data, '$.name') LIKE ?1 ESCAPE '\\'
                    OR json_extract(data, '$.email') LIKE ?1 ESCAPE '\\'
                    OR card = ?3)
             ORDER BY json_extract(data, '$.premium') DESC, json_extract(data, '$.name') COLLATE NOCASE
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![like, limit, query.trim()], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|data| Ok(serde_json::from_str(&data?)?)).collect()
    }

    /// One record as the librarian sees it (pending edits included), or None.
    pub fn get<R: Editable>(&self, id: Uuid) -> Result<Option<CachedRecord<R>>, StoreError> {
        Ok(self
            .cached_where::<R>("r.id = ?2", &id.to_string())?
            .into_iter()
            .next())
    }

    /// The records of one kind whose `field` (one of the generated columns: `book_id`,
    /// `barcode`, `status`, `patron_id`) equals `value`, as the librarian sees them.
    pub fn find_cached_by<R: Editable>(
        &self,
        field: Lookup,
        value: &str,
    ) -> Result<Vec<CachedRecord<R>>, StoreError> {
        self.cached_where::<R>(&format!("r.{} = ?2", field.column()), value)
    }

    /// The records themselves, as [`Store::find_cached_by`] finds them.
    pub fn find_by<R: Editable>(&self, field: Lookup, value: &str) -> Result<Vec<R>, StoreError> {
        Ok(self
            .find_cached_by::<R>(field, value)?
            .into_iter()
            .map(|c| c.record)
            .collect())
    }

    /// Records of `R`'s kind matching `condition` (on `?2`), with their ETag, pending and
    /// conflict marks, in the order they arrived.
    fn cached_where<R: Editable>(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Vec<CachedRecord<R>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&cached_where_sql(condition))?;
        let rows = stmt.query_map(params![R::KIND.as_str(), value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (data, etag, pending, in_conflict) = row?;
            Ok(CachedRecord {
                record: serde_json::from_str(&data)?,
                etag,
                pending,
                in_conflict,
            })
        })
        .collect()
    }

    /// How many records of `kind` the cache holds (local deletions excluded).
    pub fn count(&self, kind: RecordType) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM records WHERE kind = ?1 AND NOT deleted",
            [kind.as_str()],
            |r| r.get(0),
        )?)
    }

    /// How many books the cache holds.
    pub fn count_books(&self) -> Result<i64, StoreError> {
        self.count(RecordType::Book)
    }

    /// Everything `shelfmark status` shows.
    pub fn status(&self) -> Result<Status, StoreError> {
        Ok(Status {
            books: self.count(RecordType::Book)?,
            copies: self.count(RecordType::Copy)?,
            patrons: self.count(RecordType::Patron)?,
            holds: self.count(RecordType::Hold)?,
            sync: self.sync_counts()?,
        })
    }

    /// What the desktop's status bar shows: the outbox by state and the feed position. Cheap
    /// whatever the size of the library (the counts by kind in [`Store::status`] walk an index
    /// entry per record: tens of milliseconds with 100,000 books, read after every sync and
    /// every edit, and at start while the window opens).
    pub fn sync_counts(&self) -> Result<SyncCounts, StoreError> {
        let (pending_edits, failed_edits, conflicts, lost_holds) = self.conn.query_row(
            &format!(
                "SELECT count(*) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE state = 'failed'),
                    count(*) FILTER (WHERE state = 'conflict'),
                    count(*) FILTER (WHERE state = 'lost')
             FROM outbox WHERE {MINE}"
            ),
            rusqlite::named_params! {":user": self.user},
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let position = self.sync_position()?;
        Ok(SyncCounts {
            pending_edits,
            failed_edits,
            conflicts,
            lost_holds,
            last_seq: position.last_seq,
            last_sync: position.last_sync,
        })
    }
}

/// The fields records can be looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    BookId,
    Barcode,
    Status,
    PatronId,
    /// A loan's or a hold's copy.
    CopyId,
    /// A patron's library card.
    Card,
}

impl Lookup {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Lookup::BookId => "book_id",
            Lookup::Barcode => "barcode",
            Lookup::Status => "status",
            Lookup::PatronId => "patron_id",
            Lookup::CopyId => "copy_id",
            Lookup::Card => "card",
        }
    }
}

/// The query of [`Store::find_cached_by`]: records of kind `?1` meeting `condition`.
pub(crate) fn cached_where_sql(condition: &str) -> String {
    format!(
        "SELECT r.data, r.etag, r.pending,
                EXISTS (SELECT 1 FROM outbox o WHERE o.kind = r.kind
                        AND o.record_id = r.id AND o.state = 'conflict')
         FROM records r WHERE r.kind = ?1 AND {condition} AND NOT r.deleted
         ORDER BY r.rowid"
    )
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
        pending: r.get(7)?,
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
