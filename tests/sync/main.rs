//! The sync path across crates, with no window: the real server on loopback, the sync engine
//! (`shelfmark-client`) and the offline cache (`shelfmark-store`) together.

use std::sync::{Arc, Mutex};

use shelfmark_client::{Client, ClientError, SyncEvent};
use shelfmark_store::Store;
use shelfmark_tests::{DEMO_PASSWORD, DemoServer};

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
