use super::*;
use serde_json::json;
use shelfmark_core::isbn;
use shelfmark_core::wire::{Change, ChangeFeed};

/// A record's JSON as the change feed carries it.
fn raw(value: serde_json::Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(&value).expect("JSON")
}

fn book_change(seq: i64, n: u32, title: &str, authors: &[&str]) -> Change {
    let id = Uuid::from_u128(n as u128);
    Change {
        seq,
        kind: RecordType::Book,
        id,
        etag: format!("\"{seq}\""),
        deleted: false,
        data: Some(raw(json!({
            "id": id, "isbn": isbn::from_body(n), "title": title, "authors": authors,
            "publisher": "", "year": 2001, "subjects": ["Fiction"], "summary": "", "notes": ""
        }))),
    }
}

fn copy_change(seq: i64, n: u32, book: u32, status: &str) -> Change {
    let id = Uuid::from_u128(1_000_000 + n as u128);
    Change {
        seq,
        kind: RecordType::Copy,
        id,
        etag: format!("\"{seq}\""),
        deleted: false,
        data: Some(raw(json!({
            "id": id, "book_id": Uuid::from_u128(book as u128), "barcode": format!("B{n}"),
            "branch": "Central", "call_number": "", "status": status
        }))),
    }
}

fn feed(changes: Vec<Change>, more: bool) -> ChangeFeed {
    let last_seq = changes.iter().map(|c| c.seq).max().unwrap_or(0);
    ChangeFeed {
        changes,
        last_seq,
        more,
    }
}

#[test]
fn applied_changes_show_in_the_catalogue_with_copy_counts() {
    let mut store = Store::open_in_memory().expect("opens");
    store
        .apply_changes(
            &feed(
                vec![
                    book_change(1, 1, "Zebra Tales", &["Ann Author"]),
                    book_change(2, 2, "apple orchards", &["Bob Writer"]),
                    copy_change(3, 1, 1, "available"),
                    copy_change(4, 2, 1, "on_loan"),
                ],
                false,
            ),
            Some("\"4\""),
        )
        .expect("applies");
    let books = store.list_books("", 100).expect("lists");
    let titles: Vec<_> = books.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["apple orchards", "Zebra Tales"]);
    assert_eq!((books[1].copies_total, books[1].copies_available), (2, 1));
    assert_eq!(
        store.sync_position().expect("position"),
        SyncPosition {
            last_seq: 4,
            feed_etag: Some("\"4\"".into()),
            last_sync: None,
        }
    );
}

#[test]
fn search_matches_title_author_and_isbn_prefixes() {
    let mut store = Store::open_in_memory().expect("opens");
    store
        .apply_changes(
            &feed(
                vec![
                    book_change(1, 1, "The Quiet Harbour", &["Mira Solberg"]),
                    book_change(2, 2, "Loud Mountains", &["Tom Harbison"]),
                ],
                false,
            ),
            None,
        )
        .expect("applies");
    let titles = |q: &str| -> Vec<String> {
        store
            .list_books(q, 10)
            .expect("searches")
            .into_iter()
            .map(|b| b.title)
            .collect()
    };
    assert_eq!(titles("harb"), ["Loud Mountains", "The Quiet Harbour"]);
    assert_eq!(titles("solb"), ["The Quiet Harbour"]);
    assert_eq!(
        titles(&isbn::from_body(2)[..8]),
        ["Loud Mountains", "The Quiet Harbour"]
    );
    assert_eq!(titles(&isbn::from_body(2)), ["Loud Mountains"]);
    assert!(titles("\"unbalanced AND (").is_empty());
}

#[test]
fn updates_replace_and_deletions_remove_records_and_search_entries() {
    let mut store = Store::open_in_memory().expect("opens");
    store
        .apply_changes(
            &feed(vec![book_change(1, 1, "Old Title", &["A"])], false),
            None,
        )
        .expect("applies");
    store
        .apply_changes(
            &feed(vec![book_change(2, 1, "New Title", &["A"])], false),
            None,
        )
        .expect("applies");
    assert!(store.list_books("old", 10).expect("searches").is_empty());
    assert_eq!(store.list_books("new", 10).expect("searches").len(), 1);
    let deletion = Change {
        seq: 3,
        kind: RecordType::Book,
        id: Uuid::from_u128(1),
        etag: "\"3\"".into(),
        deleted: true,
        data: None,
    };
    store
        .apply_changes(&feed(vec![deletion], false), None)
        .expect("applies");
    assert_eq!(store.count_books().expect("counts"), 0);
    assert!(store.list_books("new", 10).expect("searches").is_empty());
}

