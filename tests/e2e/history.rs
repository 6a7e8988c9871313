//! A record's history in the real window, from the real server: a librarian retitles a book,
//! the edit reaches the server, and the book's history lists both revisions newest first,
//! who made each, and the title's added words marked; with the server gone, the history says
//! plainly that it needs it. Screenshots of both.

use std::time::Duration;

use fantoccini::Locator;
use shelfmark_tests::{DemoServer, Desktop, Xvfb};

use super::{click_first, eventually, open_first_book, retitle, text_of, wait_text};

/// One revision as the history dialog shows it: what happened, who, and each field with its
/// marked words (`-removed`, `+added`).
type Shown = (String, String, Vec<(String, Vec<String>)>);

/// The history dialog's revisions, read in one go.
async fn shown_revisions(app: &Desktop) -> anyhow::Result<Vec<Shown>> {
    let v = app
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=history-entry]')].map(e => [\
               e.querySelector('[data-testid=history-what]').textContent.trim(),\
               e.querySelector('[data-testid=history-by]').textContent.trim(),\
               [...e.querySelectorAll('[data-testid=history-field]')].map(f => [\
                 f.dataset.field,\
                 [...f.querySelectorAll('del, ins')].map(w =>\
                   (w.tagName === 'DEL' ? '-' : '+') + w.textContent.trim())])])",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(v)?)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_retitled_book_s_history_shows_both_revisions_with_the_changed_words()
-> anyhow::Result<()> {
    let mut server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("history", &server, &xvfb, "librarian").await?;
    let result = async {
        let title = open_first_book(&app).await?;
        let new_title = format!("{title} Revised Edition");
        retitle(&app, &new_title).await?;
        wait_text(&app, "[data-testid=book-title]", "the new title", |t| {
            t == new_title
        })
        .await?;
        // Synced: the server has the second revision (the book's pending mark, shown with the
        // new title, goes once the push is acknowledged).
        eventually(Duration::from_secs(30), "the push", || async {
            Ok(text_of(&app, "[data-testid=book-pending]")
                .await?
                .is_none()
                .then_some(()))
        })
        .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;

        // The "Saved" notice above the window goes at the next click, and the layout moves up
        // under the pointer: wait for it to go by itself first.
        eventually(
            Duration::from_secs(10),
            "the saved notice to go",
            || async {
                Ok(text_of(&app, "[data-testid=saved-notice]")
                    .await?
                    .is_none()
                    .then_some(()))
            },
        )
        .await?;
        app.screenshot("book-view").await?;
        click_first(&app, "[data-testid=book-history]", None).await?;
        let revisions = eventually(Duration::from_secs(30), "the book's history", || async {
            if let Some(said) = text_of(&app, "[data-testid=history-error]").await? {
                anyhow::bail!("the history says {said:?}");
            }
            let shown = shown_revisions(&app).await?;
            Ok((shown.len() >= 2).then_some(shown))
        })
        .await;
        let revisions = match revisions {
            Ok(revisions) => revisions,
            Err(e) => {
                let dialog = text_of(&app, "[data-testid=history-dialog]").await?;
                anyhow::bail!("{e}; the dialog shows {dialog:?}");
            }
        };
        assert_eq!(revisions.len(), 2, "{revisions:?}");
        let ((what, by, fields), (created, creator, created_fields)) =
            (&revisions[0], &revisions[1]);
        assert_eq!((what.as_str(), by.as_str()), ("Changed", "librarian"));
        assert_eq!(
            fields.as_slice(),
            [("title".to_owned(), vec!["+Revised Edition".to_owned()])],
            "only the title changed, by the two added words"
        );
        // The demo library was written by the server's seeding, no user.
        assert_eq!((created.as_str(), creator.as_str()), ("Created", "demo"));
        let names: Vec<&str> = created_fields.iter().map(|(f, _)| f.as_str()).collect();
        assert!(
            names.starts_with(&["isbn", "title"]),
            "a creation lists its fields: {names:?}"
        );
        assert!(
            created_fields.iter().all(|(_, marks)| marks.is_empty()),
            "a creation's values are shown as they are: {created_fields:?}"
        );
        let heading = text_of(&app, "#history-heading").await?.unwrap_or_default();
        assert_eq!(heading, format!("History of “{new_title}”"));
        app.screenshot("book-revisions").await?;

        // Without the server there is no history to show, and the window says just that.
        app.client
            .find(Locator::Css("[data-testid=history-close]"))
            .await?
            .click()
            .await?;
        server.stop();
        click_first(&app, "[data-testid=book-history]", None).await?;
        let said = wait_text(
            &app,
            "[data-testid=history-error]",
            "the offline wording",
            |t| !t.is_empty(),
        )
        .await?;
        assert_eq!(said, "History needs a connection to the server.");
        app.screenshot("offline").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
