//! The sync path across crates, with no window: the real server on loopback, the sync engine
//! (`shelfmark-client`) and the offline cache (`shelfmark-store`) together.

mod service;

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use shelfmark_client::{Client, ClientError, SyncEvent, SyncReport};
use shelfmark_core::{Book, Copy, CopyStatus, Hold, Patron, RecordType};
use shelfmark_store::{CachedRecord, Store};
use shelfmark_tests::{DEMO_PASSWORD, DemoServer};
use uuid::Uuid;

fn store() -> shelfmark_client::SharedStore {
    Arc::new(Mutex::new(
        Store::open_in_memory().expect("in-memory cache"),
    ))
}

#[tokio::test]
async fn a_first_sync_brings_the_whole_demo_library_into_the_cache_and_an_idle_one_changes_nothing()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let mut client = Client::new(&server.url)?;
    let user = client.sign_in("librarian", DEMO_PASSWORD).await?;
    assert_eq!(user.name, "librarian");

    let cache = store();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let first = client.pull(&cache, &tx).await?;
    assert!(
        first.pages >= 2,
        "2,000+ books and their copies take several pages: {first:?}"
    );
    let books = cache.lock().expect("cache").count_books()?;
    assert!(books >= 2000, "only {books} books arrived");
    let listed = cache.lock().expect("cache").list_books("", 5000)?;
    assert!(
        listed.iter().all(|b| (1..=4).contains(&b.copies_total)),
        "1 to 4 copies per book"
    );

    let mut pages = 0;
    while let Ok(event) = rx.try_recv() {
        if matches!(event, SyncEvent::PagePulled { .. }) {
            pages += 1;
        }
    }
    assert_eq!(pages, first.pages, "one progress event per page");

    let idle = client.pull(&cache, &tx).await?;
    assert_eq!(
        (idle.pages, idle.changes),
        (0, 0),
        "an idle sync is one 304"
    );
    assert_eq!(idle.last_seq, first.last_seq);
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_is_refused_plainly() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let mut client = Client::new(&server.url)?;
    match client.sign_in("librarian", "not the password").await {
        Err(ClientError::Unauthorized(_)) => Ok(()),
        other => anyhow::bail!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn syncing_without_signing_in_is_an_error_not_a_request() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let client = Client::new(&server.url)?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    assert!(matches!(
        client.pull(&store(), &tx).await,
        Err(ClientError::NotSignedIn)
    ));
    Ok(())
}

/// A librarian's desk: a signed-in client and its own cache, synced once.
async fn desk(server: &DemoServer) -> anyhow::Result<(Client, shelfmark_client::SharedStore)> {
    let mut client = Client::new(&server.url)?;
    client.sign_in("librarian", DEMO_PASSWORD).await?;
    let cache = store();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    client.sync(&cache, &tx).await?;
    Ok((client, cache))
}

async fn sync(
    client: &Client,
    cache: &shelfmark_client::SharedStore,
) -> anyhow::Result<SyncReport> {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Ok(client.sync(cache, &tx).await?)
}

/// Some book of the demo library, as a desk's cache has it.
fn some_book(cache: &shelfmark_client::SharedStore, nth: usize) -> anyhow::Result<Book> {
    let s = cache.lock().expect("cache");
    let id = s
        .list_books("", 100)?
        .get(nth)
        .map(|b| b.id)
        .context("no book")?;
    Ok(s.get::<Book>(id)?.context("not cached")?.record)
}

fn cached(cache: &shelfmark_client::SharedStore, id: Uuid) -> anyhow::Result<CachedRecord<Book>> {
    cache
        .lock()
        .expect("cache")
        .get::<Book>(id)?
        .context("not cached")
}