#[test]
fn a_page_with_more_to_come_does_not_store_the_feed_etag() {
    let mut store = Store::open_in_memory().expect("opens");
    store
        .apply_changes(
            &feed(vec![book_change(1, 1, "A", &[])], true),
            Some("\"9\""),
        )
        .expect("applies");
    assert_eq!(store.sync_position().expect("position").feed_etag, None);
}

#[test]
fn a_feed_record_that_is_not_a_book_rolls_back_the_whole_page() {
    let mut store = Store::open_in_memory().expect("opens");
    let mut bad = book_change(2, 2, "B", &[]);
    bad.data = Some(raw(json!({"title": 5})));
    let result = store.apply_changes(&feed(vec![book_change(1, 1, "A", &[]), bad], false), None);
    assert!(matches!(result, Err(StoreError::Json(_))));
    assert_eq!(store.count_books().expect("counts"), 0);
    assert_eq!(store.sync_position().expect("position").last_seq, 0);
}

#[test]
fn a_cache_from_a_newer_app_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.db");
    drop(Store::open(&path).expect("creates"));
    {
        let conn = Connection::open(&path).expect("opens raw");
        conn.pragma_update(None, "user_version", 99)
            .expect("sets version");
    }
    match Store::open(&path) {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
    let conn = Connection::open(&path).expect("opens raw");
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("reads");
    assert_eq!(v, 99);
}

#[test]
fn reopening_a_cache_keeps_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.db");
    {
        let mut store = Store::open(&path).expect("creates");
        store
            .apply_changes(
                &feed(vec![book_change(7, 1, "Kept", &[])], false),
                Some("\"7\""),
            )
            .expect("applies");
    }
    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.count_books().expect("counts"), 1);
    assert_eq!(store.sync_position().expect("position").last_seq, 7);
}

fn cached_book(store: &Store, n: u32) -> CachedRecord<Book> {
    store
        .get::<Book>(Uuid::from_u128(n as u128))
        .expect("reads")
        .expect("cached")
}

fn synced_store() -> Store {
    let mut store = Store::open_in_memory().expect("opens");
    store
        .apply_changes(
            &feed(
                vec![
                    book_change(1, 1, "Server Title", &["Ann"]),
                    copy_change(2, 1, 1, "available"),
                ],
                false,
            ),
            Some("\"2\""),
        )
        .expect("applies");
    store
}

#[test]
fn an_offline_edit_shows_at_once_marked_pending_and_queues_with_its_base() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Edited Here".into();
    let entry = store.save(&book).expect("saves");
    assert_eq!(
        (entry.op, entry.state),
        (EditOp::Update, OutboxState::Pending)
    );
    assert_eq!(entry.base_etag.as_deref(), Some("\"1\""));
    assert_eq!(
        entry.base.as_ref().and_then(|b| b["title"].as_str()),
        Some("Server Title")
    );
    let cached = cached_book(&store, 1);
    assert_eq!(cached.record.title, "Edited Here");
    assert!(cached.pending);
    let listed = store.list_books("edited", 10).expect("searches");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].pending);
    assert_eq!(store.sync_counts().expect("counts").pending_edits, 1);
}

#[test]
fn a_second_edit_folds_into_the_waiting_entry_and_keeps_the_first_base() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "One".into();
    let first = store.save(&book).expect("saves");
    book.title = "Two".into();
    let second = store.save(&book).expect("saves");
    assert_eq!(first.seq, second.seq);
    assert_eq!(second.base, first.base);
    assert_eq!(
        second.body.as_ref().and_then(|b| b["title"].as_str()),
        Some("Two")
    );
    assert_eq!(store.outbox().expect("outbox").len(), 1);
}

#[test]
fn an_invalid_edit_is_refused_and_changes_nothing() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.isbn = "9780306406158".into();
    assert!(matches!(store.save(&book), Err(StoreError::Invalid(_))));
    assert_eq!(cached_book(&store, 1).record.title, "Server Title");
    assert!(store.outbox().expect("outbox").is_empty());
}

