//! A batch of books brought to the desk from outside (a vendor's MARC records): sorted first,
//! before anything is written, into the new, those the catalogue already has (same record, or
//! same ISBN) and the rejected with their reasons, so the librarian sees what an import will
//! do; then each new book saved as an offline create, shown at once and waiting in the outbox
//! for the next sync (pushed with `If-None-Match: *`), so a batch can be loaded at a desk with
//! no network.
//!
//! The records are read and mapped to books elsewhere (`shelfmark-marc` and
//! `shelfmark_core::marc`); the cache only decides what is new and queues it.

use std::collections::HashMap;

use rusqlite::OptionalExtension;
use serde::Serialize;
use shelfmark_core::Book;
use uuid::Uuid;

use crate::outbox::parse_uuid;
use crate::{Store, StoreError};

/// One record of the file, as read: its book, or why it cannot be one.
#[derive(Debug, Clone)]
pub struct ImportCandidate {
    /// Its number in the file, from 1.
    pub position: usize,
    /// Its 001, when it has one.
    pub control_number: Option<String>,
    pub book: Result<Book, String>,
}

/// What an import would do, before it does it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportPreview {
    /// The books to create, in the file's order.
    pub new: Vec<Book>,
    /// Books the catalogue already has (left as they are).
    pub known: Vec<KnownBook>,
    pub rejected: Vec<RejectedRecord>,
}

/// A record whose book the catalogue already has.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownBook {
    pub position: usize,
    pub title: String,
    pub isbn: String,
    /// The catalogue's book.
    pub existing: Uuid,
}

/// A record that cannot become a book, and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    pub position: usize,
    pub control_number: Option<String>,
    pub reason: String,
}

impl Store {
    /// Sorts a file's records into new books, books the catalogue has (by the book's id, which
    /// is derived from its record, or by its ISBN) and rejected records. A book the file holds
    /// twice (same id or ISBN) is new once; the repeat is rejected, naming the first.
    pub fn preview_import(
        &self,
        candidates: Vec<ImportCandidate>,
    ) -> Result<ImportPreview, StoreError> {
        let mut preview = ImportPreview::default();
        let mut first_of: HashMap<String, usize> = HashMap::new();
        for candidate in candidates {
            let book = match candidate.book {
                Ok(book) => book,
                Err(reason) => {
                    preview.rejected.push(RejectedRecord {
                        position: candidate.position,
                        control_number: candidate.control_number,
                        reason,
                    });
                    continue;
                }
            };
            if let Some(existing) = self.catalogued(&book)? {
                preview.known.push(KnownBook {
                    position: candidate.position,
                    title: book.title,
                    isbn: book.isbn,
                    existing,
                });
                continue;
            }
            let keys = [Some(book.id.to_string()), Some(book.isbn.clone())];
            let repeat = keys
                .iter()
                .flatten()
                .filter(|k| !k.is_empty())
                .find_map(|k| first_of.get(k).copied());
            if let Some(first) = repeat {
                preview.rejected.push(RejectedRecord {
                    position: candidate.position,
                    control_number: candidate.control_number,
                    reason: format!("the same book as record {first} of this file"),
                });
                continue;
            }
            for key in keys.into_iter().flatten().filter(|k| !k.is_empty()) {
                first_of.insert(key, candidate.position);
            }
            preview.new.push(book);
        }
        Ok(preview)
    }

    /// The catalogue's book that is this one: the same id, else the same (non-empty) ISBN,
    /// found through the search index, which holds every book the librarian sees.
    fn catalogued(&self, book: &Book) -> Result<Option<Uuid>, StoreError> {
        if self.get::<Book>(book.id)?.is_some() {
            return Ok(Some(book.id));
        }
        if book.isbn.is_empty() {
            return Ok(None);
        }
        let found: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT r.id FROM books_fts f JOIN records r ON r.rowid = f.rowid
                 WHERE f.books_fts MATCH ?1 AND r.kind = 'book' AND r.isbn = ?2
                   AND NOT r.deleted LIMIT 1",
            )?
            .query_row(
                rusqlite::params![format!("isbn : \"{}\"", book.isbn), book.isbn],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.map(|id| parse_uuid(&id)).transpose()?)
    }

    /// Saves each new book of a preview as an offline create (the same save as the book
    /// form's), calling `progress` with the number saved so far; answers how many.
    pub fn queue_imports(
        &mut self,
        books: &[Book],
        mut progress: impl FnMut(usize),
    ) -> Result<usize, StoreError> {
        for (done, book) in books.iter().enumerate() {
            self.save(book)?;
            progress(done + 1);
        }
        Ok(books.len())
    }
}

#[cfg(test)]
mod tests {
    use shelfmark_core::isbn;

    use super::*;
    use crate::EditOp;

    fn book(n: u128, isbn: &str, title: &str) -> Book {
        Book {
            id: Uuid::from_u128(n),
            isbn: isbn.to_owned(),
            title: title.to_owned(),
            authors: vec![],
            publisher: String::new(),
            year: None,
            subjects: vec![],
            summary: String::new(),
            notes: String::new(),
        }
    }

    fn candidate(position: usize, book: Result<Book, String>) -> ImportCandidate {
        ImportCandidate {
            position,
            control_number: Some(format!("c{position}")),
            book,
        }
    }

    #[test]
    fn a_preview_sorts_new_known_by_id_or_isbn_repeated_and_rejected_records() {
        let mut store = Store::open_in_memory().expect("opens");
        let catalogued = book(1, &isbn::from_body(1), "In the Catalogue");
        store.save(&catalogued).expect("saved");
        let preview = store
            .preview_import(vec![
                candidate(1, Ok(book(1, "", "Same Record"))),
                candidate(2, Ok(book(2, &isbn::from_body(1), "Same ISBN"))),
                candidate(3, Ok(book(3, &isbn::from_body(3), "New"))),
                candidate(4, Ok(book(4, &isbn::from_body(3), "New Again"))),
                candidate(5, Ok(book(5, "", "New Without ISBN"))),
                candidate(6, Err("the record has no title".into())),
            ])
            .expect("previews");
        let new: Vec<&str> = preview.new.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(new, ["New", "New Without ISBN"]);
        let known: Vec<(usize, Uuid)> = preview
            .known
            .iter()
            .map(|k| (k.position, k.existing))
            .collect();
        assert_eq!(known, [(1, catalogued.id), (2, catalogued.id)]);
        let rejected: Vec<(usize, &str)> = preview
            .rejected
            .iter()
            .map(|r| (r.position, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (4, "the same book as record 3 of this file"),
                (6, "the record has no title")
            ]
        );
    }

    #[test]
    fn queued_imports_are_offline_creates_reported_one_by_one() {
        let mut store = Store::open_in_memory().expect("opens");
        let books = [book(7, "", "One"), book(8, &isbn::from_body(8), "Two")];
        let mut seen = Vec::new();
        let queued = store
            .queue_imports(&books, |n| seen.push(n))
            .expect("queues");
        assert_eq!((queued, seen), (2, vec![1, 2]));
        let entries = store.outbox().expect("outbox");
        assert!(
            entries.iter().all(|e| e.op == EditOp::Create),
            "{entries:?}"
        );
        assert_eq!(entries.len(), 2);
    }
}
