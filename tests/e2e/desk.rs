//! The desk's day in the real window, against the real server: a scan session at the
//! circulation desk (a card, a copy checked out, a copy held for someone else refused, the copy
//! checked in), the hold shelf (a fetched copy made ready for pickup, its patron mailed), and a
//! patron registered at the desk; and a book's contest, "who got it and why". Each reaches the
//! server, checked from another desk's cache.

use std::time::Duration;

use fantoccini::Locator;
use shelfmark_core::circulation::Outcome;
use shelfmark_core::{Copy, CopyStatus, HoldStatus, Loan, LoanStatus, Patron};
use shelfmark_store::Lookup;
use shelfmark_tests::{DemoServer, Desktop, Xvfb};

use super::{
    click_first, eventually, locked, online, open_book, other_desk, text_of, texts_of, wait_text,
};

/// What the circulation test needs from the demo library: a copy on the shelf, a copy held
/// for a patron, and a patron with a card who is not that one.
struct Desk {
    on_shelf: Copy,
    held: Copy,
    patron: Patron,
}

fn demo_desk(cache: &shelfmark_client::SharedStore) -> anyhow::Result<Desk> {
    let s = locked(cache)?;
    let (mut on_shelf, mut held) = (None, None);
    for book in s.list_books("", 5000)? {
        let Some(detail) = s.book_detail(book.id)? else {
            continue;
        };
        if detail.holds.is_empty() && on_shelf.is_none() {
            on_shelf = detail
                .copies
                .iter()
                .map(|c| c.record.clone())
                .find(|c| c.status == CopyStatus::Available);
        }
        if held.is_none() {
            held = detail
                .holds
                .iter()
                .filter(|h| h.hold.record.status == HoldStatus::Active)
                .find_map(|h| Some((h.copy.clone()?, h.hold.record.patron_id)));
        }
        if on_shelf.is_some() && held.is_some() {
            break;
        }
    }
    let missing = || anyhow::anyhow!("the demo library lacks what this test needs");
    let (held, holder) = held.ok_or_else(missing)?;
    let patron = s
        .search_patrons("", 500)?
        .into_iter()
        .find(|p| p.id != holder && !p.premium && !p.card.is_empty())
        .ok_or_else(missing)?;
    Ok(Desk {
        on_shelf: on_shelf.ok_or_else(missing)?,
        held,
        patron,
    })
}