#[test]
fn the_feed_does_not_overwrite_a_pending_edit_but_keeps_the_servers_state_beside_it() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    let entry = store.save(&book).expect("saves");
    store
        .apply_changes(
            &feed(vec![book_change(5, 1, "Theirs", &["Ann"])], false),
            None,
        )
        .expect("applies");
    let cached = cached_book(&store, 1);
    assert_eq!(cached.record.title, "Mine");
    assert_eq!(cached.etag.as_deref(), Some("\"5\""));
    // Discarding the edit shows the server's latest state.
    store.discard(entry.seq).expect("discards");
    let cached = cached_book(&store, 1);
    assert_eq!(
        (cached.record.title.as_str(), cached.pending),
        ("Theirs", false)
    );
}

#[test]
fn an_acknowledged_edit_becomes_the_servers_state_and_leaves_the_outbox() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    let entry = store.save(&book).expect("saves");
    let answer = serde_json::to_value(&book).expect("json");
    store
        .ack(entry.seq, Some(("\"6\"", &answer)))
        .expect("acks");
    let cached = cached_book(&store, 1);
    assert_eq!(
        (cached.record.title.as_str(), cached.pending),
        ("Mine", false)
    );
    assert_eq!(cached.etag.as_deref(), Some("\"6\""));
    assert!(store.outbox().expect("outbox").is_empty());
}

#[test]
fn a_record_created_here_and_deleted_before_syncing_leaves_no_trace() {
    let mut store = Store::open_in_memory().expect("opens");
    let mut book: Book =
        serde_json::from_str(book_change(1, 9, "New", &["A"]).data.expect("data").get())
            .expect("book");
    book.id = Uuid::from_u128(9);
    let entry = store.save(&book).expect("saves");
    assert_eq!(entry.op, EditOp::Create);
    assert_eq!(entry.base_etag, None);
    assert_eq!(store.delete::<Book>(book.id).expect("deletes"), None);
    assert!(store.outbox().expect("outbox").is_empty());
    assert_eq!(store.count_books().expect("counts"), 0);
}

#[test]
fn a_deletion_hides_the_record_and_queues_a_conditional_delete() {
    let mut store = synced_store();
    let entry = store
        .delete::<Book>(Uuid::from_u128(1))
        .expect("deletes")
        .expect("queued");
    assert_eq!(
        (entry.op, entry.base_etag.as_deref()),
        (EditOp::Delete, Some("\"1\""))
    );
    assert!(store.list_books("", 10).expect("lists").is_empty());
    assert!(
        store
            .get::<Book>(Uuid::from_u128(1))
            .expect("reads")
            .is_none()
    );
    store.ack(entry.seq, None).expect("acks");
    assert_eq!(store.count_books().expect("counts"), 0);
}

#[test]
fn a_conflict_waits_in_the_inbox_and_its_resolution_goes_back_out_based_on_theirs() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    let entry = store.save(&book).expect("saves");
    let mut theirs = book.clone();
    theirs.title = "Theirs".into();
    let theirs = serde_json::to_value(&theirs).expect("json");
    store
        .conflict(
            entry.seq,
            Some(("\"7\"", &theirs)),
            ConflictReason::EditConflict,
            None,
            None,
        )
        .expect("records");
    assert!(store.pending_edits().expect("pending").is_empty());
    assert!(cached_book(&store, 1).in_conflict);
    assert!(matches!(
        store.save(&book),
        Err(StoreError::InConflict { .. })
    ));
    let inbox = store.conflicts().expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        inbox[0].base.as_ref().and_then(|b| b["title"].as_str()),
        Some("Server Title")
    );
    assert_eq!(
        inbox[0].mine.as_ref().and_then(|b| b["title"].as_str()),
        Some("Mine")
    );
    assert_eq!(
        inbox[0].theirs.as_ref().and_then(|b| b["title"].as_str()),
        Some("Theirs")
    );

    let mut settled = book.clone();
    settled.title = "Settled".into();
    let settled = serde_json::to_value(&settled).expect("json");
    store.resolve(entry.seq, Some(&settled)).expect("resolves");
    assert!(store.conflicts().expect("inbox").is_empty());
    let pending = store.pending_edits().expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].base_etag.as_deref(), Some("\"7\""));
    assert_eq!(cached_book(&store, 1).record.title, "Settled");
}

#[test]
fn a_failed_edit_is_kept_with_the_problem_until_retried() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    let entry = store.save(&book).expect("saves");
    store
        .fail(entry.seq, &json!({"title": "Bad"}))
        .expect("fails");
    let counts = store.sync_counts().expect("counts");
    assert_eq!((counts.pending_edits, counts.failed_edits), (0, 1));
    assert_eq!(cached_book(&store, 1).record.title, "Mine");
    store.retry(entry.seq).expect("retries");
    assert_eq!(store.pending_edits().expect("pending").len(), 1);
}

