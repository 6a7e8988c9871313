//! The escalation screen against the real server: a manager reassigns a copy to a premium
//! patron (the server's state and its mail spool confirm it), a librarian sees the actions
//! disabled with the reason. Screenshots of the list, the detail and the reassign preview.

use std::time::Duration;

use anyhow::Context as _;
use fantoccini::Locator;
use shelfmark_core::HoldStatus;
use shelfmark_tests::{DemoServer, Desktop, Xvfb};
use uuid::Uuid;

use super::{eventually, text_of, wait_text};

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

/// Waits for the first sync, opens the escalation screen once the badge shows the demo's four
/// open escalations (a screenshot of the list), and opens the first open one; answers its id.
async fn open_first_escalation(app: &Desktop) -> anyhow::Result<Uuid> {
    wait_text(
        app,
        "[data-testid=status-connection]",
        "the first sync",
        |t| t == "Online",
    )
    .await?;
    let badge = wait_text(
        app,
        "[data-testid=escalations-badge]",
        "the open-escalations badge",
        |t| t == "4",
    )
    .await?;
    assert_eq!(badge, "4", "the demo seeds four open escalations");
    click(app, "[data-testid=nav-escalations]").await?;
    let statuses = eventually(Duration::from_secs(30), "the escalation rows", || async {
        let v = js(
            app,
            "return [...document.querySelectorAll('[data-testid=escalation-row]')]\
             .map(r => r.dataset.status)",
        )
        .await?;
        let statuses: Vec<String> = serde_json::from_value(v)?;
        Ok((statuses.len() >= 4).then_some(statuses))
    })
    .await?;
    assert!(
        statuses.iter().take(4).all(|s| s == "open"),
        "open ones first: {statuses:?}"
    );
    app.screenshot("list").await?;
    let id = js(
        app,
        "return document.querySelector('[data-testid=escalation-row][data-status=open]').dataset.id",
    )
    .await?;
    let id = Uuid::parse_str(id.as_str().unwrap_or_default())?;
    click(
        app,
        "[data-testid=escalation-row][data-status=open] [data-testid=escalation-open]",
    )
    .await?;
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
    Ok(id)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_manager_reassigns_a_copy_to_a_premium_patron() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-manager", &server, &xvfb, "manager").await?;
    let result = async {
        let id = open_first_escalation(&app).await?;
        let patron = text_of(&app, "[data-testid=escalation-patron] .who")
            .await?
            .unwrap_or_default();
        assert!(!patron.is_empty());
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
        wait_text(
            &app,
            "[data-testid=escalation-detail-status]",
            "the reassigned status",
            |t| t == "copy reassigned",
        )
        .await?;
        let outcome = wait_text(
            &app,
            "[data-testid=escalation-outcome]",
            "the new hold",
            |t| !t.is_empty(),
        )
        .await?;
        assert!(
            outcome.contains(&format!("{patron} holds copy {barcode}")),
            "{outcome}"
        );
        // The badge follows once the sync brings the change into the cache.
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "three open escalations",
            |t| t == "3",
        )
        .await?;
        app.screenshot("reassigned").await?;

        // The server's state: the escalation is reassigned, the chosen hold cancelled as
        // reassigned, and the premium patron holds its copy.
        let mut client = shelfmark_client::Client::new(&server.url)?;
        client
            .sign_in("manager", shelfmark_tests::DEMO_PASSWORD)
            .await?;
        let detail = client.escalation_detail(id).await?;
        assert_eq!(
            detail.escalation.status,
            shelfmark_core::EscalationStatus::Reassigned
        );
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
        let lost = cache
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .get::<shelfmark_core::Hold>(hold_id)?
            .ok_or_else(|| anyhow::anyhow!("the chosen hold is gone"))?
            .record;
        assert_eq!(lost.status, HoldStatus::Cancelled);
        assert_eq!(lost.cancel_reason.as_deref(), Some("reassigned"));

        // The mail spool: the patron who lost the copy is told.
        let holder_email = detail_email(&email);
        let mail = eventually(Duration::from_secs(30), "the holder's mail", || async {
            spooled_mail_to(&server.mail_spool, &holder_email)
        })
        .await?;
        let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
        assert!(unfolded.contains("cancelled"), "{mail}");
        assert!(unfolded.contains(&hold_id.to_string()), "{mail}");
        assert!(!holder.is_empty() && unfolded.contains(&holder), "{mail}");
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

/// The first `.eml` in `dir` addressed to `email`.
fn spooled_mail_to(dir: &std::path::Path, email: &str) -> anyhow::Result<Option<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "eml") {
            let raw = std::fs::read_to_string(&path)?;
            let to = raw
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .unwrap_or_default();
            if !email.is_empty() && to.contains(email) {
                return Ok(Some(raw));
            }
        }
    }
    Ok(None)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_librarian_sees_the_escalation_actions_disabled_with_the_reason() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-librarian", &server, &xvfb, "librarian").await?;
    let result = async {
        open_first_escalation(&app).await?;
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
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_flagged_purchase_resolves_when_the_new_copy_arrives() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-purchase", &server, &xvfb, "manager").await?;
    let result = async {
        let id = open_first_escalation(&app).await?;
        let patron = text_of(&app, "[data-testid=escalation-patron] .who")
            .await?
            .unwrap_or_default();
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
        let mut desk = shelfmark_client::Client::new(&server.url)?;
        desk.sign_in("librarian", shelfmark_tests::DEMO_PASSWORD)
            .await?;
        let book_id = desk.escalation_detail(id).await?.escalation.book_id;
        let cache = std::sync::Arc::new(std::sync::Mutex::new(
            shelfmark_store::Store::open_in_memory()?,
        ));
        let copy = shelfmark_core::Copy {
            id: Uuid::now_v7(),
            book_id,
            barcode: "E2E-NEW-COPY-1".into(),
            branch: "Central".into(),
            call_number: String::new(),
            status: shelfmark_core::CopyStatus::Available,
        };
        cache
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .save(&copy)?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(desk.sync(&cache, &tx).await?.push.pushed, 1);
        click(&app, ".status-bar button").await?;
        wait_text(
            &app,
            "[data-testid=escalation-detail-status]",
            "the resolved status",
            |t| t == "resolved",
        )
        .await?;
        let outcome = wait_text(
            &app,
            "[data-testid=escalation-outcome]",
            "the new hold",
            |t| !t.is_empty(),
        )
        .await?;
        assert!(
            outcome.contains(&format!("Resolved: {patron} holds copy E2E-NEW-COPY-1")),
            "{outcome}"
        );
        app.screenshot("purchase-resolved").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_new_escalation_from_another_desk_raises_the_badge() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("escalations-arrival", &server, &xvfb, "manager").await?;
    let result = async {
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "the open-escalations badge",
            |t| t == "4",
        )
        .await?;
        // Another desk places a hold for a premium patron on a book whose copies are all taken.
        let mut desk = shelfmark_client::Client::new(&server.url)?;
        desk.sign_in("librarian", shelfmark_tests::DEMO_PASSWORD)
            .await?;
        let cache = std::sync::Arc::new(std::sync::Mutex::new(
            shelfmark_store::Store::open_in_memory()?,
        ));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        desk.sync(&cache, &tx).await?;
        let hold = {
            let s = cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let book = s
                .list_books("", 5000)?
                .into_iter()
                .find(|b| b.copies_total > 0 && b.copies_available == 0)
                .ok_or_else(|| anyhow::anyhow!("no fully taken book in the demo"))?;
            let premium = s
                .search_patrons("", 500)?
                .into_iter()
                .find(|p| p.premium)
                .ok_or_else(|| anyhow::anyhow!("no premium patron in the demo"))?;
            shelfmark_core::Hold {
                id: Uuid::now_v7(),
                patron_id: premium.id,
                book_id: book.id,
                copy_id: None,
                status: HoldStatus::Active,
                cancel_reason: None,
            }
        };
        cache
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .save(&hold)?;
        desk.sync(&cache, &tx).await?;
        click(&app, ".status-bar button").await?;
        wait_text(
            &app,
            "[data-testid=escalations-badge]",
            "the badge to count the new escalation",
            |t| t == "5",
        )
        .await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