/// Types `code` and Enter into the scanner's input, as a scanner does, and waits for the
/// answer with `outcome`; returns its sentence.
async fn scan(app: &Desktop, code: &str, outcome: Outcome) -> anyhow::Result<String> {
    let before = text_of(app, "[data-testid=scan-row]").await?;
    let input = app
        .client
        .wait()
        .for_element(Locator::Css("[data-testid=scan-input]"))
        .await?;
    input.send_keys(&format!("{code}\u{E007}")).await?;
    let want = serde_json::to_value(outcome)?;
    let want = want.as_str().unwrap_or_default().to_owned();
    eventually(Duration::from_secs(15), "the scan's answer", || async {
        let shown = app
            .client
            .execute(
                "const e = document.querySelector('[data-testid=scan-result]'); \
                 return e ? e.dataset.outcome : null",
                vec![],
            )
            .await?;
        let row = text_of(app, "[data-testid=scan-row]").await?;
        Ok((shown.as_str() == Some(want.as_str()) && row != before).then_some(()))
    })
    .await?;
    Ok(text_of(app, "[data-testid=scan-message]")
        .await?
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_scan_session_checks_out_refuses_a_copy_held_for_someone_else_and_checks_in()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (other, cache) = other_desk(&server).await?;
    let desk = demo_desk(&cache)?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("circulation", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        click_first(&app, "[data-testid=nav-circulation]", None).await?;
        let said = scan(&app, &desk.patron.card, Outcome::PatronSelected).await?;
        anyhow::ensure!(said.contains(&desk.patron.name), "{said}");
        wait_text(
            &app,
            "[data-testid=scan-patron]",
            "the patron's banner",
            |t| t.contains(&desk.patron.name),
        )
        .await?;
        let said = scan(&app, &desk.on_shelf.barcode, Outcome::CheckedOut).await?;
        anyhow::ensure!(
            said.starts_with(&format!("Checked out to {}, due ", desk.patron.name)),
            "{said}"
        );
        app.screenshot("checked-out").await?;
        let said = scan(&app, &desk.held.barcode, Outcome::HeldForSomeoneElse).await?;
        anyhow::ensure!(said == "This copy is held for someone else.", "{said}");
        app.screenshot("held-for-someone-else").await?;
        // Done with this patron: the next copy alone is a check-in.
        click_first(&app, "[data-testid=scan-done]", None).await?;
        eventually(Duration::from_secs(10), "the session to end", || async {
            Ok(text_of(&app, "[data-testid=scan-patron]")
                .await?
                .is_none()
                .then_some(()))
        })
        .await?;
        let said = scan(&app, &desk.on_shelf.barcode, Outcome::Returned).await?;
        anyhow::ensure!(said == "Returned.", "{said}");
        app.screenshot("checked-in").await?;
        // Both reach the server: another desk sees the loan made and returned.
        eventually(
            Duration::from_secs(60),
            "the loan on the server",
            || async {
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                other.sync(&cache, &tx).await?;
                let loans = locked(&cache)?
                    .find_by::<Loan>(Lookup::CopyId, &desk.on_shelf.id.to_string())?;
                Ok(loans
                    .into_iter()
                    .find(|l| l.patron_id == desk.patron.id && l.status == LoanStatus::Returned))
            },
        )
        .await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_copy_fetched_for_a_hold_goes_ready_on_the_hold_shelf_and_its_patron_is_mailed()
-> anyhow::Result<()> {
    let server = DemoServer::start_with_smtp()?;
    let (_other, cache) = other_desk(&server).await?;
    let (hold, patron, branch) = {
        let s = locked(&cache)?;
        let shelf = s.hold_shelf(None)?;
        let h = shelf
            .into_iter()
            .find(|h| h.hold.record.status == HoldStatus::Active && h.patron.is_some())
            .ok_or_else(|| anyhow::anyhow!("no hold to fetch in the demo library"))?;
        let branch = h.hold.record.pickup_branch.clone();
        (
            h.hold.record,
            h.patron.clone().unwrap_or_else(|| unreachable!()),
            branch,
        )
    };
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("hold-shelf", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        click_first(&app, "[data-testid=nav-holdshelf]", None).await?;
        let select = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=shelf-branch]"))
            .await?;
        select.select_by_value(&branch).await?;
        let row = format!("[data-testid=shelf-row][data-id=\"{}\"]", hold.id);
        let ready = eventually(Duration::from_secs(30), "the hold's row", || async {
            Ok(app
                .client
                .find(Locator::Css(&format!(
                    "{row}[data-status=active] [data-testid=shelf-ready]"
                )))
                .await
                .ok())
        })
        .await?;
        ready.click().await?;
        // Synced: the row is waiting for pickup with the server's date, not pending.
        eventually(
            Duration::from_secs(60),
            "the ready hold from the server",
            || async {
                let until = text_of(
                    &app,
                    &format!("{row}[data-status=ready] [data-testid=shelf-until]"),
                )
                .await?;
                let pending = text_of(&app, &format!("{row} [data-testid=shelf-pending]")).await?;
                Ok(until.filter(|u| !u.is_empty() && pending.is_none()))
            },
        )
        .await?;
        app.screenshot("ready").await?;
        let mails = eventually(Duration::from_secs(60), "the patron's mail", || async {
            let mails = server.mails_to(&patron.email)?;
            Ok((!mails.is_empty()).then_some(mails))
        })
        .await?;
        anyhow::ensure!(
            mails[0].subject().contains("is ready for you to collect"),
            "{}",
            mails[0].subject()
        );
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_patron_registered_at_the_desk_is_found_by_card_and_reaches_the_server()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (other, cache) = other_desk(&server).await?;
    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("patron", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        click_first(&app, "[data-testid=nav-patrons]", None).await?;
        click_first(&app, "[data-testid=new-patron]", None).await?;
        let form = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=patron-form]"))
            .await?;
        for (field, value) in [
            ("name", "Grace Hopper"),
            ("card", "29990001"),
            ("email", "grace.hopper@example.org"),
        ] {
            form.find(Locator::Css(&format!("[name={field}]")))
                .await?
                .send_keys(value)
                .await?;
        }
        form.find(Locator::Css("textarea[name=notes]"))
            .await?
            .send_keys("Prefers large print")
            .await?;
        click_first(&app, "[data-testid=patron-form-save]", None).await?;
        wait_text(
            &app,
            "[data-testid=patron-name]",
            "the patron's page",
            |t| t == "Grace Hopper",
        )
        .await?;
        wait_text(&app, "[data-testid=status-pending]", "the push", |t| {
            t == "0 pending"
        })
        .await?;
        app.screenshot("registered").await?;
        // Found again by scanning the card at the patron search.
        click_first(&app, "[data-testid=patron-back]", None).await?;
        let search = app
            .client
            .wait()
            .for_element(Locator::Css("[data-testid=patron-search]"))
            .await?;
        search.send_keys("29990001\u{E007}").await?;
        wait_text(
            &app,
            "[data-testid=patron-card]",
            "the scanned patron",
            |t| t == "29990001",
        )
        .await?;
        let found = eventually(
            Duration::from_secs(60),
            "the patron on the server",
            || async {
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                other.sync(&cache, &tx).await?;
                Ok(locked(&cache)?
                    .find_by::<Patron>(Lookup::Card, "29990001")?
                    .into_iter()
                    .next())
            },
        )
        .await?;
        anyhow::ensure!(found.name == "Grace Hopper" && found.notes == "Prefers large print");
        anyhow::ensure!(!found.premium);
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "drives the real window: needs Xvfb, tauri-driver and the built binaries (make test)"]
async fn a_books_contest_says_who_won_the_copy_and_who_lost_in_the_order_decided()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (other, cache) = other_desk(&server).await?;
    // Two regular patrons ask, one after the other, for a book with one copy on the shelf (and
    // a title no other book has, so the window opens that one).
    let (title, book_id, first, second) = {
        let mut s = locked(&cache)?;
        let books = s.list_books("", 5000)?;
        let book = books
            .iter()
            .filter(|b| b.copies_total == 1 && b.copies_available == 1)
            .find(|b| books.iter().filter(|o| o.title == b.title).count() == 1)
            .ok_or_else(|| anyhow::anyhow!("no book with one copy on the shelf"))?
            .clone();
        let mut regular = s
            .search_patrons("", 500)?
            .into_iter()
            .filter(|p| !p.premium);
        let (first, second) = (
            regular.next().ok_or_else(|| anyhow::anyhow!("a patron"))?,
            regular
                .next()
                .ok_or_else(|| anyhow::anyhow!("another patron"))?,
        );
        s.place_hold(first.id, book.id)?;
        (book.title, book.id, first, second)
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let report = other.sync(&cache, &tx).await?;
    anyhow::ensure!(report.push.pushed == 1, "the first hold wins: {report:?}");
    locked(&cache)?.place_hold(second.id, book_id)?;
    let report = other.sync(&cache, &tx).await?;
    anyhow::ensure!(
        report.push.lost_holds == 1,
        "the second hold loses: {report:?}"
    );

    let xvfb = Xvfb::start()?;
    let app = Desktop::launch("contest", &server, &xvfb, "librarian").await?;
    let result = async {
        online(&app).await?;
        open_book(&app, &title).await?;
        click_first(&app, "[data-testid=book-contest]", None).await?;
        let lines = eventually(Duration::from_secs(30), "the contest", || async {
            let lines = texts_of(&app, "[data-testid=contest-line]").await?;
            Ok((lines.len() == 2).then_some(lines))
        })
        .await;
        let lines = match lines {
            Ok(lines) => lines,
            Err(e) => {
                app.screenshot("failed").await?;
                let shown = text_of(&app, "[data-testid=contest-dialog]").await?;
                anyhow::bail!("{e}: the dialog says {shown:?}");
            }
        };
        anyhow::ensure!(
            lines[0].contains(&format!("{} placed a hold and got copy", first.name)),
            "{lines:?}"
        );
        anyhow::ensure!(
            lines[1].contains(&format!(
                "{} placed a hold; every copy was taken.",
                second.name
            )),
            "{lines:?}"
        );
        app.screenshot("why-won").await?;
        anyhow::Ok(())
    }
    .await;
    app.close().await?;
    result
}