#[test]
fn the_sync_counts_are_the_outbox_by_state_and_the_last_sync() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    let failed = store.save(&book).expect("saves");
    store
        .fail(failed.seq, &json!({"title": "Bad"}))
        .expect("fails");
    book.id = Uuid::from_u128(2);
    book.title = "A new book".into();
    store.save(&book).expect("saves");
    store.mark_synced("2026-11-30T02:00:00Z").expect("marks");
    let counts = store.sync_counts().expect("counts");
    assert_eq!((counts.pending_edits, counts.failed_edits), (1, 1));
    assert_eq!((counts.conflicts, counts.lost_holds), (0, 0));
    assert_eq!(counts.last_seq, 2);
    assert_eq!(counts.last_sync.as_deref(), Some("2026-11-30T02:00:00Z"));
    let status = store.status().expect("status");
    assert_eq!((status.books, status.copies), (2, 1), "the new book counts");
    assert_eq!(status.sync, counts);
}

#[test]
fn a_server_deletion_of_a_record_with_a_pending_edit_keeps_the_edit() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.title = "Mine".into();
    store.save(&book).expect("saves");
    let deletion = Change {
        seq: 9,
        kind: RecordType::Book,
        id: Uuid::from_u128(1),
        etag: "\"9\"".into(),
        deleted: true,
        data: None,
    };
    store
        .apply_changes(&feed(vec![deletion], false), None)
        .expect("applies");
    let cached = cached_book(&store, 1);
    assert_eq!((cached.record.title.as_str(), cached.etag), ("Mine", None));
}

#[test]
fn copies_are_found_by_their_book() {
    let store = synced_store();
    let copies: Vec<Copy> = store
        .find_by(Lookup::BookId, &Uuid::from_u128(1).to_string())
        .expect("finds");
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].barcode, "B1");
}

fn copy_at(seq: i64, n: u32, book: u32, branch: &str, status: &str) -> Change {
    let mut c = copy_change(seq, n, book, status);
    if let Some(d) = &c.data {
        let mut value: serde_json::Value = serde_json::from_str(d.get()).expect("JSON");
        value["branch"] = json!(branch);
        c.data = Some(raw(value));
    }
    c
}

#[test]
fn the_catalogue_pages_and_filters_by_branch_and_availability() {
    let mut store = Store::open_in_memory().expect("opens");
    let mut changes = Vec::new();
    for n in 1..=30 {
        changes.push(book_change(n as i64, n, &format!("Book {n:02}"), &["A"]));
    }
    changes.push(copy_at(31, 1, 1, "North", "available"));
    changes.push(copy_at(32, 2, 2, "North", "on_loan"));
    changes.push(copy_at(33, 3, 3, "South", "available"));
    store
        .apply_changes(&feed(changes, false), None)
        .expect("applies");

    let page = store
        .book_page(&BookQuery {
            offset: 10,
            limit: 5,
            ..BookQuery::default()
        })
        .expect("pages");
    assert_eq!(page.total, 30);
    let titles: Vec<_> = page.rows.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Book 11", "Book 12", "Book 13", "Book 14", "Book 15"]
    );

    let north = BookQuery {
        branch: Some("North".into()),
        ..BookQuery::default()
    };
    let titles: Vec<_> = store
        .book_page(&north)
        .expect("filters")
        .rows
        .into_iter()
        .map(|b| b.title)
        .collect();
    assert_eq!(titles, ["Book 01", "Book 02"]);
    let available_north = BookQuery {
        available_only: true,
        ..north
    };
    let page = store.book_page(&available_north).expect("filters");
    assert_eq!((page.total, page.rows[0].title.as_str()), (1, "Book 01"));
    let available = BookQuery {
        available_only: true,
        ..BookQuery::default()
    };
    assert_eq!(store.book_page(&available).expect("filters").total, 2);
    assert_eq!(store.branches().expect("branches"), ["North", "South"]);
}