#[tokio::test]
async fn an_offline_edit_waits_in_the_outbox_and_is_pushed_when_the_server_is_reachable()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (client, cache) = desk(&server).await?;
    let mut book = some_book(&cache, 0)?;
    book.title = "Edited While Offline".into();
    cache.lock().expect("cache").save(&book)?;

    // No network: a client for a server that is not there fails as retryable, keeping the edit.
    let mut dead = Client::new(&format!(
        "http://127.0.0.1:{}",
        shelfmark_tests::free_port()?
    ))?;
    let offline = dead.sign_in("librarian", DEMO_PASSWORD).await;
    assert!(
        offline
            .as_ref()
            .err()
            .is_some_and(ClientError::is_retryable),
        "{offline:?}"
    );
    assert_eq!(cache.lock().expect("cache").sync_counts()?.pending_edits, 1);

    let report = sync(&client, &cache).await?;
    assert_eq!((report.push.pushed, report.push.conflicts), (1, 0));
    let after = cached(&cache, book.id)?;
    assert!(!after.pending);
    assert_eq!(after.record.title, "Edited While Offline");

    // Another desk sees the edit through its own sync.
    let (_other, other_cache) = desk(&server).await?;
    assert_eq!(
        cached(&other_cache, book.id)?.record.title,
        "Edited While Offline"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_edits_of_different_fields_merge_on_their_own() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let (b, b_cache) = desk(&server).await?;
    let book = some_book(&a_cache, 3)?;

    let mut theirs = book.clone();
    theirs.title = "Title Changed Elsewhere".into();
    b_cache.lock().expect("cache").save(&theirs)?;
    assert_eq!(sync(&b, &b_cache).await?.push.pushed, 1);

    let mut mine = book.clone();
    mine.year = Some(1901);
    mine.summary = format!("{}\nA staff addition.", mine.summary);
    a_cache.lock().expect("cache").save(&mine)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!(
        (
            report.push.pushed,
            report.push.merged,
            report.push.conflicts
        ),
        (1, 1, 0)
    );

    sync(&b, &b_cache).await?;
    for cache in [&a_cache, &b_cache] {
        let merged = cached(cache, book.id)?;
        assert!(!merged.pending);
        assert_eq!(merged.record.title, "Title Changed Elsewhere");
        assert_eq!(merged.record.year, Some(1901));
        assert!(merged.record.summary.ends_with("A staff addition."));
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_edits_of_the_same_field_wait_in_the_inbox_until_settled() -> anyhow::Result<()>
{
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let (b, b_cache) = desk(&server).await?;
    let book = some_book(&a_cache, 5)?;

    let mut theirs = book.clone();
    theirs.title = "Their Title".into();
    b_cache.lock().expect("cache").save(&theirs)?;
    sync(&b, &b_cache).await?;

    let mut mine = book.clone();
    mine.title = "My Title".into();
    a_cache.lock().expect("cache").save(&mine)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!((report.push.pushed, report.push.conflicts), (0, 1));

    let inbox = a_cache.lock().expect("cache").conflicts()?;
    assert_eq!(inbox.len(), 1);
    let c = &inbox[0];
    let title = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .and_then(|v| v["title"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(title(&c.base), Some(book.title.clone()));
    assert_eq!(title(&c.mine).as_deref(), Some("My Title"));
    assert_eq!(title(&c.theirs).as_deref(), Some("Their Title"));
    assert!(cached(&a_cache, book.id)?.in_conflict);
    // A sync leaves a conflict alone: nothing is pushed blindly.
    assert_eq!(sync(&a, &a_cache).await?.push.pushed, 0);

    let mut settled = book.clone();
    settled.title = "Our Agreed Title".into();
    a_cache
        .lock()
        .expect("cache")
        .resolve(c.outbox_seq, Some(&serde_json::to_value(&settled)?))?;
    assert_eq!(sync(&a, &a_cache).await?.push.pushed, 1);
    sync(&b, &b_cache).await?;
    assert_eq!(cached(&b_cache, book.id)?.record.title, "Our Agreed Title");
    assert_eq!(a_cache.lock().expect("cache").sync_counts()?.conflicts, 0);
    Ok(())
}

#[tokio::test]
async fn a_create_retried_after_a_lost_answer_makes_no_duplicate() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let mut book = some_book(&a_cache, 0)?;
    book.id = Uuid::now_v7();
    book.isbn = shelfmark_core::isbn::from_body(987_654_321);
    book.title = "Created Offline".into();
    a_cache.lock().expect("cache").save(&book)?;

    // The first push reached the server but its answer was lost: another cache holding the
    // same outbox entry pushes it first.
    let twin = store();
    twin.lock().expect("cache").save(&book)?;
    assert_eq!(sync(&a, &twin).await?.push.pushed, 1);

    let report = sync(&a, &a_cache).await?;
    assert_eq!(
        (
            report.push.pushed,
            report.push.conflicts,
            report.push.failed
        ),
        (1, 0, 0)
    );
    let (_b, b_cache) = desk(&server).await?;
    let found = b_cache
        .lock()
        .expect("cache")
        .list_books("Created Offline", 10)?;
    assert_eq!(found.len(), 1, "exactly one book on the server");
    assert!(!cached(&a_cache, book.id)?.pending);
    Ok(())
}

#[tokio::test]
async fn an_edit_of_a_book_deleted_on_the_server_asks_the_librarian() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let (b, b_cache) = desk(&server).await?;
    let mut book = some_book(&b_cache, 7)?;
    // Copies refer to the book: a new book without copies is deleted instead.
    book.id = Uuid::now_v7();
    book.isbn = shelfmark_core::isbn::from_body(987_000_111);
    b_cache.lock().expect("cache").save(&book)?;
    sync(&b, &b_cache).await?;
    sync(&a, &a_cache).await?;

    b_cache.lock().expect("cache").delete::<Book>(book.id)?;
    assert_eq!(sync(&b, &b_cache).await?.push.pushed, 1);

    let mut mine = cached(&a_cache, book.id)?.record;
    mine.notes = "edited here".into();
    a_cache.lock().expect("cache").save(&mine)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!(report.push.conflicts, 1);
    let inbox = a_cache.lock().expect("cache").conflicts()?;
    assert_eq!(
        (inbox[0].reason.as_str(), inbox[0].theirs.is_none()),
        ("deleted", true)
    );
    Ok(())
}

#[tokio::test]
async fn an_edit_the_server_refuses_is_kept_as_failed_with_its_problem() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let books = {
        let s = a_cache.lock().expect("cache");
        s.list_books("", 2)?
    };
    // Give the second book the first one's ISBN: the server answers 409 duplicate.
    let mut dup = cached(&a_cache, books[1].id)?.record;
    dup.isbn = books[0].isbn.clone();
    a_cache.lock().expect("cache").save(&dup)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!(report.push.conflicts, 1);
    let inbox = a_cache.lock().expect("cache").conflicts()?;
    assert_eq!(inbox[0].reason.as_str(), "duplicate");
    assert_eq!(
        inbox[0].existing_id,
        Some(books[0].id),
        "the book that has the ISBN"
    );
    assert!(
        inbox[0]
            .detail
            .as_deref()
            .is_some_and(|d| !d.contains(&books[0].id.to_string())),
        "a sentence for a person, without the id"
    );
    Ok(())
}

#[tokio::test]
async fn deleting_a_book_that_still_has_copies_is_refused_plainly_and_opens_no_merge()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (client, cache) = desk(&server).await?;
    let listed = cache.lock().expect("cache").list_books("", 50)?;
    let with_copies = listed
        .iter()
        .find(|b| b.copies_total >= 1)
        .context("a book with copies")?;
    let (id, copies) = (with_copies.id, with_copies.copies_total);
    cache.lock().expect("cache").delete::<Book>(id)?;
    let report = sync(&client, &cache).await?;
    assert_eq!(
        (
            report.push.pushed,
            report.push.failed,
            report.push.conflicts
        ),
        (0, 1, 0),
        "refused, not a conflict to merge"
    );
    assert!(cache.lock().expect("cache").conflicts()?.is_empty());
    let outbox = cache.lock().expect("cache").outbox()?;
    let problem = outbox[0].problem.as_ref().context("the refusal")?;
    assert_eq!(problem["type"], "/problems/in-use");
    let (noun, them) = if copies == 1 {
        ("copy", "it")
    } else {
        ("copies", "them")
    };
    assert_eq!(
        problem["detail"],
        format!("This book still has {copies} {noun}: delete {them} first."),
        "{problem}"
    );
    Ok(())
}

