//! The client subcommands end to end: the real `shelfmark` binary against the real server
//! (`shelfmark_tests::DemoServer`, demo library) on loopback, each desk with its own cache.
//!
//! Needs the server binary built first (`cargo build -p shelfmark-server`; `make test` does).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;
use shelfmark_tests::{DEMO_PASSWORD, DemoServer};

const SHELFMARK: &str = env!("CARGO_BIN_EXE_shelfmark");

/// One librarian's desk: a cache of its own in a temporary folder.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> anyhow::Result<Desk> {
        Ok(Desk {
            dir: tempfile::tempdir()?,
        })
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache.db")
    }

    /// `shelfmark --cache <cache> ARGS`, with the demo password at hand and the token kept in
    /// the file (tests never touch a developer's real keyring).
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SHELFMARK);
        c.arg("--cache")
            .arg(self.cache())
            .args(args)
            .env("SHELFMARK_PASSWORD", DEMO_PASSWORD)
            .env("SHELFMARK_CREDENTIAL_STORE", "file")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(self.command(args).output()?)
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        ensure!(
            out.status.success(),
            "shelfmark {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let text = self.ok(args)?;
        serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))
    }

    fn login(&self, server: &DemoServer) -> anyhow::Result<()> {
        self.ok(&["login", "--server", &server.url, "--user", "librarian"])?;
        Ok(())
    }

    /// A desk signed in and synced with `server`.
    fn synced(server: &DemoServer) -> anyhow::Result<Desk> {
        let desk = Desk::new()?;
        desk.login(server)?;
        desk.ok(&["sync"])?;
        Ok(desk)
    }

    fn status(&self) -> anyhow::Result<Value> {
        self.json(&["status", "--json"])
    }

    fn first_book(&self, query: &str) -> anyhow::Result<String> {
        let books = self.json(&["search", query, "--json", "--limit", "1"])?;
        Ok(books[0]["id"].as_str().context("no book found")?.to_owned())
    }

    fn book(&self, id: &str) -> anyhow::Result<Value> {
        self.json(&["book", "show", id, "--json"])
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn login_and_sync_fill_the_cache_and_status_counts_it() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::new()?;
    let before = desk.status()?;
    assert_eq!(before["books"], 0);
    assert_eq!(before["last_sync"], Value::Null);

    let out = desk.ok(&["login", "--server", &server.url, "--user", "librarian"])?;
    assert!(out.contains("signed in"), "{out}");
    let report = desk.json(&["sync", "--json"])?;
    assert!(report["pull"]["changes"].as_u64() > Some(2400), "{report}");

    let status = desk.status()?;
    assert_eq!(status["books"], 2400);
    assert!(status["copies"].as_i64() >= Some(2400));
    assert_eq!(status["patrons"], 72);
    for zero in ["pending_edits", "failed_edits", "conflicts"] {
        assert_eq!(status[zero], 0, "{zero}");
    }
    assert!(status["last_sync"].is_string());
    assert_eq!(status["user"], "librarian");
    Ok(())
}

#[test]
fn a_wrong_password_is_refused_and_signs_nobody_in() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::new()?;
    let out = desk
        .command(&["login", "--server", &server.url, "--user", "librarian"])
        .env("SHELFMARK_PASSWORD", "not the password")
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    assert_eq!(desk.status()?["user"], Value::Null);
    Ok(())
}

#[test]
fn search_and_book_show_read_the_cache_without_the_server() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    drop(server);

    let books = desk.json(&["search", "silent gard", "--json"])?;
    let books = books.as_array().context("a list")?;
    assert!(!books.is_empty());
    for b in books {
        let title = b["title"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            title.contains("silent") && title.contains("gard"),
            "{title}"
        );
    }
    let id = books[0]["id"].as_str().context("id")?;
    let shown = desk.book(id)?;
    assert_eq!(shown["record"]["id"], id);
    assert!(!shown["copies"].as_array().context("copies")?.is_empty());
    assert_eq!(shown["pending"], false);
    let text = desk.ok(&["book", "show", id])?;
    assert!(text.contains("copies:"), "{text}");
    Ok(())
}

