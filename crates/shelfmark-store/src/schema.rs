//! The cache's schema and its versioned migrations. `PRAGMA user_version` records the version;
//! an app that finds a version newer than it knows refuses the cache instead of corrupting it.

use rusqlite::Connection;

use crate::StoreError;

/// Each entry migrates from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: records as last seen from the server, with their ETags; the feed position; search.
    "CREATE TABLE books (
        id TEXT PRIMARY KEY,
        etag TEXT NOT NULL,
        isbn TEXT NOT NULL,
        title TEXT NOT NULL,
        authors TEXT NOT NULL,   -- JSON array
        subjects TEXT NOT NULL,  -- JSON array
        year INTEGER,
        data TEXT NOT NULL       -- the server's representation
    );
    CREATE INDEX books_title ON books (title COLLATE NOCASE);
    CREATE TABLE copies (
        id TEXT PRIMARY KEY,
        etag TEXT NOT NULL,
        book_id TEXT NOT NULL,
        barcode TEXT NOT NULL,
        branch TEXT NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX copies_book ON copies (book_id, status);
    CREATE TABLE patrons (
        id TEXT PRIMARY KEY,
        etag TEXT NOT NULL,
        name TEXT NOT NULL,
        premium INTEGER NOT NULL,
        branch TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE other_records (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        etag TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL,
        feed_etag TEXT
    );
    CREATE VIRTUAL TABLE books_fts USING fts5 (
        title, authors, subjects, isbn,
        content = 'books', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER books_fts_insert AFTER INSERT ON books BEGIN
        INSERT INTO books_fts (rowid, title, authors, subjects, isbn)
        VALUES (new.rowid, new.title, new.authors, new.subjects, new.isbn);
    END;
    CREATE TRIGGER books_fts_delete AFTER DELETE ON books BEGIN
        INSERT INTO books_fts (books_fts, rowid, title, authors, subjects, isbn)
        VALUES ('delete', old.rowid, old.title, old.authors, old.subjects, old.isbn);
    END;
    CREATE TRIGGER books_fts_update AFTER UPDATE ON books BEGIN
        INSERT INTO books_fts (books_fts, rowid, title, authors, subjects, isbn)
        VALUES ('delete', old.rowid, old.title, old.authors, old.subjects, old.isbn);
        INSERT INTO books_fts (rowid, title, authors, subjects, isbn)
        VALUES (new.rowid, new.title, new.authors, new.subjects, new.isbn);
    END;",
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: VERSION,
        });
    }
    let tx = conn.transaction()?;
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