/// A patron of the demo library, premium or not, as a desk's cache has it.
fn some_patron(cache: &shelfmark_client::SharedStore, premium: bool) -> anyhow::Result<Patron> {
    let s = cache.lock().expect("cache");
    s.search_patrons("", 500)?
        .into_iter()
        .find(|p| p.premium == premium)
        .context("no such patron")
}

fn hold_for(patron: &Patron, book: Uuid) -> Hold {
    Hold::request(Uuid::now_v7(), patron.id, book)
}

#[tokio::test]
async fn a_hold_placed_offline_gets_a_copy_and_the_same_sync_brings_the_copy_held()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let book = {
        let s = a_cache.lock().expect("cache");
        s.list_books("", 3000)?
            .into_iter()
            .find(|b| b.copies_available >= 1)
            .context("no available book")?
    };
    let hold = hold_for(&some_patron(&a_cache, false)?, book.id);
    a_cache.lock().expect("cache").save(&hold)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!((report.push.pushed, report.push.lost_holds), (1, 0));
    let s = a_cache.lock().expect("cache");
    let won = s.get::<Hold>(hold.id)?.context("hold cached")?;
    assert!(!won.pending);
    let copy = won.record.copy_id.context("the server picked a copy")?;
    // The copy changed on the server as a side effect of the hold: that one sync read it back.
    let copy = s.get::<Copy>(copy)?.context("copy cached")?;
    assert_eq!(
        (copy.record.book_id, copy.record.status),
        (book.id, CopyStatus::Held)
    );
    let listed = s
        .list_books("", 3000)?
        .into_iter()
        .find(|b| b.id == book.id)
        .context("book listed")?;
    assert_eq!(listed.copies_available, book.copies_available - 1);
    Ok(())
}