#[test]
fn an_offline_edit_waits_in_the_outbox_and_sync_puts_it_on_the_server() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let id = desk.first_book("lighthouse")?;
    desk.ok(&[
        "book",
        "edit",
        &id,
        "--set",
        "notes=Rebound in 2026.\nShelved face out.",
        "--set",
        "subjects=Sailing; Local history",
        "--set",
        "year=",
    ])?;
    let shown = desk.book(&id)?;
    assert_eq!(shown["pending"], true);
    assert_eq!(shown["record"]["year"], Value::Null);
    assert_eq!(desk.status()?["pending_edits"], 1);

    let report = desk.json(&["sync", "--json"])?;
    assert_eq!(report["push"]["pushed"], 1);
    assert_eq!(desk.status()?["pending_edits"], 0);

    let other = Desk::synced(&server)?;
    let theirs = other.book(&id)?;
    assert_eq!(
        theirs["record"]["notes"],
        "Rebound in 2026.\nShelved face out."
    );
    assert_eq!(
        theirs["record"]["subjects"],
        serde_json::json!(["Sailing", "Local history"])
    );
    Ok(())
}

#[test]
fn an_invalid_edit_is_refused_before_it_reaches_the_outbox() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let id = desk.first_book("garden")?;
    for set in ["title= ", "isbn=9780306406158", "colour=red", "year=soon"] {
        let out = desk.run(&["book", "edit", &id, "--set", set])?;
        assert_eq!(out.status.code(), Some(1), "{set}");
        assert!(!stderr(&out).is_empty());
    }
    assert_eq!(desk.status()?["pending_edits"], 0);
    Ok(())
}

#[test]
fn sync_without_the_server_fails_plainly_and_keeps_the_edit() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let id = desk.first_book("river")?;
    drop(server);
    desk.ok(&["book", "edit", &id, "--set", "publisher=Offline Press"])?;
    let out = desk.run(&["sync"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the server"),
        "{}",
        stderr(&out)
    );
    assert_eq!(desk.status()?["pending_edits"], 1);
    Ok(())
}

/// Replaces the kept token with one the server never issued: what an expired one looks like.
fn expire_token(desk: &Desk) -> anyhow::Result<()> {
    let path = desk.dir.path().join("cache.db.token");
    let mut file: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    file["token"] = "expired-token".into();
    std::fs::write(&path, serde_json::to_vec(&file)?)?;
    Ok(())
}

#[test]
fn an_expired_token_signs_in_again_with_the_password_and_loses_no_edit() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let id = desk.first_book("harbour")?;
    desk.ok(&["book", "edit", &id, "--set", "publisher=Expired Press"])?;
    expire_token(&desk)?;

    // No password at hand: the sync stops, says why, and the edit stays.
    let out = desk
        .command(&["sync"])
        .env_remove("SHELFMARK_PASSWORD")
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SHELFMARK_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert_eq!(desk.status()?["pending_edits"], 1);

    // With the password, it signs in again and pushes.
    let out = desk.run(&["sync", "--json"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["push"]["pushed"], 1);
    assert_eq!(desk.status()?["pending_edits"], 0);
    // The new token was kept: the next sync needs no password.
    let out = desk
        .command(&["sync"])
        .env_remove("SHELFMARK_PASSWORD")
        .output()?;
    assert!(out.status.success(), "{}", stderr(&out));
    Ok(())
}

#[test]
fn the_same_line_edited_on_two_desks_lands_in_the_inbox_with_its_open_hunk() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let (mine, theirs) = (Desk::synced(&server)?, Desk::synced(&server)?);
    let id = mine.first_book("orchard")?;
    let summary = mine.book(&id)?["record"]["summary"]
        .as_str()
        .context("summary")?
        .to_owned();
    let first = summary.lines().next().unwrap_or_default().to_owned();
    let edited = |by: &str| summary.replacen(&first, &format!("{first} ({by})"), 1);
    theirs.ok(&[
        "book",
        "edit",
        &id,
        "--set",
        &format!("summary={}", edited("theirs")),
    ])?;
    theirs.ok(&["sync"])?;
    mine.ok(&[
        "book",
        "edit",
        &id,
        "--set",
        &format!("summary={}", edited("mine")),
    ])?;
    let report = mine.json(&["sync", "--json"])?;
    assert_eq!(report["push"]["conflicts"], 1, "{report}");

    let inbox = mine.json(&["conflicts", "--json"])?;
    let inbox = inbox.as_array().context("a list")?;
    assert_eq!(inbox.len(), 1);
    let entry = &inbox[0];
    assert_eq!(entry["record_id"], id.as_str());
    assert_eq!(entry["reason"], "edit-conflict");
    assert_eq!(entry["base"]["summary"], summary.as_str());
    assert_eq!(entry["mine"]["summary"], edited("mine").as_str());
    assert_eq!(entry["theirs"]["summary"], edited("theirs").as_str());
    let open = entry["open"].as_array().context("open hunks")?;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["field"], "summary");
    assert_eq!(open[0]["location"]["type"], "hunk");
    assert_eq!(open[0]["location"]["base_lines"], serde_json::json!([0, 1]));
    assert!(
        open[0]["mine"]
            .as_str()
            .is_some_and(|m| m.contains("(mine)"))
    );
    assert_eq!(mine.status()?["conflicts"], 1);
    Ok(())
}

