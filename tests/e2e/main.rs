//! End-to-end tests: the real server, the real desktop app in a real window (under Xvfb),
//! driven over WebDriver. Ignored by a plain `cargo test` because they need Xvfb, tauri-driver
//! and the built binaries; `make test` provides all three and runs them with `--ignored`.

use std::time::Duration;

use fantoccini::Locator;
use shelfmark_tests::{DemoServer, Desktop, NotificationWatch, Xvfb};

mod desk;
mod escalations;
mod history;
mod installed;
mod marc;

/// The titles in the catalogue's rows, read in one go (the list re-renders as syncs land, so
/// element handles can go stale between two WebDriver calls).
async fn row_titles(app: &Desktop) -> anyhow::Result<Vec<String>> {
    texts_of(app, "[data-testid=book-row] > .title").await
}

/// The text of every element `css` finds, read in one call (no element is held across a
/// re-render).
async fn texts_of(app: &Desktop, css: &str) -> anyhow::Result<Vec<String>> {
    let texts = app
        .client
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(r => r.textContent)",
            vec![serde_json::json!(css)],
        )
        .await?;
    Ok(serde_json::from_value(texts)?)
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a WebDriver error says the element went away (the window re-rendered it, as a
/// sync's refresh does, between finding it and using it).
fn gone(e: &anyhow::Error) -> bool {
    let text = e.to_string();
    text.contains("was not found") || text.contains("stale element")
}

/// Runs `step` until it says it is done, and again when the window re-rendered an element it
/// was using (within 10 s).
async fn retry_gone<F, Fut>(what: &str, mut step: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    eventually(Duration::from_secs(10), what, || {
        let attempt = step();
        async move {
            match attempt.await {
                Ok(true) => Ok(Some(())),
                Ok(false) => Ok(None),
                Err(e) if gone(&e) => Ok(None),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// Clicks the first element `css` finds whose text starts with `starts` (any, without it).
async fn click_first(app: &Desktop, css: &str, starts: Option<&str>) -> anyhow::Result<()> {
    retry_gone(css, || async {
        for e in app.client.find_all(Locator::Css(css)).await? {
            if let Some(starts) = starts
                && !e.text().await?.starts_with(starts)
            {
                continue;
            }
            e.click().await?;
            return Ok(true);
        }
        Ok(false)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn catalogue_shows_the_demo_books_synced_from_the_server() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("demo-books", &server, &xvfb, "librarian").await?;
    let result = async {
        assert_eq!(app.client.title().await?, "Shelfmark");

        // The first sync brings the demo library into the cache; the status bar says when.
        eventually(
            Duration::from_secs(60),
            "the first sync to finish",
            || async {
                let text = app
                    .client
                    .execute(
                        "const c = document.querySelector('[data-testid=status-connection]');\
                     const s = document.querySelector('[data-testid=status-last-sync]');\
                     return c && s ? c.textContent.trim() + '|' + s.textContent : ''",
                        vec![],
                    )
                    .await?;
                let text = text.as_str().unwrap_or_default().to_owned();
                Ok(text.starts_with("Online|last sync").then_some(()))
            },
        )
        .await?;
        let signed_in = app
            .client
            .find(Locator::Css("[data-testid=signed-in-user]"))
            .await?;
        assert_eq!(signed_in.text().await?, "Signed in as librarian");
        let titles = eventually(Duration::from_secs(30), "the demo books", || async {
            let titles = row_titles(&app).await?;
            Ok((titles.len() >= 20).then_some(titles))
        })
        .await?;
        let mut sorted = titles.clone();
        sorted.sort_by_key(|t| t.to_lowercase());
        assert_eq!(titles, sorted, "the catalogue is listed by title");
        let cells = app
            .client
            .execute(
                "return [...document.querySelector('[data-testid=book-row]').children]\
                 .map(e => e.textContent.trim())",
                vec![],
            )
            .await?;
        let cells: Vec<String> = serde_json::from_value(cells)?;
        assert_eq!(
            cells.len(),
            5,
            "title, authors, year, ISBN, copies: {cells:?}"
        );
        assert!(
            cells[3].len() == 13 && cells[3].starts_with("978"),
            "the ISBN tells books of the same title apart: {cells:?}"
        );
        assert!(cells[4].contains("available"), "{cells:?}");
        let count = app
            .client
            .find(Locator::Css("[data-testid=catalogue-count]"))
            .await?;
        let count = count.text().await?;
        let total: usize = count.trim_end_matches(" books").parse()?;
        assert!(
            total >= 2000,
            "the count names the whole demo library: {count}"
        );
        assert!(
            titles.len() < 200,
            "the list renders a window, not {} rows",
            titles.len()
        );
        app.screenshot("catalogue-list").await?;

        // Search-as-you-type narrows the list to the books whose title has the word.
        let word = titles
            .iter()
            .flat_map(|t| t.split_whitespace())
            .find(|w| w.len() >= 6 && w.chars().all(char::is_alphabetic))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no searchable word in the demo titles"))?;
        app.client
            .find(Locator::Css("[data-testid=catalogue-search]"))
            .await?
            .send_keys(&word)
            .await?;
        let found = eventually(Duration::from_secs(10), "the search results", || async {
            let count = app
                .client
                .find(Locator::Css("[data-testid=catalogue-count]"))
                .await?;
            let matching: usize = count
                .text()
                .await?
                .split(' ')
                .next()
                .unwrap_or("")
                .parse()
                .unwrap_or(0);
            if matching == 0 || matching >= total {
                return Ok(None);
            }
            let found = row_titles(&app).await?;
            Ok((found.len() == matching.min(found.len()) && !found.is_empty()).then_some(found))
        })
        .await?;
        let lower = word.to_lowercase();
        assert!(
            found.iter().any(|t| t.to_lowercase().contains(&lower)),
            "a result names {word:?}: {found:?}"
        );
        app.screenshot("catalogue-search-results").await?;

        let errors = app
            .client
            .execute("return window.__shelfmarkErrors ?? null", vec![])
            .await?;
        assert_eq!(errors, serde_json::json!([]), "the window logged errors");
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn an_unreachable_server_shows_offline_with_the_reason() -> anyhow::Result<()> {
    let xvfb = Xvfb::start()?;
    // A port nobody listens on: bound, then released.
    let url = format!("http://127.0.0.1:{}", shelfmark_tests::free_port()?);
    let app = Desktop::launch_with(
        "unreachable-server",
        &xvfb,
        &[
            ("SHELFMARK_SERVER_URL", url.as_str()),
            ("SHELFMARK_USERNAME", "librarian"),
            ("SHELFMARK_PASSWORD", "whatever"),
        ],
    )
    .await?;
    let result = async {
        let status = eventually(Duration::from_secs(30), "the offline status", || async {
            let el = app
                .client
                .find(Locator::Css("[data-testid=status-connection]"))
                .await;
            Ok(match el {
                Ok(el) => Some(el.text().await?).filter(|t| t == "Offline"),
                Err(_) => None,
            })
        })
        .await?;
        assert_eq!(status, "Offline");
        let error = app.client.find(Locator::Css(".status-bar .error")).await?;
        let error = error.attr("title").await?.unwrap_or_default();
        assert!(error.contains("cannot reach the server"), "{error}");
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=catalogue-empty]"))
            .await?;
        app.screenshot("offline-status").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// Waits until the window says it is online: signed in and synced once.
async fn online(app: &Desktop) -> anyhow::Result<()> {
    wait_text(
        app,
        "[data-testid=status-connection]",
        "the first sync",
        |t| t == "Online",
    )
    .await
    .map(drop)
}

/// After the first sync, opens the first book of the list; returns its title.
async fn open_first_book(app: &Desktop) -> anyhow::Result<String> {
    online(app).await?;
    let row = eventually(Duration::from_secs(30), "a book row", || async {
        Ok(app
            .client
            .find(Locator::Css("[data-testid=book-row]"))
            .await
            .ok())
    })
    .await?;
    row.click().await?;
    wait_text(app, "[data-testid=book-title]", "the book view", |t| {
        !t.is_empty()
    })
    .await
}

/// Waits until the catalogue lists the demo library's books (2,000 and more): the first sync
/// after a sign-in is in.
async fn synced_catalogue(app: &Desktop) -> anyhow::Result<()> {
    wait_text(
        app,
        "[data-testid=catalogue-count]",
        "the synced catalogue",
        |t| {
            t.split(' ')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= 2000)
        },
    )
    .await
    .map(drop)
}

/// Text of the first element matching `css`, or None when there is none yet.
async fn text_of(app: &Desktop, css: &str) -> anyhow::Result<Option<String>> {
    let text = app
        .client
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null",
            vec![serde_json::json!(css)],
        )
        .await?;
    Ok(text.as_str().map(str::to_owned))
}

/// Waits until the first element matching `css` has text satisfying `want`.
async fn wait_text(
    app: &Desktop,
    css: &str,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    eventually(Duration::from_secs(30), what, || async {
        Ok(text_of(app, css).await?.filter(|t| want(t)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn signing_in_from_the_window_refuses_a_wrong_password_then_syncs() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch_with("sign-in", &xvfb, &[]).await?;
    let result = async {
        let form = app
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("[data-testid=sign-in-form]"))
            .await?;
        form.find(Locator::Css("[data-testid=sign-in-server]"))
            .await?
            .send_keys(&server.url)
            .await?;
        form.find(Locator::Css("[data-testid=sign-in-user]"))
            .await?
            .send_keys("librarian")
            .await?;
        let password = form
            .find(Locator::Css("[data-testid=sign-in-password]"))
            .await?;
        password.send_keys("not-the-password").await?;
        form.find(Locator::Css("[data-testid=sign-in-submit]"))
            .await?
            .click()
            .await?;
        let error = wait_text(
            &app,
            "[data-testid=sign-in-error]",
            "the sign-in error",
            |t| !t.is_empty(),
        )
        .await?;
        assert_eq!(error, "Wrong user name or password.");
        app.screenshot("sign-in-wrong-password").await?;

        password.clear().await?;
        password.send_keys(shelfmark_tests::DEMO_PASSWORD).await?;
        form.find(Locator::Css("[data-testid=sign-in-submit]"))
            .await?
            .click()
            .await?;
        synced_catalogue(&app).await?;
        let user = wait_text(&app, "[data-testid=signed-in-user]", "the user", |t| {
            !t.is_empty()
        })
        .await?;
        assert_eq!(user, "Signed in as librarian");
        app.screenshot("catalogue-after-sign-in").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_book_edited_in_the_window_shows_pending_then_reaches_the_server() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("book-edit", &server, &xvfb, "librarian").await?;
    let result = async {
        let old_title = open_first_book(&app).await?;
        app.screenshot("book-view").await?;
        app.client
            .find(Locator::Css("[data-testid=edit-book]"))
            .await?
            .click()
            .await?;
        let form = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=book-form]"))
            .await?;
        let title = form.find(Locator::Css("input[name=title]")).await?;
        title.clear().await?;
        let new_title = format!("{old_title} (revised)");
        title.send_keys(&new_title).await?;
        // A wrong check digit is refused in the form, before anything is queued.
        let isbn = form.find(Locator::Css("input[name=isbn]")).await?;
        let good_isbn = isbn.prop("value").await?.unwrap_or_default();
        let last = good_isbn
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .unwrap_or(0);
        isbn.clear().await?;
        isbn.send_keys(&format!(
            "{}{}",
            &good_isbn[..good_isbn.len() - 1],
            (last + 1) % 10
        ))
        .await?;
        form.find(Locator::Css("[data-testid=book-form-save]"))
            .await?
            .click()
            .await?;
        let error = wait_text(&app, "[data-testid=error-isbn]", "the ISBN error", |t| {
            !t.is_empty()
        })
        .await?;
        assert!(error.contains("check digit"), "{error}");
        app.screenshot("book-form-isbn-error").await?;
        isbn.clear().await?;
        isbn.send_keys(&good_isbn).await?;
        form.find(Locator::Css("[data-testid=book-form-save]"))
            .await?
            .click()
            .await?;

        // Shown at once with the edit, then synced: the pending mark goes away.
        wait_text(&app, "[data-testid=book-title]", "the edited title", |t| {
            t == new_title
        })
        .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;
        app.screenshot("book-edited-and-synced").await?;

        // The server has it: another desk syncing from scratch sees the new title.
        let mut client = shelfmark_client::Client::new(&server.url)?;
        client
            .sign_in("librarian", shelfmark_tests::DEMO_PASSWORD)
            .await?;
        let cache = std::sync::Arc::new(std::sync::Mutex::new(
            shelfmark_store::Store::open_in_memory()?,
        ));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        client.sync(&cache, &tx).await?;
        let found = cache
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .list_books(&new_title, 5)?;
        assert!(found.iter().any(|b| b.title == new_title), "{found:?}");
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_conflicting_edit_is_settled_on_the_merge_screen_and_reaches_the_server()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let notifications = NotificationWatch::start()?;
    let app = Desktop::launch_watched("merge", &server, &xvfb, "librarian", &notifications).await?;
    let result = async {
        let title = open_first_book(&app).await?;

        // Someone at another desk retitles the book first.
        let mut other = shelfmark_client::Client::new(&server.url)?;
        other
            .sign_in("librarian", shelfmark_tests::DEMO_PASSWORD)
            .await?;
        let cache = std::sync::Arc::new(std::sync::Mutex::new(
            shelfmark_store::Store::open_in_memory()?,
        ));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        other.sync(&cache, &tx).await?;
        let theirs_title = format!("{title} (their edition)");
        {
            let store = cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let found = store.list_books(&title, 50)?;
            let id = found
                .iter()
                .find(|b| b.title == title)
                .map(|b| b.id)
                .ok_or_else(|| anyhow::anyhow!("book not found"))?;
            let mut book = store
                .get::<shelfmark_core::Book>(id)?
                .ok_or_else(|| anyhow::anyhow!("not cached"))?
                .record;
            drop(store);
            book.title = theirs_title.clone();
            cache
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .save(&book)?;
        }
        other.sync(&cache, &tx).await?;

        // The librarian retitles it too, here: the push meets a 409 on the same field.
        retitle(&app, &format!("{title} (my edition)")).await?;
        wait_text(
            &app,
            "[data-testid=conflicts-badge]",
            "the conflict badge",
            |t| t == "1",
        )
        .await?;
        // The desktop is asked to say so, once.
        let shown = notifications.shown(Duration::from_secs(20)).await?;
        assert_eq!(
            shown,
            [(
                "An edit needs you".to_owned(),
                "Someone else changed the same record: open Conflicts to merge it.".to_owned()
            )]
        );

        app.client
            .find(Locator::Css("[data-testid=nav-conflicts]"))
            .await?
            .click()
            .await?;
        let entry = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=conflict-entry] button"))
            .await?;
        app.screenshot("conflict-inbox").await?;
        entry.click().await?;
        let counter = wait_text(
            &app,
            "[data-testid=merge-counter]",
            "the merge screen",
            |t| !t.is_empty(),
        )
        .await?;
        assert_eq!(counter, "1 of 1 conflicts left");
        app.screenshot("merge-screen-title-conflict").await?;
        app.client
            .find(Locator::Css("[data-testid=take-theirs]"))
            .await?
            .click()
            .await?;
        wait_text(
            &app,
            "[data-testid=merge-counter]",
            "the settled merge",
            |t| t == "No conflict left",
        )
        .await?;
        app.screenshot("merge-screen-settled").await?;
        app.client
            .find(Locator::Css("[data-testid=merge-save]"))
            .await?
            .click()
            .await?;
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=conflicts-empty]"))
            .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;

        // The server has the settled title, and the other desk sees it.
        other.sync(&cache, &tx).await?;
        let found = cache
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .list_books(&title, 50)?;
        assert!(
            found.iter().any(|b| b.title == theirs_title && !b.pending),
            "{found:?}"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// Opens the first entry of the conflict inbox on the merge screen; its counter.
async fn open_merge(app: &Desktop) -> anyhow::Result<String> {
    click_first(app, "[data-testid=nav-conflicts]", None).await?;
    click_first(app, "[data-testid=conflict-entry] button", None).await?;
    wait_text(
        app,
        "[data-testid=merge-counter]",
        "the merge screen",
        |t| !t.is_empty(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_merge_s_choices_survive_a_restart_of_the_app() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("merge-restart", &server, &xvfb, "librarian").await?;
    let (other, cache) = other_desk(&server).await?;
    let title = open_first_book(&app).await?;
    let theirs_title = format!("{title} (their edition)");
    {
        let mut s = locked(&cache)?;
        let id = s
            .list_books(&title, 50)?
            .iter()
            .find(|b| b.title == title)
            .map(|b| b.id)
            .ok_or_else(|| anyhow::anyhow!("book not found"))?;
        let mut book = s
            .get::<shelfmark_core::Book>(id)?
            .ok_or_else(|| anyhow::anyhow!("not cached"))?
            .record;
        book.title = theirs_title.clone();
        s.save(&book)?;
    }
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    other.sync(&cache, &tx).await?;
    let result = async {
        retitle(&app, &format!("{title} (my edition)")).await?;
        wait_text(&app, "[data-testid=conflicts-badge]", "the conflict", |t| {
            t == "1"
        })
        .await?;
        assert_eq!(open_merge(&app).await?, "1 of 1 conflicts left");
        click_first(&app, "[data-testid=take-theirs]", None).await?;
        wait_text(&app, "[data-testid=merge-counter]", "the choice", |t| {
            t == "No conflict left"
        })
        .await?;
        anyhow::Ok(())
    }
    .await;
    // Closed before saving the merge, and started again on the same cache.
    let data = app.close_keeping_data().await?;
    result?;
    let app = Desktop::relaunch("merge-restart", &server, &xvfb, "librarian", data).await?;
    let result = async {
        online(&app).await?;
        assert_eq!(
            open_merge(&app).await?,
            "No conflict left",
            "the choice was kept"
        );
        app.screenshot("choices-kept").await?;
        click_first(&app, "[data-testid=merge-save]", None).await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;
        other.sync(&cache, &tx).await?;
        let found = locked(&cache)?.list_books(&theirs_title, 50)?;
        anyhow::ensure!(
            found.iter().any(|b| b.title == theirs_title && !b.pending),
            "{found:?}"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// Another librarian's desk in the test: a signed-in client with its own synced cache.
async fn other_desk(
    server: &DemoServer,
) -> anyhow::Result<(shelfmark_client::Client, shelfmark_client::SharedStore)> {
    let mut client = shelfmark_client::Client::new(&server.url)?;
    client
        .sign_in("librarian", shelfmark_tests::DEMO_PASSWORD)
        .await?;
    let cache = std::sync::Arc::new(std::sync::Mutex::new(
        shelfmark_store::Store::open_in_memory()?,
    ));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    client.sync(&cache, &tx).await?;
    Ok((client, cache))
}

fn locked(
    cache: &shelfmark_client::SharedStore,
) -> anyhow::Result<std::sync::MutexGuard<'_, shelfmark_store::Store>> {
    cache.lock().map_err(|_| anyhow::anyhow!("cache poisoned"))
}

/// Searches the catalogue for `title` and opens the book of that exact title.
async fn open_book(app: &Desktop, title: &str) -> anyhow::Result<()> {
    let search = app
        .client
        .find(Locator::Css("[data-testid=catalogue-search]"))
        .await?;
    search.clear().await?;
    search.send_keys(title).await?;
    // Found and clicked in one script: the list re-renders as results arrive.
    eventually(Duration::from_secs(20), "the book in the list", || async {
        let clicked = app
            .client
            .execute(
                "const row = [...document.querySelectorAll('[data-testid=book-row]')]\
                   .find(r => r.querySelector('.title').firstChild.textContent.trim() === arguments[0]);\
                 if (row) row.click();\
                 return row ? true : document.querySelector('[data-testid=catalogue-count]').textContent",
                vec![serde_json::json!(title)],
            )
            .await?;
        Ok((clicked == serde_json::json!(true)).then_some(()))
    })
    .await?;
    wait_text(app, "[data-testid=book-title]", "the book view", |t| {
        t == title
    })
    .await?;
    Ok(())
}

/// Retitles the open book through its form, as the librarian would: Edit, the new title, Save.
async fn retitle(app: &Desktop, title: &str) -> anyhow::Result<()> {
    click_first(app, "[data-testid=edit-book]", None).await?;
    let form = app
        .client
        .wait()
        .for_element(Locator::Css("[data-testid=book-form]"))
        .await?;
    let input = form.find(Locator::Css("input[name=title]")).await?;
    input.clear().await?;
    input.send_keys(title).await?;
    form.find(Locator::Css("[data-testid=book-form-save]"))
        .await?
        .click()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_book_edited_while_the_server_is_down_is_pending_then_synced_when_it_returns()
-> anyhow::Result<()> {
    let mut server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("offline-edit", &server, &xvfb, "librarian").await?;
    let result = async {
        let title = open_first_book(&app).await?;

        server.stop();
        let edited = format!("{title} (edited offline)");
        retitle(&app, &edited).await?;
        wait_text(
            &app,
            "[data-testid=book-title]",
            "the edit shown at once",
            |t| t == edited,
        )
        .await?;
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=book-pending]"))
            .await?;
        wait_text(
            &app,
            "[data-testid=status-connection]",
            "the offline status",
            |t| t == "Offline",
        )
        .await?;
        wait_text(
            &app,
            "[data-testid=status-pending]",
            "the pending count",
            |t| t == "1 pending",
        )
        .await?;
        app.screenshot("book-pending-while-offline").await?;

        server.restart()?;
        app.client
            .find(Locator::Css(".status-bar button"))
            .await?
            .click()
            .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;
        wait_text(
            &app,
            "[data-testid=status-connection]",
            "the online status",
            |t| t == "Online",
        )
        .await?;
        eventually(
            Duration::from_secs(10),
            "the pending mark to go",
            || async {
                Ok(app
                    .client
                    .find(Locator::Css("[data-testid=book-pending]"))
                    .await
                    .is_err()
                    .then_some(()))
            },
        )
        .await?;
        app.screenshot("book-synced-after-restart").await?;

        let (_c, cache) = other_desk(&server).await?;
        let found = locked(&cache)?.list_books(&edited, 10)?;
        assert!(
            found.iter().any(|b| b.title == edited),
            "the server holds the edit: {found:?}"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_title_that_looks_like_html_is_shown_as_text() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (other, cache) = other_desk(&server).await?;
    let evil = "<img src=x onerror=alert(1)> Harmless Title";
    let mut book = {
        let s = locked(&cache)?;
        let id = s
            .list_books("", 1)?
            .first()
            .map(|b| b.id)
            .ok_or_else(|| anyhow::anyhow!("no book"))?;
        s.get::<shelfmark_core::Book>(id)?
            .ok_or_else(|| anyhow::anyhow!("not cached"))?
            .record
    };
    book.id = uuid::Uuid::now_v7();
    book.isbn = shelfmark_core::isbn::from_body(555_000_111);
    book.title = evil.into();
    locked(&cache)?.save(&book)?;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    assert_eq!(other.sync(&cache, &tx).await?.push.pushed, 1);

    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("xss-title", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        open_book(&app, evil).await?;
        let images = app
            .client
            .execute("return document.querySelectorAll('img').length", vec![])
            .await?;
        assert_eq!(
            images,
            serde_json::json!(0),
            "no element was made from the title"
        );
        let alerted = app
            .client
            .execute("return window.__shelfmarkErrors", vec![])
            .await?;
        assert_eq!(alerted, serde_json::json!([]));
        app.screenshot("html-title-as-text").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_hold_placed_in_the_window_shows_each_of_its_three_outcomes() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (_other, cache) = other_desk(&server).await?;
    let (available, taken, regular, premium) = {
        let s = locked(&cache)?;
        let books = s.list_books("", 5000)?;
        let available = books
            .iter()
            .find(|b| b.copies_available >= 1)
            .map(|b| b.title.clone());
        let taken = books
            .iter()
            .find(|b| b.copies_total > 0 && b.copies_available == 0)
            .map(|b| b.title.clone());
        let patrons = s.search_patrons("", 500)?;
        let regular = patrons.iter().find(|p| !p.premium).map(|p| p.name.clone());
        let premium = patrons.iter().find(|p| p.premium).map(|p| p.name.clone());
        (available, taken, regular, premium)
    };
    let missing = || anyhow::anyhow!("the demo library lacks what this test needs");
    let (available, taken) = (available.ok_or_else(missing)?, taken.ok_or_else(missing)?);
    let (regular, premium) = (regular.ok_or_else(missing)?, premium.ok_or_else(missing)?);

    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("holds", &server, &xvfb, "librarian").await?;
    let place = |patron: String| {
        let app = &app;
        async move {
            click_first(app, "[data-testid=place-hold]", None).await?;
            retry_gone("the patron search", || async {
                let search = app
                    .client
                    .wait()
                    .for_element(Locator::Css(
                        "[data-testid=hold-dialog] [data-testid=patron-search]",
                    ))
                    .await?;
                search.clear().await?;
                search.send_keys(&patron).await?;
                Ok(true)
            })
            .await?;
            click_first(app, "[data-testid=patron-option]", Some(&patron)).await?;
            app.screenshot("hold-dialog").await?;
            click_first(app, "[data-testid=hold-place]", None).await?;
            anyhow::Ok(())
        }
    };
    let outcome_of = |patron: String| {
        let app = &app;
        async move {
            eventually(Duration::from_secs(30), "the hold's outcome", || async {
                Ok(texts_of(app, "[data-testid=hold-row]")
                    .await?
                    .into_iter()
                    .find(|r| r.contains(&patron) && !r.contains("Waiting to reach")))
            })
            .await
        }
    };
    let result = async {
        online(&app).await?;
        open_book(&app, &available).await?;
        place(regular.clone()).await?;
        let won = outcome_of(regular.clone()).await?;
        assert!(won.contains("Copy ") && won.contains(" at "), "won: {won}");
        app.screenshot("hold-won").await?;
        // The copy the server gave the hold shows as held after the same sync (well before the
        // next background sync, 30 s later), not "Available" beside a won hold.
        let barcode = won
            .split("Copy ")
            .nth(1)
            .and_then(|rest| rest.split(" at ").next())
            .ok_or_else(|| anyhow::anyhow!("no copy in {won:?}"))?
            .to_owned();
        eventually(Duration::from_secs(5), "the held copy", || async {
            Ok(texts_of(&app, "[data-testid=copy-row]")
                .await?
                .into_iter()
                .find(|r| r.contains(&barcode) && r.contains("Held")))
        })
        .await?;
        app.screenshot("hold-placed-copy-updated-at-once").await?;

        open_book(&app, &taken).await?;
        place(regular.clone()).await?;
        let lost = outcome_of(regular.clone()).await?;
        assert!(
            lost.contains("Not available: all copies are taken."),
            "lost: {lost}"
        );
        app.screenshot("hold-lost").await?;

        place(premium.clone()).await?;
        let escalated = outcome_of(premium.clone()).await?;
        assert!(
            escalated.contains("the manager has been told"),
            "premium: {escalated}"
        );
        app.screenshot("hold-escalated").await?;

        // The outbox names both lost holds by patron and book, apart from the edits waiting,
        // and shows no id anywhere.
        app.client
            .find(Locator::Css("[data-testid=nav-outbox]"))
            .await?
            .click()
            .await?;
        let lost = eventually(Duration::from_secs(10), "the lost holds", || async {
            let rows = texts_of(&app, "[data-testid=lost-hold]").await?;
            Ok((rows.len() == 2).then_some(rows))
        })
        .await?;
        for patron in [&regular, &premium] {
            let want = format!("Hold for {patron} on “{taken}”");
            assert!(lost.iter().any(|r| r.contains(&want)), "{want} in {lost:?}");
        }
        let page = text_of(&app, "main").await?.unwrap_or_default();
        assert!(!looks_like_an_id(&page), "an id on the outbox: {page}");
        app.screenshot("outbox-names-not-ids").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// Whether `text` holds a UUID (8-4-4-4-12 hex digits), which a person should never read.
fn looks_like_an_id(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|word| {
            let parts: Vec<usize> = word.split('-').map(str::len).collect();
            parts == [8, 4, 4, 4, 12]
        })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_second_user_at_a_shared_desk_sees_none_of_the_first_users_edits() -> anyhow::Result<()> {
    let mut server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("shared-desk", &server, &xvfb, "librarian").await?;
    let result = async {
        let title = open_first_book(&app).await?;
        // The librarian edits a book while the server is down: it waits in the outbox.
        server.stop();
        let edited = format!("{title} (the librarian's edit)");
        retitle(&app, &edited).await?;
        wait_text(
            &app,
            "[data-testid=status-pending]",
            "the pending edit",
            |t| t == "1 pending",
        )
        .await?;

        // Signing out is a sign-out: the sign-in screen, and nothing else to do.
        click_first(&app, "[data-testid=sign-out]", None).await?;
        click_first(&app, "[data-testid=confirm-yes]", None).await?;
        let form = app
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("[data-testid=sign-in-form]"))
            .await?;
        for css in ["[data-testid=new-book]", "[data-testid=nav-outbox]"] {
            assert!(
                app.client.find(Locator::Css(css)).await.is_err(),
                "{css} is offered while signed out"
            );
        }

        // The manager signs in at the same desk.
        server.restart()?;
        let field = form
            .find(Locator::Css("[data-testid=sign-in-server]"))
            .await?;
        field.clear().await?;
        field.send_keys(&server.url).await?;
        form.find(Locator::Css("[data-testid=sign-in-user]"))
            .await?
            .send_keys("manager")
            .await?;
        form.find(Locator::Css("[data-testid=sign-in-password]"))
            .await?
            .send_keys(shelfmark_tests::DEMO_PASSWORD)
            .await?;
        click_first(&app, "[data-testid=sign-in-submit]", None).await?;
        wait_text(&app, "[data-testid=signed-in-user]", "the manager", |t| {
            t == "Signed in as manager"
        })
        .await?;
        wait_text(
            &app,
            "[data-testid=status-connection]",
            "the manager's sync",
            |t| t == "Online",
        )
        .await?;
        wait_text(
            &app,
            "[data-testid=status-pending]",
            "the manager's count",
            |t| t == "0 pending",
        )
        .await?;
        click_first(&app, "[data-testid=nav-outbox]", None).await?;
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=outbox-empty]"))
            .await?;
        let others = wait_text(
            &app,
            "[data-testid=other-staff]",
            "the librarian's edits",
            |t| !t.is_empty(),
        )
        .await?;
        assert!(others.contains("librarian: 1 edit waiting"), "{others}");
        app.screenshot("shared-desk-second-user").await?;

        // The server never saw the librarian's edit under the manager's name.
        let (_c, cache) = other_desk(&server).await?;
        let found = locked(&cache)?.list_books(&edited, 10)?;
        assert!(
            !found.iter().any(|b| b.title == edited),
            "pushed with the manager's session: {found:?}"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_new_copy_with_a_barcode_another_copy_has_is_refused_in_its_form() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("copy-barcode", &server, &xvfb, "librarian").await?;
    let result = async {
        open_first_book(&app).await?;
        let taken = eventually(Duration::from_secs(10), "a copy's barcode", || async {
            Ok(app
                .client
                .execute(
                    "const c = document.querySelector('[data-testid=copy-row] td');                     return c ? c.firstChild.textContent.trim() : null",
                    vec![],
                )
                .await?
                .as_str()
                .map(str::to_owned))
        })
        .await?;
        click_first(&app, "[data-testid=add-copy]", None).await?;
        let form = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=copy-form]"))
            .await?;
        form.find(Locator::Css("input[name=barcode]"))
            .await?
            .send_keys(&taken)
            .await?;
        let branches = eventually(Duration::from_secs(10), "the branch list", || async {
            let n = app
                .client
                .execute(
                    "const b = document.querySelector('[data-testid=copy-branch]');\
                     return b && b.tagName === 'SELECT' ? b.options.length : null",
                    vec![],
                )
                .await?;
            Ok(n.as_u64())
        })
        .await;
        if branches.is_err() {
            app.screenshot("copy-form-without-branches").await?;
        }
        assert!(branches? >= 2, "the branch is picked from the library's");
        click_first(&app, "[data-testid=copy-form-save]", None).await?;
        let error = wait_text(&app, "[data-testid=error-barcode]", "the refusal", |t| {
            !t.is_empty()
        })
        .await?;
        assert!(
            error.starts_with(&format!("copy {taken} of “")) && error.ends_with("already has this barcode"),
            "{error}"
        );
        app.screenshot("copy-duplicate-barcode-refused").await?;
        let pending = text_of(&app, "[data-testid=status-pending]").await?;
        assert_eq!(pending.as_deref(), Some("0 pending"), "nothing queued");
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// Presses `key` on the keyboard, as a person would (WebDriver key actions).
async fn press(app: &Desktop, key: char) -> anyhow::Result<()> {
    use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    app.client.perform_actions(actions).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn two_conflicts_are_settled_by_keyboard_and_mouse_while_other_fields_merge_alone()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("merge-two", &server, &xvfb, "librarian").await?;
    let result = async {
        let title = open_first_book(&app).await?;

        // The other desk changes the title, the year and the subjects.
        let (other, cache) = other_desk(&server).await?;
        let mut theirs = {
            let s = locked(&cache)?;
            let id = s
                .list_books(&title, 50)?
                .into_iter()
                .find(|b| b.title == title)
                .map(|b| b.id);
            let id = id.ok_or_else(|| anyhow::anyhow!("book not found"))?;
            s.get::<shelfmark_core::Book>(id)?
                .ok_or_else(|| anyhow::anyhow!("not cached"))?
                .record
        };
        theirs.title = format!("{title} (theirs)");
        theirs.year = Some(1901);
        theirs.subjects = vec!["Their Subject".into()];
        locked(&cache)?.save(&theirs)?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        other.sync(&cache, &tx).await?;

        // Here: the title and the year too (conflicts), and the publisher (merges alone).
        app.client
            .find(Locator::Css("[data-testid=edit-book]"))
            .await?
            .click()
            .await?;
        let form = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=book-form]"))
            .await?;
        for (name, value) in [
            ("title", format!("{title} (mine)")),
            ("year", "1888".into()),
            ("publisher", "My Press".into()),
        ] {
            let input = form
                .find(Locator::Css(&format!("input[name={name}]")))
                .await?;
            input.clear().await?;
            input.send_keys(&value).await?;
        }
        form.find(Locator::Css("[data-testid=book-form-save]"))
            .await?
            .click()
            .await?;
        wait_text(
            &app,
            "[data-testid=conflicts-badge]",
            "the conflict badge",
            |t| t == "1",
        )
        .await?;
        app.client
            .find(Locator::Css("[data-testid=nav-conflicts]"))
            .await?
            .click()
            .await?;
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=conflict-entry] button"))
            .await?
            .click()
            .await?;
        wait_text(
            &app,
            "[data-testid=merge-counter]",
            "the merge screen",
            |t| t == "2 of 2 conflicts left",
        )
        .await?;
        app.screenshot("merge-screen-two-conflicts").await?;

        // The keyboard takes mine for the focused conflict (the title)...
        press(&app, '1').await?;
        wait_text(&app, "[data-testid=merge-counter]", "one settled", |t| {
            t == "1 of 2 conflicts left"
        })
        .await?;
        // ...the mouse takes theirs for the other (the year).
        app.client
            .find(Locator::Css("[data-testid=take-theirs]"))
            .await?
            .click()
            .await?;
        wait_text(&app, "[data-testid=merge-counter]", "all settled", |t| {
            t == "No conflict left"
        })
        .await?;
        app.screenshot("merge-screen-settled-by-keyboard-and-mouse")
            .await?;
        app.client
            .find(Locator::Css("[data-testid=merge-save]"))
            .await?
            .click()
            .await?;
        app.client
            .wait()
            .for_element(Locator::Css("[data-testid=conflicts-empty]"))
            .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;

        other.sync(&cache, &tx).await?;
        let merged = locked(&cache)?
            .get::<shelfmark_core::Book>(theirs.id)?
            .ok_or_else(|| anyhow::anyhow!("not cached"))?;
        assert!(!merged.pending);
        let b = merged.record;
        assert_eq!(b.title, format!("{title} (mine)"));
        assert_eq!(b.year, Some(1901));
        assert_eq!(b.publisher, "My Press");
        assert_eq!(b.subjects, ["Their Subject"]);
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