#[tokio::test]
async fn a_hold_on_a_book_with_every_copy_taken_is_lost_plainly_or_escalated_for_premium()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let taken = {
        let s = a_cache.lock().expect("cache");
        s.list_books("", 3000)?
            .into_iter()
            .find(|b| b.copies_total > 0 && b.copies_available == 0)
            .context("the demo has books with every copy taken")?
    };
    let escalations_before = a_cache
        .lock()
        .expect("cache")
        .count(RecordType::Escalation)?;
    let regular = hold_for(&some_patron(&a_cache, false)?, taken.id);
    let premium = hold_for(&some_patron(&a_cache, true)?, taken.id);
    a_cache.lock().expect("cache").save(&regular)?;
    a_cache.lock().expect("cache").save(&premium)?;
    let report = sync(&a, &a_cache).await?;
    assert_eq!((report.push.pushed, report.push.lost_holds), (0, 2));

    {
        let s = a_cache.lock().expect("cache");
        let plain = s
            .hold_outcome(regular.id)?
            .context("the regular hold is marked lost")?;
        assert_eq!(plain["patron_premium"], false);
        assert!(
            plain
                .get("escalation_id")
                .is_none_or(serde_json::Value::is_null)
        );
        let escalated = s
            .hold_outcome(premium.id)?
            .context("the premium hold is marked lost")?;
        assert_eq!(escalated["patron_premium"], true);
        assert!(
            escalated["escalation_id"]
                .as_str()
                .is_some_and(|id| Uuid::parse_str(id).is_ok())
        );
        assert_eq!(s.sync_counts()?.lost_holds, 2);
        assert!(s.pending_edits()?.is_empty(), "lost holds are not retried");
    }

    // The escalation the server opened reaches the cache with the next sync.
    sync(&a, &a_cache).await?;
    let escalations_after = a_cache
        .lock()
        .expect("cache")
        .count(RecordType::Escalation)?;
    assert_eq!(escalations_after, escalations_before + 1);
    Ok(())
}