#[test]
fn patrons_are_found_by_name_or_email_premium_first() {
    let mut store = Store::open_in_memory().expect("opens");
    let patron = |seq: i64, n: u128, name: &str, premium: bool| Change {
        seq,
        kind: RecordType::Patron,
        id: Uuid::from_u128(n),
        etag: format!("\"{seq}\""),
        deleted: false,
        data: Some(raw(
            json!({"id": Uuid::from_u128(n), "name": name, "email": format!("{}@x.org", name.to_lowercase().replace(' ', ".")), "premium": premium, "branch": "North"}),
        )),
    };
    store
        .apply_changes(
            &feed(
                vec![
                    patron(1, 1, "Ada Brook", false),
                    patron(2, 2, "Zed Brook", true),
                    patron(3, 3, "Cy Hill", false),
                ],
                false,
            ),
            None,
        )
        .expect("applies");
    let names = |q: &str| -> Vec<String> {
        store
            .search_patrons(q, 10)
            .expect("searches")
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(names("brook"), ["Zed Brook", "Ada Brook"]);
    assert_eq!(names("cy.hill@"), ["Cy Hill"]);
    assert!(names("100%").is_empty());
    assert_eq!(names("").len(), 3);
}

#[test]
fn a_lost_hold_is_kept_with_the_servers_answer_until_dismissed() {
    let mut store = synced_store();
    let hold = Hold::request(Uuid::from_u128(77), Uuid::from_u128(5), Uuid::from_u128(1));
    let entry = store.save(&hold).expect("queues");
    assert_eq!(entry.op, EditOp::Create);
    let answer = json!({"type": "/problems/hold-unavailable", "patron_premium": true, "escalation_id": "e-1"});
    store.hold_lost(entry.seq, &answer).expect("marks lost");
    assert!(
        store.pending_edits().expect("pending").is_empty(),
        "a lost hold is never retried"
    );
    assert_eq!(store.sync_counts().expect("counts").lost_holds, 1);
    assert_eq!(store.hold_outcome(hold.id).expect("reads"), Some(answer));
    store.discard(entry.seq).expect("dismisses");
    assert!(store.get::<Hold>(hold.id).expect("reads").is_none());
    assert_eq!(store.sync_counts().expect("counts").lost_holds, 0);
}

#[test]
fn settling_a_duplicate_keeps_the_edit_an_update_of_its_base() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.isbn = isbn::from_body(5);
    let entry = store.save(&book).expect("saves");
    store
        .conflict(
            entry.seq,
            None,
            ConflictReason::Duplicate,
            Some("taken"),
            None,
        )
        .expect("records");
    book.isbn = isbn::from_body(6);
    store
        .resolve(entry.seq, Some(&serde_json::to_value(&book).expect("json")))
        .expect("resolves");
    let pending = store.pending_edits().expect("pending");
    assert_eq!(
        (pending[0].op, pending[0].base_etag.as_deref()),
        (EditOp::Update, Some("\"1\""))
    );
}

#[test]
fn settling_a_deletion_on_the_server_by_keeping_mine_recreates_the_record() {
    let mut store = synced_store();
    let mut book = cached_book(&store, 1).record;
    book.notes = "mine".into();
    let entry = store.save(&book).expect("saves");
    store
        .conflict(entry.seq, None, ConflictReason::Deleted, None, None)
        .expect("records");
    store
        .resolve(entry.seq, Some(&serde_json::to_value(&book).expect("json")))
        .expect("resolves");
    let pending = store.pending_edits().expect("pending");
    assert_eq!(
        (pending[0].op, pending[0].base_etag.as_deref()),
        (EditOp::Create, None)
    );
}

#[test]
fn a_bulk_load_builds_the_search_index_once_at_the_end() {
    let mut store = Store::open_in_memory().expect("opens");
    assert!(store.begin_bulk_load().expect("begins"));
    store
        .apply_changes(
            &feed(
                vec![
                    book_change(1, 1, "Harbour Lights", &["Ann"]),
                    copy_change(2, 1, 1, "available"),
                ],
                false,
            ),
            None,
        )
        .expect("applies");
    assert!(
        store
            .list_books("harbour", 10)
            .expect("searches")
            .is_empty(),
        "not indexed yet"
    );
    store.end_bulk_load().expect("ends");
    assert_eq!(store.list_books("harbour", 10).expect("searches").len(), 1);
    // Later changes are indexed as they come, and a second bulk load is refused.
    store
        .apply_changes(
            &feed(vec![book_change(3, 2, "Harbour Nights", &["B"])], false),
            None,
        )
        .expect("applies");
    assert_eq!(store.list_books("harbour", 10).expect("searches").len(), 2);
    assert!(
        !store.begin_bulk_load().expect("checks"),
        "the cache holds books"
    );
}

