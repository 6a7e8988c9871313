//! What the desktop's screens ask the cache for in one call, and the desk's edits through it:
//! a book with its copies and holds (the detail view), a copy by its barcode, a window of the
//! catalogue, a form's save, a hold placed or cancelled, and the open escalations a first look
//! starts from. The Tauri shell's commands call these and add nothing but the wiring.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shelfmark_core::{Book, Copy, Hold, HoldStatus, Patron};
use uuid::Uuid;

use crate::{BookPage, BookQuery, CachedRecord, Editable, Lookup, OutboxState, Store, StoreError};

/// The most catalogue rows one window may ask for.
const MAX_WINDOW: u32 = 1000;

/// A book with everything its detail view shows.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BookDetail {
    pub book: CachedRecord<Book>,
    pub copies: Vec<CachedRecord<Copy>>,
    pub holds: Vec<HoldView>,
}

/// A hold with its patron, as the book view lists it: active (with the copy it got), still
/// waiting to reach the server, or lost (with the server's answer).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HoldView {
    pub hold: CachedRecord<Hold>,
    pub patron: Option<Patron>,
    pub copy: Option<Copy>,
    /// For a hold the server could not fill: its `hold-unavailable` answer (`patron_premium`,
    /// `escalation_id`...).
    pub lost: Option<Value>,
}

/// A copy found by its barcode.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BarcodeMatch {
    pub copy: Copy,
    pub book: Option<Book>,
}

/// Whether a form creates a record or edits one.
#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum SaveMode {
    Create,
    Edit,
}

/// A record a form creates: it gets its id (UUID v7) when saved as new.
pub trait FormRecord: Editable {
    fn set_id(&mut self, id: Uuid);
}

impl FormRecord for Book {
    fn set_id(&mut self, id: Uuid) {
        self.id = id;
    }
}

impl FormRecord for Copy {
    fn set_id(&mut self, id: Uuid) {
        self.id = id;
    }
}

impl FormRecord for Patron {
    fn set_id(&mut self, id: Uuid) {
        self.id = id;
    }
}

impl Store {
    /// One window of the catalogue list (at least one row, at most [`MAX_WINDOW`]).
    pub fn catalogue_window(&self, query: BookQuery) -> Result<BookPage, StoreError> {
        self.book_page(&BookQuery {
            limit: query.limit.clamp(1, MAX_WINDOW),
            ..query
        })
    }

    /// The book with its copies and its active holds (each with its patron, the copy it got,
    /// and the server's answer if it was lost), or None when the cache has no such book.
    pub fn book_detail(&self, id: Uuid) -> Result<Option<BookDetail>, StoreError> {
        let Some(book) = self.get::<Book>(id)? else {
            return Ok(None);
        };
        let key = id.to_string();
        let copies = self.find_cached_by::<Copy>(Lookup::BookId, &key)?;
        let mut holds = Vec::new();
        for hold in self.find_cached_by::<Hold>(Lookup::BookId, &key)? {
            if hold.record.status != HoldStatus::Active {
                continue;
            }
            let patron = self.get::<Patron>(hold.record.patron_id)?.map(|p| p.record);
            let copy = match hold.record.copy_id {
                Some(id) => self.get::<Copy>(id)?.map(|c| c.record),
                None => None,
            };
            let lost = self.hold_outcome(hold.record.id)?;
            holds.push(HoldView {
                hold,
                patron,
                copy,
                lost,
            });
        }
        Ok(Some(BookDetail {
            book,
            copies,
            holds,
        }))
    }

    /// The copy with this barcode (as a scanner types it: surrounding blanks ignored), and its
    /// book.
    pub fn copy_by_barcode(&self, barcode: &str) -> Result<Option<BarcodeMatch>, StoreError> {
        let Some(copy) = self
            .find_by::<Copy>(Lookup::Barcode, barcode.trim())?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let book = self.get::<Book>(copy.book_id)?.map(|b| b.record);
        Ok(Some(BarcodeMatch { copy, book }))
    }

    /// Saves a record from a form (a new one gets its id here): validated, shown at once,
    /// queued for the server; returns it as the librarian now sees it.
    pub fn save_form<R: FormRecord>(
        &mut self,
        mut record: R,
        mode: SaveMode,
    ) -> Result<CachedRecord<R>, StoreError> {
        if matches!(mode, SaveMode::Create) {
            record.set_id(Uuid::now_v7());
        }
        self.save_and_read(record)
    }