/// A desk as the desktop app runs it: the cache, the session, signing in and out.
fn shared_desk(data_dir: &std::path::Path) -> shelfmark_client::desk::Desk {
    let settings = shelfmark_client::desk::Settings {
        server_url: None,
        username: None,
        password: None,
        ca_cert: None,
        sync_interval: std::time::Duration::from_secs(3600),
    };
    shelfmark_client::desk::Desk::new(store(), settings, data_dir.to_owned())
}

async fn desk_sync(desk: &shelfmark_client::desk::Desk) -> anyhow::Result<SyncReport> {
    let client = desk.client().await.context("signed in")?;
    sync(&client, desk.store()).await
}

#[tokio::test]
async fn on_a_shared_desk_an_edit_waits_for_its_author_and_reaches_the_server_under_their_name()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let dir = tempfile::tempdir()?;
    let desk = shared_desk(dir.path());

    // The librarian signs in, syncs, edits a book, and signs out before it is pushed.
    desk.sign_in(&server.url, None, "librarian", DEMO_PASSWORD)
        .await?;
    desk_sync(&desk).await?;
    let mut book = some_book(desk.store(), 3)?;
    book.notes = "Spine repaired by the librarian".into();
    desk.store().lock().expect("cache").save(&book)?;
    desk.sign_out().await;

    // The manager signs in at the same desk and syncs: the librarian's edit is not theirs to
    // see or push.
    desk.sign_in(&server.url, None, "manager", DEMO_PASSWORD)
        .await?;
    let report = desk_sync(&desk).await?;
    assert_eq!(report.push.pushed, 0, "nothing of the manager's to push");
    {
        let cache = desk.store().lock().expect("cache");
        assert!(
            cache.outbox()?.is_empty(),
            "the manager sees no outbox of the librarian's"
        );
        assert_eq!(cache.sync_counts()?.pending_edits, 0);
        let others = cache.other_staff_edits()?;
        assert_eq!(others.len(), 1);
        assert_eq!((others[0].user.as_str(), others[0].edits), ("librarian", 1));
    }
    let manager = desk.client().await.context("signed in")?;
    let history = manager.revisions(RecordType::Book, book.id).await?;
    assert_eq!(
        history.len(),
        1,
        "the server has not seen the edit: {history:?}"
    );
    desk.sign_out().await;

    // The librarian signs in again: the edit goes, under the librarian's name.
    desk.sign_in(&server.url, None, "librarian", DEMO_PASSWORD)
        .await?;
    assert_eq!(
        desk.store().lock().expect("cache").pending_edits()?.len(),
        1
    );
    let report = desk_sync(&desk).await?;
    assert_eq!(report.push.pushed, 1);
    // The manager's session ended when they signed out: the history is read with a new one.
    let mut manager = Client::new(&server.url)?;
    manager.sign_in("manager", DEMO_PASSWORD).await?;
    let history = manager.revisions(RecordType::Book, book.id).await?;
    let last = history.first().context("a revision (newest first)")?;
    assert_eq!(
        last.by.name, "librarian",
        "the server's history names who made the edit"
    );
    assert_eq!(
        last.data.as_ref().and_then(|d| d["notes"].as_str()),
        Some("Spine repaired by the librarian")
    );
    Ok(())
}