#[test]
fn a_first_sync_cut_short_has_its_index_built_when_the_cache_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.db");
    {
        let mut store = Store::open(&path).expect("creates");
        store.begin_bulk_load().expect("begins");
        store
            .apply_changes(
                &feed(vec![book_change(1, 1, "Harbour Lights", &["Ann"])], true),
                None,
            )
            .expect("applies");
        // The process dies here: no end_bulk_load.
    }
    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.list_books("harbour", 10).expect("searches").len(), 1);
}

/// A cache holding `n` books titled "<word> NNNN" in reverse arrival order, so title order and
/// arrival order differ.
fn store_with_titles(word: &str, n: u32, first_seq: i64, into: &mut Store) {
    let changes = (0..n)
        .map(|i| {
            book_change(
                first_seq + i64::from(i),
                first_seq as u32 + i,
                &format!("{word} {:04}", n - i),
                &["Ann"],
            )
        })
        .collect();
    into.apply_changes(&feed(changes, false), None)
        .expect("applies");
}

#[test]
fn searches_matching_few_or_many_books_both_list_them_by_title_and_count_them_all() {
    let mut store = Store::open_in_memory().expect("opens");
    // Many more matches than a search fetches and sorts, and a few.
    let many = super::catalogue::FETCH_AND_SORT_MAX as u32 + 500;
    store_with_titles("River", many, 1, &mut store);
    store_with_titles("Lake", 30, 100_000, &mut store);
    for (word, expected) in [("river", many), ("lake", 30)] {
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .book_page(&BookQuery {
                    text: word.into(),
                    offset,
                    limit: 400,
                    ..BookQuery::default()
                })
                .expect("searches");
            assert_eq!(page.total, i64::from(expected), "{word}");
            if page.rows.is_empty() {
                break;
            }
            offset += page.rows.len() as u32;
            seen.extend(page.rows.into_iter().map(|b| b.title));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen.len(), expected as usize, "{word}: every match once");
        assert_eq!(seen, sorted, "{word}: in title order");
    }
}

#[test]
fn a_book_deleted_here_leaves_search_and_counts_and_returns_when_the_deletion_is_discarded() {
    let mut store = synced_store();
    let titles = |store: &Store, q: &str| -> (i64, Vec<String>) {
        let page = store
            .book_page(&BookQuery {
                text: q.into(),
                ..BookQuery::default()
            })
            .expect("lists");
        (page.total, page.rows.into_iter().map(|b| b.title).collect())
    };
    assert_eq!(titles(&store, "server"), (1, vec!["Server Title".into()]));
    let entry = store
        .delete::<Book>(Uuid::from_u128(1))
        .expect("deletes")
        .expect("queued");
    assert_eq!(titles(&store, "server"), (0, vec![]));
    assert_eq!(titles(&store, ""), (0, vec![]));
    store.discard(entry.seq).expect("discards");
    assert_eq!(titles(&store, "server"), (1, vec!["Server Title".into()]));
    assert_eq!(titles(&store, ""), (1, vec!["Server Title".into()]));
}

#[test]
fn a_version_1_cache_is_migrated_keeping_its_records_edits_and_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.db");
    {
        // The cache as the first release left it: version 1, a book, its copy, and the book
        // deleted here with the deletion waiting for the server.
        let conn = Connection::open(&path).expect("opens raw");
        conn.execute_batch(super::schema::MIGRATIONS[0])
            .expect("version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("sets version");
        let book = book_change(1, 1, "Harbour Lights", &["Ann"]);
        let gone = book_change(2, 2, "Harbour Gone", &["Bob"]);
        let copy = copy_change(3, 1, 1, "available");
        for (c, deleted) in [(&book, 0), (&gone, 1), (&copy, 0)] {
            conn.execute(
                "INSERT INTO records (kind, id, data, etag, pending, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                rusqlite::params![
                    c.kind.as_str(),
                    c.id.to_string(),
                    c.data.as_ref().expect("data").get(),
                    c.etag,
                    deleted
                ],
            )
            .expect("inserts");
        }
    }
    let store = Store::open(&path).expect("migrates");
    let page = store
        .book_page(&BookQuery {
            text: "harb".into(),
            ..BookQuery::default()
        })
        .expect("searches");
    assert_eq!(page.total, 1);
    assert_eq!(page.rows[0].title, "Harbour Lights");
    assert_eq!(page.rows[0].copies_available, 1);
    let copies = store
        .find_by::<Copy>(Lookup::BookId, &Uuid::from_u128(1).to_string())
        .expect("finds");
    assert_eq!(copies.len(), 1);
}

