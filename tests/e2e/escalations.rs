//! The escalation screen against the real server and a real SMTP server on loopback: a
//! premium patron's hold lost at another desk mails the manager, who opens that escalation and
//! reassigns a copy (the server's holds and the displaced patron's mail confirm it) or flags a
//! purchase that the next new copy settles; a reassign of a hold that changed meanwhile at
//! another desk is explained with the current holds; a librarian sees the actions disabled with
//! the reason; a new escalation raises the badge and asks the desktop for a notification. Screenshots of the list, the detail, the reassign preview and the outcomes.

use std::time::Duration;

use anyhow::Context as _;
use fantoccini::Locator;
use shelfmark_core::{Book, EscalationStatus, Hold, HoldStatus, Patron};
use shelfmark_tests::{DemoServer, Desktop, MANAGER_EMAIL, Mail, NotificationWatch, Xvfb};
use uuid::Uuid;

use super::{eventually, locked, online, other_desk, text_of, wait_text};

/// Runs `script` in the window and returns its JSON answer.
async fn js(app: &Desktop, script: &str) -> anyhow::Result<serde_json::Value> {
    app.client
        .execute(script, vec![])
        .await
        .with_context(|| format!("running {script}"))
}

/// Clicks the element matching `css`.
async fn click(app: &Desktop, css: &str) -> anyhow::Result<()> {
    app.client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("finding {css}"))?
        .click()
        .await
        .with_context(|| format!("clicking {css}"))?;
    Ok(())
}

/// Waits for the first sync, opens the escalation screen once the badge counts `open` open
/// escalations (a screenshot of the list), and opens the escalation `id` (else the first open
/// one); answers its id.
async fn open_escalation(app: &Desktop, open: usize, id: Option<Uuid>) -> anyhow::Result<Uuid> {
    online(app).await?;
    let want = open.to_string();
    wait_text(
        app,
        "[data-testid=escalations-badge]",
        "the open-escalations badge",
        |t| t == want,
    )
    .await?;
    click(app, "[data-testid=nav-escalations]").await?;
    let statuses = eventually(Duration::from_secs(30), "the escalation rows", || async {
        let v = js(
            app,
            "return [...document.querySelectorAll('[data-testid=escalation-row]')]\
             .map(r => r.dataset.status)",
        )
        .await?;
        let statuses: Vec<String> = serde_json::from_value(v)?;
        Ok((statuses.len() >= open).then_some(statuses))
    })
    .await?;
    assert!(
        statuses.iter().take(open).all(|s| s == "open"),
        "open ones first: {statuses:?}"
    );
    app.screenshot("list").await?;
    let row = match id {
        Some(id) => format!("[data-testid=escalation-row][data-id=\"{id}\"]"),
        None => "[data-testid=escalation-row][data-status=open]".to_owned(),
    };
    let found = js(
        app,
        &format!("return document.querySelector('{row}')?.dataset.id ?? null"),
    )
    .await?;
    let found = Uuid::parse_str(found.as_str().unwrap_or_default())
        .with_context(|| format!("no escalation row {row}"))?;
    click(app, &format!("{row} [data-testid=escalation-open]")).await?;
    // The server's detail: every active hold with when it was placed.
    eventually(Duration::from_secs(30), "the detail's holds", || async {
        let v = js(
            app,
            "return [...document.querySelectorAll('[data-testid=active-hold] td.when')]\
             .map(e => e.textContent.trim())",
        )
        .await?;
        let since: Vec<String> = serde_json::from_value(v)?;
        Ok((!since.is_empty() && since.iter().all(|s| !s.is_empty())).then_some(()))
    })
    .await?;
    Ok(found)
}

/// A premium patron's hold that the server could not fill, placed at another desk.
struct LostHold {
    /// The patron, new at that desk.
    patron: Patron,
    /// The book, one whose every copy a regular patron holds.
    book: Book,
    /// The escalation the server opened.
    escalation: Uuid,
}