#[tokio::test]
async fn a_patron_registered_offline_reaches_the_server_and_a_librarians_premium_change_is_kept_as_failed()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (librarian, cache) = desk(&server).await?;
    let id = Uuid::now_v7();
    let patron = Patron {
        id,
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
        premium: false,
        branch: "Central".into(),
        card: "29990001".into(),
        notes: "Prefers large print".into(),
    };
    cache.lock().expect("cache").save(&patron)?;
    assert_eq!(sync(&librarian, &cache).await?.push.pushed, 1);
    let mut manager = Client::new(&server.url)?;
    manager.sign_in("manager", DEMO_PASSWORD).await?;
    let history = manager.revisions(RecordType::Patron, id).await?;
    let stored = history
        .first()
        .and_then(|r| r.data.clone())
        .context("stored")?;
    assert_eq!(stored["card"].as_str(), Some("29990001"));
    assert_eq!(
        history.first().map(|r| r.by.name.as_str()),
        Some("librarian")
    );

    // A librarian's edit that makes the patron premium is the server's to refuse: it stays,
    // failed with the server's reason, and nothing else is lost.
    let mut premium = patron.clone();
    premium.premium = true;
    cache.lock().expect("cache").save(&premium)?;
    let report = sync(&librarian, &cache).await?;
    assert_eq!((report.push.pushed, report.push.failed), (0, 1));
    let failed = cache.lock().expect("cache").outbox()?;
    assert_eq!(failed.len(), 1);
    let problem = failed[0].problem.as_ref().context("the server's problem")?;
    assert_eq!(problem["status"], 403);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only a manager")),
        "{problem}"
    );
    Ok(())
}

/// A copy on the shelf (available, no hold) of some demo book, as a desk's cache has it.
fn copy_on_the_shelf(cache: &shelfmark_client::SharedStore, nth: usize) -> anyhow::Result<Copy> {
    let s = cache.lock().expect("cache");
    s.list_books("", 200)?
        .iter()
        .filter_map(|b| s.book_detail(b.id).ok().flatten())
        .filter(|d| d.holds.is_empty())
        .flat_map(|d| d.copies)
        .map(|c| c.record)
        .filter(|c| c.status == CopyStatus::Available)
        .nth(nth)
        .context("no copy on the shelf")
}

/// Two regular patrons of the demo library who have a card.
fn two_patrons(cache: &shelfmark_client::SharedStore) -> anyhow::Result<(Patron, Patron)> {
    let s = cache.lock().expect("cache");
    let mut regular = s
        .search_patrons("", 500)?
        .into_iter()
        .filter(|p| !p.premium && !p.card.is_empty());
    Ok((
        regular.next().context("a patron")?,
        regular.next().context("another patron")?,
    ))
}

fn scan(
    cache: &shelfmark_client::SharedStore,
    barcode: &str,
    patron: Option<&Patron>,
) -> anyhow::Result<shelfmark_core::circulation::Outcome> {
    let r = cache
        .lock()
        .expect("cache")
        .scan(barcode, patron.map(|p| p.id))?;
    Ok(r.outcome)
}

/// The copy's loans as another desk, freshly synced, sees them.
async fn loans_seen_elsewhere(
    server: &DemoServer,
    copy: Uuid,
) -> anyhow::Result<(Vec<shelfmark_core::Loan>, CopyStatus)> {
    let (_, cache) = desk(server).await?;
    let s = cache.lock().expect("cache");
    let loans =
        s.find_by::<shelfmark_core::Loan>(shelfmark_store::Lookup::CopyId, &copy.to_string())?;
    let status = s.get::<Copy>(copy)?.context("the copy")?.record.status;
    Ok((loans, status))
}