    /// Places a hold for a patron on a book: queued at once (works offline); the server picks
    /// the copy when it syncs, or answers that every copy is taken.
    pub fn place_hold(
        &mut self,
        patron_id: Uuid,
        book_id: Uuid,
    ) -> Result<CachedRecord<Hold>, StoreError> {
        self.save_and_read(Hold::request(Uuid::now_v7(), patron_id, book_id))
    }

    /// Cancels a hold (queued; the server frees its copy), or dismisses a lost one (its
    /// refused entry leaves the outbox).
    pub fn cancel_hold(&mut self, id: Uuid) -> Result<(), StoreError> {
        let lost = self
            .outbox()?
            .into_iter()
            .find(|e| e.record_id == id && e.state == OutboxState::Lost);
        match lost {
            Some(entry) => self.discard(entry.seq),
            None => self.delete::<Hold>(id).map(drop),
        }
    }

    /// The open escalations a first look starts from, or None when the cache has never synced
    /// (a first sync brings the whole library: nothing in it is news).
    pub fn open_escalations_if_synced(&self) -> Result<Option<Vec<Uuid>>, StoreError> {
        if self.sync_position()?.last_seq == 0 {
            return Ok(None);
        }
        self.open_escalations().map(Some)
    }

    fn save_and_read<R: Editable>(&mut self, record: R) -> Result<CachedRecord<R>, StoreError> {
        let id = record.id();
        self.save(&record)?;
        self.get::<R>(id)?
            .ok_or(StoreError::NotFound { kind: R::KIND, id })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shelfmark_core::isbn;

    use super::*;

    fn book(n: u32) -> Book {
        serde_json::from_value(json!({
            "id": Uuid::from_u128(n.into()), "isbn": isbn::from_body(n), "title": format!("Book {n}"),
            "authors": ["Ann"], "publisher": "", "year": 2001, "subjects": [], "summary": "",
            "notes": ""
        }))
        .expect("a book")
    }

    fn copy(n: u128, book: &Book, barcode: &str) -> Copy {
        serde_json::from_value(json!({
            "id": Uuid::from_u128(n), "book_id": book.id, "barcode": barcode,
            "branch": "Central", "call_number": "", "status": "available"
        }))
        .expect("a copy")
    }

    fn patron(store: &mut Store, n: u128) -> Patron {
        let p = Patron {
            id: Uuid::from_u128(n),
            name: format!("Patron {n}"),
            email: format!("p{n}@example.org"),
            premium: false,
            branch: "Central".into(),
            card: format!("C{n}"),
            notes: String::new(),
        };
        store.save(&p).expect("saves the patron");
        p
    }

    /// A cache with one book, two copies of it, and a patron.
    fn desk() -> (Store, Book, Patron) {
        let mut store = Store::open_in_memory().expect("opens");
        let b = store
            .save_form(book(1), SaveMode::Edit)
            .expect("saves")
            .record;
        for (n, code) in [(10, "B10"), (11, "B11")] {
            store.save(&copy(n, &b, code)).expect("saves a copy");
        }
        let p = patron(&mut store, 20);
        (store, b, p)
    }

    #[test]
    fn a_book_detail_has_its_copies_and_its_active_holds_with_their_patrons() {
        let (mut store, b, p) = desk();
        let hold = store.place_hold(p.id, b.id).expect("places");
        assert!(hold.pending, "queued for the server");
        let detail = store.book_detail(b.id).expect("reads").expect("the book");
        assert_eq!(detail.book.record, b);
        assert_eq!(detail.copies.len(), 2);
        assert_eq!(detail.holds.len(), 1);
        let view = &detail.holds[0];
        assert_eq!(view.hold.record.id, hold.record.id);
        assert_eq!(view.patron.as_ref(), Some(&p));
        assert_eq!((view.copy.as_ref(), view.lost.as_ref()), (None, None));
        assert!(
            store
                .book_detail(Uuid::from_u128(99))
                .expect("reads")
                .is_none()
        );
    }

    #[test]
    fn a_cancelled_hold_leaves_the_detail_and_a_lost_one_is_dismissed_from_the_outbox() {
        let (mut store, b, p) = desk();
        let kept = store.place_hold(p.id, b.id).expect("places").record;
        let lost = store.place_hold(p.id, b.id).expect("places").record;
        let seq = |store: &Store, id: Uuid| {
            let entries = store.outbox().expect("outbox");
            entries
                .into_iter()
                .find(|e| e.record_id == id)
                .map(|e| e.seq)
        };
        let answer = json!({"type": "hold-unavailable", "patron_premium": false});
        store
            .hold_lost(seq(&store, lost.id).expect("queued"), &answer)
            .expect("marks it lost");
        let detail = store.book_detail(b.id).expect("reads").expect("the book");
        let shown = detail.holds.iter().find(|h| h.hold.record.id == lost.id);
        assert_eq!(shown.and_then(|h| h.lost.clone()), Some(answer));

        store.cancel_hold(lost.id).expect("dismisses");
        assert_eq!(seq(&store, lost.id), None, "the lost hold left the outbox");
        store.cancel_hold(kept.id).expect("cancels");
        let detail = store.book_detail(b.id).expect("reads").expect("the book");
        assert!(
            detail.holds.iter().all(|h| h.hold.record.id != kept.id),
            "a cancelled hold is no longer listed"
        );
    }

    #[test]
    fn a_barcode_as_a_scanner_types_it_finds_the_copy_and_its_book() {
        let (store, b, _) = desk();
        let found = store
            .copy_by_barcode("  B11\n")
            .expect("reads")
            .expect("found");
        assert_eq!(found.copy.id, Uuid::from_u128(11));
        assert_eq!(found.book, Some(b));
        assert!(store.copy_by_barcode("B99").expect("reads").is_none());
    }

    #[test]
    fn a_new_record_gets_a_fresh_id_and_an_edit_keeps_its_own() {
        let (mut store, b, _) = desk();
        let created = store.save_form(book(2), SaveMode::Create).expect("saves");
        assert_ne!(created.record.id, book(2).id);
        assert!(
            store
                .get::<Book>(created.record.id)
                .expect("reads")
                .is_some()
        );
        let edited = store.save_form(b.clone(), SaveMode::Edit).expect("saves");
        assert_eq!(edited.record.id, b.id);
    }

    #[test]
    fn a_catalogue_window_has_at_least_one_row_and_at_most_a_thousand() {
        let (mut store, _, _) = desk();
        for n in 2..=1001 {
            store.save(&book(n)).expect("saves");
        }
        let none = BookQuery {
            limit: 0,
            ..BookQuery::default()
        };
        assert_eq!(store.catalogue_window(none).expect("reads").rows.len(), 1);
        let huge = BookQuery {
            limit: u32::MAX,
            ..BookQuery::default()
        };
        assert_eq!(
            store.catalogue_window(huge).expect("reads").rows.len(),
            1000
        );
    }

    #[test]
    fn a_cache_never_synced_has_no_escalations_to_start_from_a_synced_one_its_open_ones() {
        let (mut store, _, _) = desk();
        assert_eq!(store.open_escalations_if_synced().expect("reads"), None);
        let escalation = |seq: i64, n: u128, status: &str| shelfmark_core::wire::Change {
            seq,
            kind: shelfmark_core::RecordType::Escalation,
            id: Uuid::from_u128(n),
            etag: format!("\"{seq}\""),
            deleted: false,
            data: Some(
                serde_json::value::to_raw_value(&json!({
                    "id": Uuid::from_u128(n), "patron_id": Uuid::from_u128(20),
                    "book_id": Uuid::from_u128(1), "hold_request_id": Uuid::from_u128(30 + n),
                    "status": status, "created_at": "2026-11-22T10:00:00Z"
                }))
                .expect("JSON"),
            ),
        };
        let feed = shelfmark_core::wire::ChangeFeed {
            changes: vec![escalation(1, 40, "open"), escalation(2, 41, "resolved")],
            last_seq: 2,
            more: false,
        };
        store.apply_changes(&feed, Some("\"2\"")).expect("applies");
        let known = store.open_escalations_if_synced().expect("reads");
        assert_eq!(known, Some(vec![Uuid::from_u128(40)]));
    }
}