/// At another desk (the real engine, as the manager: only a manager registers a premium
/// patron), a new premium patron called `name`
/// places a hold on a book whose every copy regular patrons hold (the book of the demo's first
/// open escalation): the server opens an escalation and mails the manager.
async fn a_premium_patron_loses_a_hold(
    server: &DemoServer,
    name: &str,
) -> anyhow::Result<LostHold> {
    let mut desk = shelfmark_client::Client::new(&server.url)?;
    desk.sign_in("manager", shelfmark_tests::DEMO_PASSWORD)
        .await?;
    let cache = std::sync::Arc::new(std::sync::Mutex::new(
        shelfmark_store::Store::open_in_memory()?,
    ));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    desk.sync(&cache, &tx).await?;
    let (patron, book, hold) = {
        let mut s = locked(&cache)?;
        let taken = s
            .escalations()?
            .into_iter()
            .find(|e| e.escalation.status == EscalationStatus::Open)
            .context("the demo has no open escalation")?;
        let book = s
            .get::<Book>(taken.escalation.book_id)?
            .context("the escalation's book is not in the cache")?
            .record;
        let id = Uuid::now_v7();
        let patron = Patron {
            id,
            name: name.to_owned(),
            email: format!("premium.{}@example.org", id.simple()),
            premium: true,
            branch: "Riverside".into(),
            card: format!("P{}", id.simple()),
            notes: String::new(),
        };
        let hold = Hold::request(Uuid::now_v7(), patron.id, book.id);
        s.save(&patron)?;
        s.save(&hold)?;
        (patron, book, hold)
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let report = desk.sync(&cache, &tx).await?;
    assert_eq!(
        (report.push.pushed, report.push.lost_holds),
        (1, 1),
        "the patron is created, the hold lost"
    );
    let answer = locked(&cache)?
        .hold_outcome(hold.id)?
        .context("the lost hold kept no answer")?;
    let escalation = answer["escalation_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .with_context(|| format!("no escalation for a premium patron's lost hold: {answer}"))?;
    Ok(LostHold {
        patron,
        book,
        escalation,
    })
}

/// The manager's mail about `lost`'s escalation, as the SMTP server received it: once, naming
/// the patron (name, email), the book (title, ISBN), the branch and the escalation, with its
/// link for the desktop app.
async fn managers_mail(server: &DemoServer, lost: &LostHold) -> anyhow::Result<Mail> {
    let id = lost.escalation.to_string();
    let mut mails = eventually(Duration::from_secs(30), "the manager's mail", || async {
        let mails: Vec<Mail> = server
            .mails_to(MANAGER_EMAIL)?
            .into_iter()
            .filter(|m| m.body.contains(&id))
            .collect();
        Ok((!mails.is_empty()).then_some(mails))
    })
    .await?;
    assert_eq!(mails.len(), 1, "the manager is mailed once: {mails:#?}");
    let mail = mails.remove(0);
    let (patron, book) = (&lost.patron, &lost.book);
    assert_eq!(
        mail.subject(),
        format!(
            "Premium patron {} lost a hold on \"{}\"",
            patron.name, book.title
        )
    );
    assert!(
        mail.header("To")
            .is_some_and(|to| to.contains(MANAGER_EMAIL)),
        "{mail:#?}"
    );
    for line in [
        format!("Patron:     {} <{}>", patron.name, patron.email),
        format!("Branch:     {}", patron.branch),
        format!("Book:       {}", book.title),
        format!("ISBN:       {}", book.isbn),
        format!("Escalation: {id}"),
        format!("shelfmark://escalations/{id}"),
    ] {
        assert!(
            mail.body.lines().any(|l| l == line),
            "{line:?} is not a line of\n{}",
            mail.body
        );
    }
    Ok(mail)
}

/// The manager's own client on the server, to read its state over HTTP.
async fn manager_client(server: &DemoServer) -> anyhow::Result<shelfmark_client::Client> {
    let mut client = shelfmark_client::Client::new(&server.url)?;
    client
        .sign_in("manager", shelfmark_tests::DEMO_PASSWORD)
        .await?;
    Ok(client)
}

/// The copy barcodes of the active holds the detail in the window shows, sorted.
/// Waits for the escalation's detail to show `status`, then returns what its outcome line says
/// (the new hold).
async fn settled(app: &Desktop, status: &str) -> anyhow::Result<String> {
    wait_text(
        app,
        "[data-testid=escalation-detail-status]",
        &format!("the status {status:?}"),
        |t| t == status,
    )
    .await?;
    wait_text(
        app,
        "[data-testid=escalation-outcome]",
        "the new hold",
        |t| !t.is_empty(),
    )
    .await
}

async fn shown_barcodes(app: &Desktop) -> anyhow::Result<Vec<String>> {
    let v = js(
        app,
        "return [...document.querySelectorAll('[data-testid=active-hold]')]\
         .map(r => r.children[2].textContent.trim())",
    )
    .await?;
    let mut barcodes: Vec<String> = serde_json::from_value(v)?;
    barcodes.sort();
    Ok(barcodes)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver, aiosmtpd and the built binaries (make test)"]
async fn a_manager_reassigns_a_copy_to_a_premium_patron() -> anyhow::Result<()> {
    let server = DemoServer::start_with_smtp()?;
    // A premium patron (a name a mail must encode) finds every copy taken at another desk: the
    // manager is mailed, and opens the escalation the mail names.
    let lost = a_premium_patron_loses_a_hold(&server, "Zoë Ångström-Nakamura").await?;
    managers_mail(&server, &lost).await?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-manager", &server, &xvfb, "manager").await?;
    let result = async {
        let id = open_escalation(&app, 5, Some(lost.escalation)).await?;
        let patron = text_of(&app, "[data-testid=escalation-patron] .who")
            .await?
            .unwrap_or_default();
        assert_eq!(patron, lost.patron.name);
        app.screenshot("detail").await?;

        click(&app, "[data-testid=action-reassign]").await?;
        click(&app, "[data-testid=reassign-option] input[type=radio]").await?;
        let hold_id = js(
            &app,
            "return document.querySelector('[data-testid=reassign-option] input:checked').value",
        )
        .await?;
        let hold_id = Uuid::parse_str(hold_id.as_str().unwrap_or_default())?;
        let loses = wait_text(
            &app,
            "[data-testid=preview-loses]",
            "the reassign preview",
            |t| t.contains("loses copy"),
        )
        .await?;
        let holder = loses
            .split(" loses copy")
            .next()
            .unwrap_or_default()
            .to_owned();
        let barcode = loses
            .split("loses copy ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ':']).next())
            .unwrap_or_default()
            .to_owned();
        let email = text_of(&app, "[data-testid=preview-email]")
            .await?
            .unwrap_or_default();
        assert!(email.contains("is emailed at"), "{email}");
        let gets = text_of(&app, "[data-testid=preview-gets]")
            .await?
            .unwrap_or_default();
        assert!(
            gets.starts_with(&format!("{patron} gets copy {barcode}")),
            "{gets}"
        );
        app.screenshot("reassign-preview").await?;
        app.client
            .find(Locator::Css("[data-testid=reassign-note]"))
            .await?
            .send_keys("premium patron first (e2e)")
            .await?;
        click(&app, "[data-testid=reassign-confirm]").await?;
        let outcome = settled(&app, "copy reassigned").await?;
        assert!(
            outcome.contains(&format!("{patron} holds copy {barcode}")),
            "{outcome}"
        );
        // The badge follows once the sync brings the change into the cache.
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "four open escalations",
            |t| t == "4",
        )
        .await?;
        app.screenshot("reassigned").await?;

        // The server's state: the escalation is reassigned, the chosen hold cancelled as
        // reassigned, and the premium patron holds its copy.
        let client = manager_client(&server).await?;
        let detail = client.escalation_detail(id).await?;
        assert_eq!(detail.escalation.status, EscalationStatus::Reassigned);
        assert_eq!(
            detail.escalation.resolution_note.as_deref(),
            Some("premium patron first (e2e)")
        );
        let won = detail
            .active_holds
            .iter()
            .find(|h| h.hold.patron_id == detail.escalation.patron_id)
            .ok_or_else(|| anyhow::anyhow!("the premium patron has no active hold"))?;
        assert_eq!(
            won.copy.as_ref().map(|c| c.barcode.as_str()),
            Some(barcode.as_str())
        );
        assert!(detail.active_holds.iter().all(|h| h.hold.id != hold_id));
        let cache = std::sync::Arc::new(std::sync::Mutex::new(
            shelfmark_store::Store::open_in_memory()?,
        ));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        client.sync(&cache, &tx).await?;
        let lost_hold = locked(&cache)?
            .get::<Hold>(hold_id)?
            .ok_or_else(|| anyhow::anyhow!("the chosen hold is gone"))?
            .record;
        assert_eq!(lost_hold.status, HoldStatus::Cancelled);
        assert_eq!(lost_hold.cancel_reason.as_deref(), Some("reassigned"));
        let displaced = locked(&cache)?
            .get::<Patron>(lost_hold.patron_id)?
            .ok_or_else(|| anyhow::anyhow!("the displaced patron is unknown"))?
            .record;
        assert_eq!(displaced.name, holder);
        assert_eq!(
            detail_email(&email),
            displaced.email,
            "the preview's address"
        );

        // The SMTP server: the patron who lost the copy is told, once.
        let mails = eventually(Duration::from_secs(30), "the holder's mail", || async {
            let mails = server.mails_to(&displaced.email)?;
            Ok((!mails.is_empty()).then_some(mails))
        })
        .await?;
        assert_eq!(mails.len(), 1, "{mails:#?}");
        let mail = &mails[0];
        assert_eq!(
            mail.subject(),
            format!("Your hold on \"{}\" was cancelled", lost.book.title)
        );
        assert!(
            mail.header("To")
                .is_some_and(|to| to.contains(&displaced.email)),
            "{mail:#?}"
        );
        for needle in [
            format!("Dear {holder},"),
            format!("\"{}\" (ISBN {})", lost.book.title, lost.book.isbn),
            format!("Hold reference: {hold_id}"),
        ] {
            assert!(
                mail.body.contains(&needle),
                "{needle:?} missing from\n{}",
                mail.body
            );
        }
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

/// The address in the preview's "… is emailed at <address> that …".
fn detail_email(preview: &str) -> String {
    preview
        .split("emailed at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

/// How another desk changes the hold the manager is about to reassign.
#[derive(Clone, Copy)]
enum Meanwhile {
    /// Cancelled, as the desktop's "Cancel hold" does: the hold is deleted on the server.
    Cancelled,
    /// Fulfilled: the patron collected the copy (the hold stays, no longer active).
    Fulfilled,
}

/// The manager previews a reassign; before the confirm, another desk changes the chosen hold;
/// the confirm then does nothing on the server, and the window says why beside the current
/// holds. Answers the explanation the window gave.
async fn reassign_a_hold_changed_meanwhile(
    test: &str,
    change: Meanwhile,
) -> anyhow::Result<String> {
    let server = DemoServer::start()?;
    let (desk, cache) = other_desk(&server).await?;
    let xvfb = Xvfb::start()?;
    // The window syncs at start and when asked, not every 30 s: its own background sync must
    // not refresh the detail between the other desk's change and the confirm (that refresh is
    // explained in the dialog itself; the UI's tests cover it).
    let app = Desktop::launch_with(
        test,
        &xvfb,
        &[
            ("SHELFMARK_SERVER_URL", server.url.as_str()),
            ("SHELFMARK_USERNAME", "manager"),
            ("SHELFMARK_PASSWORD", shelfmark_tests::DEMO_PASSWORD),
            ("SHELFMARK_SYNC_INTERVAL", "3600"),
        ],
    )
    .await?;
    let result = async {
        let id = open_escalation(&app, 4, None).await?;
        app.screenshot("detail").await?;
        let client = manager_client(&server).await?;
        let before = client.escalation_detail(id).await?;

        click(&app, "[data-testid=action-reassign]").await?;
        click(&app, "[data-testid=reassign-option] input[type=radio]").await?;
        let hold_id = js(
            &app,
            "return document.querySelector('[data-testid=reassign-option] input:checked').value",
        )
        .await?;
        let hold_id = Uuid::parse_str(hold_id.as_str().unwrap_or_default())?;
        wait_text(
            &app,
            "[data-testid=preview-loses]",
            "the reassign preview",
            |t| t.contains("loses copy"),
        )
        .await?;
        app.screenshot("reassign-preview").await?;

        // Another desk changes that hold, through the real engine.
        match change {
            Meanwhile::Cancelled => {
                locked(&cache)?.delete::<Hold>(hold_id)?;
            }
            Meanwhile::Fulfilled => {
                let mut s = locked(&cache)?;
                let mut hold = s
                    .get::<Hold>(hold_id)?
                    .context("the other desk does not know the hold")?
                    .record;
                hold.status = HoldStatus::Fulfilled;
                s.save(&hold)?;
            }
        }
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(desk.sync(&cache, &tx).await?.push.pushed, 1);

        click(&app, "[data-testid=reassign-confirm]").await?;
        let notice = eventually(Duration::from_secs(30), "the explanation", || async {
            if let Some(error) = text_of(&app, "[data-testid=reassign-error]").await? {
                anyhow::bail!("the dialog refused the reassign instead of explaining: {error}");
            }
            Ok(text_of(&app, "[data-testid=escalation-notice]")
                .await?
                .filter(|t| !t.is_empty()))
        })
        .await?;
        let role = js(
            &app,
            "return document.querySelector('[data-testid=escalation-notice]').getAttribute('role')",
        )
        .await?;
        assert_eq!(role, "alert");
        assert_eq!(
            js(
                &app,
                "return !!document.querySelector('[data-testid=reassign-dialog]')"
            )
            .await?,
            false,
            "the dialog closes on the explanation"
        );
        assert_eq!(
            text_of(&app, "[data-testid=escalation-detail-status]")
                .await?
                .as_deref(),
            Some("open")
        );

        // Nothing was reassigned on the server: the escalation is open as before, the premium
        // patron holds nothing, and every other hold is as it was.
        let after = client.escalation_detail(id).await?;
        assert_eq!(after.escalation.status, EscalationStatus::Open);
        assert_eq!(after.escalation.resolution_note, None);
        assert!(
            after
                .active_holds
                .iter()
                .all(|h| h.hold.patron_id != after.escalation.patron_id),
            "the premium patron got no copy"
        );
        let expected: Vec<Uuid> = before
            .active_holds
            .iter()
            .map(|h| h.hold.id)
            .filter(|h| *h != hold_id)
            .collect();
        let remaining: Vec<Uuid> = after.active_holds.iter().map(|h| h.hold.id).collect();
        assert_eq!(remaining, expected);
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        desk.sync(&cache, &tx).await?;
        let changed = locked(&cache)?.get::<Hold>(hold_id)?.map(|h| h.record);
        match change {
            Meanwhile::Cancelled => assert!(changed.is_none(), "deleted: {changed:?}"),
            Meanwhile::Fulfilled => {
                let hold = changed.context("the fulfilled hold is gone")?;
                assert_eq!(
                    (hold.status, hold.cancel_reason),
                    (HoldStatus::Fulfilled, None)
                );
            }
        }

        // The window shows the current holds: the server's, without the chosen one.
        let mut current: Vec<String> = after
            .active_holds
            .iter()
            .map(|h| {
                h.copy
                    .as_ref()
                    .map(|c| c.barcode.clone())
                    .unwrap_or_default()
            })
            .collect();
        current.sort();
        let shown = eventually(Duration::from_secs(10), "the current holds", || async {
            let shown = shown_barcodes(&app).await?;
            Ok((shown == current).then_some(()))
        })
        .await;
        if shown.is_err() {
            let shown = shown_barcodes(&app).await?;
            anyhow::bail!("the window shows the holds {shown:?}, the server has {current:?}");
        }
        app.screenshot("explained").await?;
        anyhow::Ok(notice)
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_reassign_of_a_hold_cancelled_meanwhile_at_another_desk_is_explained_with_the_current_holds()
-> anyhow::Result<()> {
    let notice =
        reassign_a_hold_changed_meanwhile("escalations-hold-cancelled", Meanwhile::Cancelled)
            .await?;
    assert_eq!(
        notice,
        "The hold you chose changed meanwhile (it was cancelled), so nothing was done. The \
         holds below are the current ones: choose again."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_reassign_of_a_hold_fulfilled_meanwhile_at_another_desk_is_explained_with_the_current_holds()
-> anyhow::Result<()> {
    let notice =
        reassign_a_hold_changed_meanwhile("escalations-hold-fulfilled", Meanwhile::Fulfilled)
            .await?;
    assert_eq!(
        notice,
        "The hold you chose changed meanwhile (it is now fulfilled), so nothing was done. The \
         holds below are the current ones: choose again."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_librarian_sees_the_escalation_actions_disabled_with_the_reason() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-librarian", &server, &xvfb, "librarian").await?;
    let result = async {
        open_escalation(&app, 4, None).await?;
        let disabled = js(
            &app,
            "return ['reassign', 'purchase', 'resolve'].map(a => {\
               const b = document.querySelector(`[data-testid=action-${a}]`);\
               return b ? [b.disabled, b.title] : null; })",
        )
        .await?;
        let disabled: Vec<(bool, String)> = serde_json::from_value(disabled)?;
        assert_eq!(disabled.len(), 3);
        for (is_disabled, title) in &disabled {
            assert!(is_disabled, "{disabled:?}");
            assert!(title.contains("Only a manager"), "{title}");
        }
        let reason = wait_text(
            &app,
            "[data-testid=actions-disabled-reason]",
            "the reason",
            |t| !t.is_empty(),
        )
        .await?;
        assert!(reason.contains("signed in as a librarian"), "{reason}");
        app.screenshot("detail-disabled").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver, aiosmtpd and the built binaries (make test)"]
async fn a_flagged_purchase_resolves_when_the_new_copy_arrives() -> anyhow::Result<()> {
    let server = DemoServer::start_with_smtp()?;
    let lost = a_premium_patron_loses_a_hold(&server, "Ólafur Þórsson").await?;
    let managers = managers_mail(&server, &lost).await?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-purchase", &server, &xvfb, "manager").await?;
    let result = async {
        let id = open_escalation(&app, 5, Some(lost.escalation)).await?;
        let patron = text_of(&app, "[data-testid=escalation-patron] .who")
            .await?
            .unwrap_or_default();
        assert_eq!(patron, lost.patron.name);
        click(&app, "[data-testid=action-purchase]").await?;
        let quantity = app
            .client
            .find(Locator::Css("[data-testid=purchase-quantity]"))
            .await?;
        quantity.clear().await?;
        quantity.send_keys("2").await?;
        app.client
            .find(Locator::Css("[data-testid=purchase-note]"))
            .await?
            .send_keys("two more for the waiting list")
            .await?;
        app.screenshot("purchase-form").await?;
        click(&app, "[data-testid=purchase-confirm]").await?;
        wait_text(
            &app,
            "[data-testid=escalation-detail-status]",
            "the purchase flag",
            |t| t == "purchase flagged",
        )
        .await?;
        let request = wait_text(
            &app,
            "[data-testid=purchase-request]",
            "the purchase request",
            |t| !t.is_empty(),
        )
        .await?;
        assert!(
            request.contains("2 copies") && request.contains("two more for the waiting list"),
            "{request}"
        );

        // The new copy arrives (entered at another desk): the server gives it to the premium
        // patron and resolves the escalation; the window follows at the next sync.
        let (desk, cache) = other_desk(&server).await?;
        let copy = shelfmark_core::Copy {
            id: Uuid::now_v7(),
            book_id: lost.book.id,
            barcode: "E2E-NEW-COPY-1".into(),
            branch: "Central".into(),
            call_number: String::new(),
            status: shelfmark_core::CopyStatus::Available,
        };
        locked(&cache)?.save(&copy)?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(desk.sync(&cache, &tx).await?.push.pushed, 1);
        click(&app, ".status-bar button").await?;
        let outcome = settled(&app, "resolved").await?;
        assert!(
            outcome.contains(&format!("Resolved: {patron} holds copy E2E-NEW-COPY-1")),
            "{outcome}"
        );
        app.screenshot("purchase-resolved").await?;

        // The server's state: resolved, the new copy held by the premium patron, the purchase
        // request received.
        let detail = manager_client(&server).await?.escalation_detail(id).await?;
        assert_eq!(detail.escalation.status, EscalationStatus::Resolved);
        let won = detail
            .active_holds
            .iter()
            .find(|h| h.hold.patron_id == lost.patron.id)
            .context("the premium patron has no active hold")?;
        assert_eq!(won.hold.copy_id, Some(copy.id));
        let requests: Vec<_> = detail
            .purchase_requests
            .iter()
            .map(|r| (r.quantity, r.status))
            .collect();
        assert_eq!(requests, [(2, shelfmark_core::PurchaseStatus::Received)]);

        // The SMTP server: the flag mails nobody; the copy's arrival mails the premium patron
        // (a copy set aside for them), and nobody else. A later escalation's mail, delivered
        // after anything those two steps could have queued, marks the point where the mailbox
        // is read.
        let later = a_premium_patron_loses_a_hold(&server, "Later Premium").await?;
        let marker = managers_mail(&server, &later).await?;
        let mails = server.all_mails()?;
        let subjects: Vec<&str> = mails.iter().map(Mail::subject).collect();
        let for_the_patron = format!(
            "A copy of \"{}\" has been set aside for you",
            lost.book.title
        );
        assert_eq!(
            subjects,
            [
                managers.subject(),
                for_the_patron.as_str(),
                marker.subject()
            ],
            "{mails:#?}"
        );
        assert_eq!(
            server.mails_to(&lost.patron.email)?.len(),
            1,
            "the premium patron is told, once"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_new_escalation_from_another_desk_raises_the_badge_and_a_notification()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let notifications = NotificationWatch::start()?;
    let app = Desktop::launch_watched(
        "escalations-arrival",
        &server,
        &xvfb,
        "manager",
        &notifications,
    )
    .await?;
    let result = async {
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "the open-escalations badge",
            |t| t == "4",
        )
        .await?;
        // Another desk places a hold for a premium patron on a book whose copies are all taken.
        a_premium_patron_loses_a_hold(&server, "Premium Newcomer").await?;
        click(&app, ".status-bar button").await?;
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "the badge to count the new escalation",
            |t| t == "5",
        )
        .await?;
        // The desktop was asked to show one notification, for the new escalation only (the
        // four of the first sync were already there).
        let shown = notifications.shown(Duration::from_secs(20)).await?;
        assert_eq!(shown.len(), 1, "{shown:?}");
        let (title, body) = &shown[0];
        assert_eq!(title, "New escalation");
        assert!(
            body.starts_with("Premium Newcomer (premium) is waiting for “"),
            "{body}"
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