#[tokio::test]
async fn a_check_out_and_a_check_in_made_offline_reach_the_server_when_it_is_reachable()
-> anyhow::Result<()> {
    use shelfmark_core::LoanStatus;
    use shelfmark_core::circulation::Outcome;
    let server = DemoServer::start()?;
    let (client, cache) = desk(&server).await?;
    let copy = copy_on_the_shelf(&cache, 0)?;
    let (ada, _) = two_patrons(&cache)?;
    // Offline: nothing is pushed until the sync.
    assert_eq!(scan(&cache, &ada.card, None)?, Outcome::PatronSelected);
    assert_eq!(
        scan(&cache, &copy.barcode, Some(&ada))?,
        Outcome::CheckedOut
    );
    let (loans, status) = loans_seen_elsewhere(&server, copy.id).await?;
    assert!(
        loans.is_empty() && status == CopyStatus::Available,
        "not yet pushed"
    );
    let report = sync(&client, &cache).await?;
    assert_eq!((report.push.pushed, report.push.failed), (1, 0));
    let (loans, status) = loans_seen_elsewhere(&server, copy.id).await?;
    assert_eq!(loans.len(), 1);
    assert_eq!(
        (loans[0].patron_id, loans[0].status),
        (ada.id, LoanStatus::OnLoan)
    );
    assert!(loans[0].due_at.is_some(), "the server set the due date");
    assert_eq!(status, CopyStatus::OnLoan);
    // Back, offline again, then pushed.
    assert_eq!(scan(&cache, &copy.barcode, None)?, Outcome::Returned);
    let report = sync(&client, &cache).await?;
    assert_eq!((report.push.pushed, report.push.failed), (1, 0));
    let (loans, status) = loans_seen_elsewhere(&server, copy.id).await?;
    assert_eq!(loans[0].status, LoanStatus::Returned);
    assert!(loans[0].returned_at.is_some());
    assert_eq!(status, CopyStatus::Available);
    Ok(())
}

#[tokio::test]
async fn a_copy_checked_in_and_out_again_at_one_desk_while_another_does_so_offline_ends_failed_with_the_servers_reason()
-> anyhow::Result<()> {
    use shelfmark_core::circulation::Outcome;
    use shelfmark_store::OutboxState;
    let server = DemoServer::start()?;
    let (a, a_cache) = desk(&server).await?;
    let copy = copy_on_the_shelf(&a_cache, 1)?;
    let (ada, bram) = two_patrons(&a_cache)?;
    assert_eq!(
        scan(&a_cache, &copy.barcode, Some(&ada))?,
        Outcome::CheckedOut
    );
    sync(&a, &a_cache).await?;
    // Desk B has seen the loan; then it goes offline.
    let (b, b_cache) = desk(&server).await?;
    // Desk A checks the copy in and out again, to Bram, online.
    assert_eq!(scan(&a_cache, &copy.barcode, None)?, Outcome::Returned);
    assert_eq!(
        scan(&a_cache, &copy.barcode, Some(&bram))?,
        Outcome::CheckedOut
    );
    let report = sync(&a, &a_cache).await?;
    assert_eq!(
        (report.push.pushed, report.push.failed),
        (2, 0),
        "in the order made"
    );
    // Desk B, offline, checks in what it thinks is Ada's loan, and out to Ada again.
    assert_eq!(
        scan(&b_cache, &copy.barcode, Some(&bram))?,
        Outcome::OnLoanToSomeoneElse
    );
    assert_eq!(scan(&b_cache, &copy.barcode, None)?, Outcome::Returned);
    assert_eq!(
        scan(&b_cache, &copy.barcode, Some(&ada))?,
        Outcome::CheckedOut
    );
    let report = sync(&b, &b_cache).await?;
    // The check-in had happened already (done); the check-out cannot be: the copy is Bram's.
    assert_eq!((report.push.pushed, report.push.failed), (1, 1));
    let entries = b_cache.lock().expect("cache").outbox()?;
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.state == OutboxState::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, RecordType::Loan);
    let problem = failed[0].problem.as_ref().context("the server's answer")?;
    assert_eq!(problem["type"], "/problems/copy-unavailable");
    assert_eq!(
        problem["detail"],
        "This copy is on loan: check it in first."
    );
    // Nothing lost: the refused check-out is still there to retry or discard, and the server
    // has Bram's loan.
    assert_eq!(
        failed[0].body.as_ref().map(|b| b["patron_id"].clone()),
        Some(serde_json::json!(ada.id))
    );
    let (loans, status) = loans_seen_elsewhere(&server, copy.id).await?;
    let open: Vec<_> = loans
        .iter()
        .filter(|l| l.status == shelfmark_core::LoanStatus::OnLoan)
        .collect();
    assert_eq!((open.len(), open[0].patron_id), (1, bram.id));
    assert_eq!(status, CopyStatus::OnLoan);
    Ok(())
}