#[test]
fn a_hold_on_an_available_book_is_placed_on_a_copy_at_once() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let book = book_where(&desk, |b| b["copies_available"].as_u64() >= Some(1))?;
    let patron = demo_patron(false)?;
    let out = desk.run(&[
        "hold", "place", "--patron", &patron, "--book", &book, "--json",
    ])?;
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(outcome["outcome"], "placed", "{outcome}");
    let copy = outcome["hold"]["copy_id"]
        .as_str()
        .context("the server picked a copy")?;
    desk.ok(&["sync"])?;
    let shown = desk.book(&book)?;
    let held = shown["copies"]
        .as_array()
        .context("copies")?
        .iter()
        .find(|c| c["id"] == copy)
        .context("the held copy is one of the book's")?;
    assert_eq!(held["status"], "held");
    assert_eq!(desk.status()?["pending_edits"], 0);
    Ok(())
}

#[test]
fn a_premium_patrons_hold_on_a_book_with_every_copy_taken_is_lost_with_its_escalation()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let book = book_where(&desk, |b| {
        b["copies_total"].as_u64() >= Some(1) && b["copies_available"] == 0
    })?;
    let patron = demo_patron(true)?;
    let out = desk.run(&[
        "hold", "place", "--patron", &patron, "--book", &book, "--json",
    ])?;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let outcome: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(outcome["outcome"], "lost", "{outcome}");
    assert_eq!(outcome["answer"]["patron_premium"], true);
    assert!(outcome["answer"]["escalation_id"].is_string(), "{outcome}");
    let text = desk.ok(&["status"])?;
    assert!(
        text.contains("0 pending"),
        "a lost hold is not retried: {text}"
    );

    let unknown = desk.run(&[
        "hold",
        "place",
        "--patron",
        "00000000-0000-0000-0000-000000000000",
        "--book",
        &book,
    ])?;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no patron"),
        "{}",
        stderr(&unknown)
    );
    Ok(())
}

/// The first cached book (of the whole catalogue) that `pred` accepts.
fn book_where(desk: &Desk, pred: impl Fn(&Value) -> bool) -> anyhow::Result<String> {
    let books = desk.json(&["search", "", "--json", "--limit", "5000"])?;
    let book = books
        .as_array()
        .context("a list")?
        .iter()
        .find(|b| pred(b))
        .context("no such book in the demo library")?;
    Ok(book["id"].as_str().context("id")?.to_owned())
}

/// A patron of the demo library, premium or not (the server's own seed data, so the ids are
/// the ones it has).
fn demo_patron(premium: bool) -> anyhow::Result<String> {
    for w in shelfmark_server::demo::records()? {
        if w.kind == shelfmark_core::RecordType::Patron {
            let patron: shelfmark_core::Patron = serde_json::from_str(&w.data)?;
            if patron.premium == premium {
                return Ok(patron.id.to_string());
            }
        }
    }
    bail!("the demo has no such patron")
}

/// Without any D-Bus session (a headless machine, CI) there is no keyring service: the token
/// goes into a file readable only by the user, beside the cache, and the user is told once.
#[cfg(target_os = "linux")]
#[test]
fn without_a_keyring_the_token_goes_to_a_private_file_and_the_notice_comes_once()
-> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let server = DemoServer::start()?;
    let desk = Desk::new()?;
    let no_bus = tempfile::tempdir()?;
    let login = || -> anyhow::Result<Output> {
        let out = desk
            .command(&["login", "--server", &server.url, "--user", "librarian"])
            .env_remove("SHELFMARK_CREDENTIAL_STORE")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", no_bus.path())
            .output()?;
        ensure!(out.status.success(), "{}", stderr(&out));
        Ok(out)
    };
    let first = login()?;
    assert!(stderr(&first).contains("no keyring"), "{}", stderr(&first));
    let token = desk.dir.path().join("cache.db.token");
    let mode = std::fs::metadata(&token)?.permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let second = login()?;
    assert!(!stderr(&second).contains("no keyring"), "said twice");
    // The kept token works: a sync needs no password.
    let out = desk
        .command(&["sync"])
        .env_remove("SHELFMARK_PASSWORD")
        .env_remove("SHELFMARK_CREDENTIAL_STORE")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", no_bus.path())
        .output()?;
    assert!(out.status.success(), "{}", stderr(&out));
    Ok(())
}