#[test]
fn lookups_by_book_barcode_patron_and_the_branch_list_use_their_indexes() {
    let store = synced_store();
    let plan = store
        .query_plan(super::catalogue::BRANCHES_SQL, [])
        .expect("plans");
    assert!(
        plan.contains("USING INDEX records_branch"),
        "branches: {plan}"
    );
    for (kind, field) in [
        ("copy", Lookup::BookId),
        ("copy", Lookup::Barcode),
        ("hold", Lookup::PatronId),
    ] {
        let plan = store
            .query_plan(
                &super::catalogue::cached_where_sql(&format!("r.{} = ?2", field.column())),
                [kind, "B1"],
            )
            .expect("plans");
        assert!(
            plan.contains("USING INDEX records_"),
            "{kind} by {field:?}: {plan}"
        );
    }
}

#[test]
fn a_count_by_copies_follows_the_feed_local_edits_and_other_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.db");
    let mut store = Store::open(&path).expect("opens");
    store
        .apply_changes(
            &feed(
                vec![
                    book_change(1, 1, "One", &["A"]),
                    book_change(2, 2, "Two", &["A"]),
                    copy_at(3, 1, 1, "North", "available"),
                    copy_at(4, 2, 2, "North", "on_loan"),
                ],
                false,
            ),
            None,
        )
        .expect("applies");
    let available = BookQuery {
        available_only: true,
        ..BookQuery::default()
    };
    let total = |store: &Store| store.book_page(&available).expect("counts").total;
    assert_eq!(total(&store), 1);
    // Another window of the same query: the same count.
    let second = BookQuery {
        offset: 1,
        ..available.clone()
    };
    assert_eq!(store.book_page(&second).expect("counts").total, 1);
    // The feed brings the second copy back.
    store
        .apply_changes(
            &feed(vec![copy_at(5, 2, 2, "North", "available")], false),
            None,
        )
        .expect("applies");
    assert_eq!(total(&store), 2);
    // A local edit lends the first one.
    let mut copy = store
        .find_by::<Copy>(Lookup::Barcode, "B1")
        .expect("finds")
        .remove(0);
    copy.status = shelfmark_core::CopyStatus::OnLoan;
    store.save(&copy).expect("saves");
    assert_eq!(total(&store), 1);
    // Another process (the CLI) deletes the remaining book here.
    let mut other = Store::open(&path).expect("opens again");
    other
        .delete::<Book>(Uuid::from_u128(2))
        .expect("deletes")
        .expect("queued");
    assert_eq!(total(&store), 0);
}

#[test]
fn on_a_shared_desk_each_user_sees_counts_and_pushes_only_their_own_edits() {
    let mut store = synced_store();
    store.set_user(Some("ada"));
    let mut book = cached_book(&store, 1).record;
    book.title = "Ada's title".into();
    let ada = store.save(&book).expect("saves");
    assert_eq!(ada.author.as_deref(), Some("ada"));

    store.set_user(Some("bram"));
    assert!(store.outbox().expect("outbox").is_empty(), "not bram's");
    assert!(store.pending_edits().expect("pending").is_empty());
    assert_eq!(store.sync_counts().expect("counts").pending_edits, 0);
    assert!(
        store
            .pending_edits_of(Some("bram"))
            .expect("pending")
            .is_empty()
    );
    assert_eq!(
        store.other_staff_edits().expect("others"),
        vec![StaffEdits {
            user: "ada".into(),
            edits: 1
        }]
    );
    // Bram cannot fold his edit into Ada's, nor retry or discard hers.
    book.title = "Bram's title".into();
    assert!(matches!(
        store.save(&book),
        Err(StoreError::OtherUsersEdit { ref user, .. }) if user == "ada"
    ));
    assert!(matches!(
        store.discard(ada.seq),
        Err(StoreError::NoSuchEdit(_))
    ));
    assert!(matches!(
        store.edit(ada.seq),
        Err(StoreError::NoSuchEdit(_))
    ));

    store.set_user(Some("ada"));
    let waiting = store.pending_edits().expect("pending");
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].body.as_ref().and_then(|b| b["title"].as_str()),
        Some("Ada's title"),
        "kept as Ada left it"
    );
    assert!(store.other_staff_edits().expect("others").is_empty());
}

