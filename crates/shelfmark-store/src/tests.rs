use super::*;
use serde_json::json;
use shelfmark_core::isbn;

fn book_change(seq: i64, n: u32, title: &str, authors: &[&str]) -> Change {
    let id = Uuid::from_u128(n as u128);
    Change {
        seq,
        kind: RecordType::Book,
        id,
        etag: format!("\"{seq}\""),
        deleted: false,
        data: Some(json!({
            "id": id, "isbn": isbn::from_body(n), "title": title, "authors": authors,
            "publisher": "", "year": 2001, "subjects": ["Fiction"], "summary": "", "notes": ""
        })),
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
        data: Some(json!({
            "id": id, "book_id": Uuid::from_u128(book as u128), "barcode": format!("B{n}"),
            "branch": "Central", "call_number": "", "status": status
        })),
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
            feed_etag: Some("\"4\"".into())
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
    bad.data = Some(json!({"title": 5}));
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