/// The token a desk keeps (in the file: the tests use no keyring).
fn kept_token(desk: &Desk) -> anyhow::Result<String> {
    let path = desk.dir.path().join("cache.db.token");
    let file: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    Ok(file["token"].as_str().context("no token")?.to_owned())
}

#[test]
fn logout_ends_the_session_on_the_server_so_its_token_answers_401() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let token = kept_token(&desk)?;
    let out = desk.run(&["logout"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("signed out of "));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(!desk.dir.path().join("cache.db.token").exists());

    let client = shelfmark_client::Client::with_token(&server.url, &token, "librarian")?;
    let cache = std::sync::Arc::new(std::sync::Mutex::new(
        shelfmark_store::Store::open_in_memory()?,
    ));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let pulled = tokio::runtime::Runtime::new()?.block_on(client.pull(&cache, &tx));
    assert!(
        matches!(pulled, Err(shelfmark_client::ClientError::Unauthorized(_))),
        "the ended token still works: {pulled:?}"
    );
    Ok(())
}

#[test]
fn logout_offline_forgets_the_token_and_says_the_server_could_not_be_told() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::new()?;
    desk.login(&server)?;
    drop(server);
    let out = desk.run(&["logout"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the server could not be told"),
        "{}",
        stderr(&out)
    );
    assert!(!desk.dir.path().join("cache.db.token").exists());
    assert_eq!(desk.status()?["user"], Value::Null);
    Ok(())
}

#[test]
fn a_ca_file_that_cannot_be_read_is_refused_plainly() -> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::new()?;
    let missing = desk.dir.path().join("library-ca.pem");
    let out = desk
        .command(&["login", "--server", &server.url, "--user", "librarian"])
        .env("SHELFMARK_CA_CERT", &missing)
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "shelfmark: cannot use the CA file {}: ",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
    Ok(())
}

/// A copy on the shelf (available, on a book nobody holds) and a regular patron's card, from
/// the server's own seed data.
fn demo_copy_and_card() -> anyhow::Result<(String, String)> {
    let records = shelfmark_server::demo::records()?;
    let held: std::collections::HashSet<String> = records
        .iter()
        .filter(|w| w.kind == shelfmark_core::RecordType::Hold)
        .filter_map(|w| serde_json::from_str::<Value>(&w.data).ok())
        .filter_map(|h| h["book_id"].as_str().map(str::to_owned))
        .collect();
    let mut copy = None;
    let mut card = None;
    for w in &records {
        match w.kind {
            shelfmark_core::RecordType::Copy if copy.is_none() => {
                let c: shelfmark_core::Copy = serde_json::from_str(&w.data)?;
                if c.status == shelfmark_core::CopyStatus::Available
                    && !held.contains(&c.book_id.to_string())
                {
                    copy = Some(c.barcode);
                }
            }
            shelfmark_core::RecordType::Patron if card.is_none() => {
                let p: shelfmark_core::Patron = serde_json::from_str(&w.data)?;
                if !p.premium && !p.card.is_empty() {
                    card = Some(p.card);
                }
            }
            _ => {}
        }
    }
    Ok((
        copy.context("no copy on the shelf")?,
        card.context("no card")?,
    ))
}