#[test]
fn a_manager_discards_the_edits_another_user_left_on_the_desk() {
    let mut store = synced_store();
    store.set_user(Some("ada"));
    let mut book = cached_book(&store, 1).record;
    book.title = "Ada's title".into();
    store.save(&book).expect("saves");
    store.set_user(Some("manager"));
    assert_eq!(store.discard_edits_of("ada").expect("discards"), 1);
    assert!(store.other_staff_edits().expect("others").is_empty());
    let cached = cached_book(&store, 1);
    assert_eq!(
        cached.record.title, "Server Title",
        "the server's state again"
    );
    assert!(!cached.pending);
}

#[test]
fn a_copy_with_a_barcode_another_copy_has_is_refused_offline_naming_that_copy() {
    let mut store = synced_store();
    let taken = store
        .get::<shelfmark_core::Copy>(Uuid::from_u128(1_000_001))
        .expect("reads")
        .expect("a cached copy")
        .record;
    let mut copy = taken.clone();
    copy.id = Uuid::from_u128(77);
    match store.save(&copy) {
        Err(StoreError::Invalid(errors)) => {
            assert_eq!(errors.0.len(), 1);
            assert_eq!(errors.0[0].field, "barcode");
            assert!(
                errors.0[0]
                    .message
                    .starts_with(&format!("copy {} of “", taken.barcode)),
                "{}",
                errors.0[0].message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(store.outbox().expect("outbox").is_empty(), "nothing queued");
    // The copy itself keeps its barcode when edited.
    let mut same = taken;
    same.call_number = "QA 76".into();
    store.save(&same).expect("its own barcode is no duplicate");
}

#[test]
fn a_branch_typed_in_another_case_is_the_branch_the_cache_knows() {
    let mut store = synced_store();
    let mut copy = store
        .get::<shelfmark_core::Copy>(Uuid::from_u128(1_000_001))
        .expect("reads")
        .expect("a cached copy")
        .record;
    copy.id = Uuid::from_u128(78);
    copy.barcode = "NEW-1".into();
    copy.branch = " central ".into();
    store.save(&copy).expect("saves");
    let saved = store
        .get::<shelfmark_core::Copy>(copy.id)
        .expect("reads")
        .expect("cached");
    assert_eq!(saved.record.branch, "Central");
    assert_eq!(
        store.branches().expect("branches"),
        vec!["Central".to_owned()]
    );
}

#[test]
fn a_patron_is_found_by_a_scanned_card_and_a_card_another_patron_has_is_refused() {
    let mut store = Store::open_in_memory().expect("opens");
    let patron = |n: u128, card: &str| shelfmark_core::Patron {
        id: Uuid::from_u128(n),
        name: format!("Reader {n}"),
        email: format!("r{n}@example.org"),
        premium: false,
        branch: "Central".into(),
        card: card.into(),
        notes: String::new(),
    };
    store.save(&patron(1, "29000001")).expect("saves");
    store.save(&patron(2, "")).expect("a patron without a card");
    store
        .save(&patron(3, ""))
        .expect("two without a card do not clash");
    let found = store.search_patrons("29000001", 10).expect("searches");
    assert_eq!(
        found.iter().map(|p| p.id).collect::<Vec<_>>(),
        [Uuid::from_u128(1)]
    );
    match store.save(&patron(4, " 29000001 ")) {
        Err(StoreError::Invalid(errors)) => {
            assert_eq!(errors.0[0].field, "card");
            assert_eq!(errors.0[0].message, "patron Reader 1 already has this card");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_choices_made_on_a_merge_survive_reopening_the_cache_and_go_with_the_edit() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("cache.db");
    let seq = {
        let mut store = Store::open(&path).expect("opens");
        store
            .apply_changes(
                &feed(vec![book_change(1, 1, "Server Title", &["Ann"])], false),
                Some("\"1\""),
            )
            .expect("applies");
        let mut book = cached_book(&store, 1).record;
        book.title = "Mine".into();
        let seq = store.save(&book).expect("saves").seq;
        let choices: Vec<shelfmark_core::merge::Settled> = serde_json::from_value(json!([
            {"key": {"field": "title", "slot": 0}, "choice": {"kind": "mine"}}
        ]))
        .expect("choices");
        store.remember_choices(seq, &choices).expect("remembers");
        seq
    };
    let mut store = Store::open(&path).expect("opens again");
    let kept = store.remembered_choices(seq).expect("reads");
    assert_eq!(
        serde_json::to_value(&kept).expect("json")[0]["key"]["field"],
        "title"
    );
    store.discard(seq).expect("discards");
    assert!(
        store.remembered_choices(seq).expect("reads").is_empty(),
        "gone with the edit"
    );
}