fn json_lines(text: &str) -> anyhow::Result<Vec<Value>> {
    text.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

#[test]
fn a_scan_session_checks_out_and_in_offline_and_the_hold_shelf_moves_a_hold() -> anyhow::Result<()>
{
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let (barcode, card) = demo_copy_and_card()?;
    let out = desk.ok(&["scan", "--patron", &card, &barcode, "--json"])?;
    let answers = json_lines(&out)?;
    let outcomes: Vec<_> = answers.iter().map(|a| a["outcome"].clone()).collect();
    assert_eq!(outcomes, ["patron_selected", "checked_out"], "{out}");
    assert!(
        answers[1]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Checked out to ")),
        "{out}"
    );
    let back = json_lines(&desk.ok(&["scan", &barcode, "--json"])?)?;
    assert_eq!(back[0]["outcome"], "returned");
    // An unknown barcode says so and fails the command.
    let out = desk.run(&["scan", "00000000"])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stdout)?.contains("Unknown barcode “00000000”."),
        "plain words"
    );
    desk.ok(&["sync"])?;
    assert_eq!(desk.status()?["pending_edits"], 0);

    // The hold shelf: a copy to fetch, made ready; after the sync the server's last day.
    let shelf = desk.json(&["hold", "shelf", "--json"])?;
    let to_fetch = shelf
        .as_array()
        .context("a list")?
        .iter()
        .find(|h| h["hold"]["record"]["status"] == "active")
        .context("a hold to fetch")?;
    let id = to_fetch["hold"]["record"]["id"]
        .as_str()
        .context("id")?
        .to_owned();
    let said = desk.ok(&["hold", "ready", &id])?;
    assert!(said.contains("is now ready"), "{said}");
    desk.ok(&["sync"])?;
    let shelf = desk.json(&["hold", "shelf", "--json"])?;
    let ready = shelf
        .as_array()
        .context("a list")?
        .iter()
        .find(|h| h["hold"]["record"]["id"] == id.as_str())
        .context("still on the shelf")?;
    assert_eq!(ready["hold"]["record"]["status"], "ready");
    assert!(ready["hold"]["record"]["pickup_by"].is_string(), "{ready}");
    assert_eq!(ready["hold"]["pending"], false);
    let out = desk.run(&["hold", "cancel", &id, "--reason", "patron"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    Ok(())
}

/// A vendor's record: title, ISBN (or none) and one author.
fn marc_record(
    control: &str,
    isbn: Option<&str>,
    title: Option<&str>,
) -> shelfmark_core::marc::Record {
    use shelfmark_core::marc::{ControlField, DataField, Record};
    let mut data_fields = Vec::new();
    if let Some(isbn) = isbn {
        data_fields.push(DataField::new("020", ' ', ' ', &[('a', isbn)]));
    }
    data_fields.push(DataField::new("100", '1', ' ', &[('a', "Vendor, Vera,")]));
    if let Some(title) = title {
        data_fields.push(DataField::new("245", '1', '0', &[('a', title)]));
    }
    Record {
        leader: "00000nam a2200000 i 4500".into(),
        control_fields: vec![
            ControlField::new("001", control),
            ControlField::new("003", "XxVendor"),
        ],
        data_fields,
    }
}

#[test]
fn a_marc_batch_imported_at_the_desk_is_previewed_queued_and_created_by_the_next_sync()
-> anyhow::Result<()> {
    let server = DemoServer::start()?;
    let desk = Desk::synced(&server)?;
    let known = desk.json(&["search", "lighthouse", "--json", "--limit", "1"])?;
    let known_isbn = known[0]["isbn"]
        .as_str()
        .context("a demo book's ISBN")?
        .to_owned();
    let file = desk.dir.path().join("vendor.mrc");
    let records = vec![
        marc_record("v1", Some("0306406152"), Some("Signals at Sea /")),
        marc_record("v2", None, Some("A Parish Register.")),
        marc_record("v3", Some(&known_isbn), Some("Already Here")),
        marc_record("v4", Some("9780306406157"), None),
    ];
    let mut bytes = Vec::new();
    shelfmark_marc::write_iso2709(&mut bytes, records)?;
    std::fs::write(&file, bytes)?;
    let path = file.to_str().context("path")?;

    let preview = desk.json(&["import", "marc", path, "--dry-run", "--json"])?;
    assert_eq!(
        (preview["new"].as_u64(), preview["known"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(preview["rejected"][0]["position"], 4);
    assert_eq!(preview["rejected"][0]["control_number"], "v4");
    assert_eq!(preview["queued"], 0);
    assert_eq!(
        desk.status()?["pending_edits"],
        0,
        "a dry run queues nothing"
    );

    let done = desk.json(&["import", "marc", path, "--json"])?;
    assert_eq!(done["queued"], 2);
    assert_eq!(desk.status()?["pending_edits"], 2);
    let found = desk.json(&["search", "signals at sea", "--json"])?;
    assert_eq!(
        found[0]["isbn"], "9780306406157",
        "the ISBN-10 became an ISBN-13"
    );
    // Importing the same file again finds the books already in the catalogue.
    let again = desk.json(&["import", "marc", path, "--dry-run", "--json"])?;
    assert_eq!(
        (again["new"].as_u64(), again["known"].as_u64()),
        (Some(0), Some(3))
    );

    let report = desk.json(&["sync", "--json"])?;
    assert_eq!(report["push"]["pushed"], 2, "{report}");
    let other = Desk::synced(&server)?;
    let theirs = other.json(&["search", "parish register", "--json"])?;
    assert_eq!(theirs[0]["title"], "A Parish Register");
    assert_eq!(
        theirs[0]["isbn"], "",
        "a book without ISBN reached the server"
    );
    Ok(())
}
