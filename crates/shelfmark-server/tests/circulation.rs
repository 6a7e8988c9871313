//! A hold's life and loans (protocol v1.1) on the real server, each scenario on SQLite and on
//! PostgreSQL: ready for pickup (with the patron's mail), collected (a loan), cancelled with a
//! reason, expired by the server itself; check-out and check-in; and the races: a copy never
//! on loan twice, never both held and on loan, a hold never both collected and expired, with
//! two server instances over one database.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use shelfmark_server::Config;
use shelfmark_server::records::Circulation;
use uuid::Uuid;

mod common;
use common::Backend;
use common::server::{
    Server, book_with_copies, etag, get_json, items, new_patron, on_both_backends, place_hold,
    problem, second_instance_with,
};

on_both_backends!(
    a_hold_goes_ready_with_its_pickup_date_and_mail_then_is_collected_as_a_loan,
    a_hold_moves_only_forward_and_a_desk_gives_only_its_own_reasons,
    cancelling_a_ready_hold_for_the_patron_puts_its_copy_back,
    a_check_out_takes_the_copy_and_every_other_check_out_of_it_is_refused,
    a_copy_held_for_the_patron_is_checked_out_to_them_and_fulfils_the_hold,
    a_check_in_needs_the_current_etag_and_puts_the_copy_back,
    a_loan_made_and_returned_while_offline_is_recorded_returned,
    loans_are_listed_by_patron_copy_and_status,
    a_books_contest_lists_every_placement_in_order_and_the_managers_reassignment,
);

/// A time field of a record.
fn times(t: &Value, field: &str) -> DateTime<Utc> {
    t[field]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.to_utc())
        .unwrap_or_else(|| panic!("{field} is a time in {t}"))
}

/// A hold placed for a new patron on a new book with one copy: (hold, its ETag, patron, copy).
async fn placed(s: &Server, n: u32) -> (Value, String, Uuid, Uuid) {
    let (book, copies) = book_with_copies(s, n, 1).await;
    let patron = new_patron(s, "Ada Lovelace", false).await;
    let r = place_hold(&s.base, s, Uuid::now_v7(), patron, book)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let tag = etag(&r);
    (r.json().await.expect("json"), tag, patron, copies[0])
}

/// `PUT /v1/holds/{id}` with `If-Match` and the hold in `status`.
async fn move_hold(s: &Server, hold: &Value, tag: &str, status: &str) -> reqwest::Response {
    let mut next = hold.clone();
    next["status"] = json!(status);
    s.req(
        Method::PUT,
        &format!("/v1/holds/{}", hold["id"].as_str().expect("id")),
    )
    .header(IF_MATCH, tag)
    .json(&next)
    .send()
    .await
    .expect("send")
}

fn check_out(base: &str, s: &Server, loan: Uuid, copy: Uuid, patron: Uuid) -> RequestBuilder {
    s.http
        .put(format!("{base}/v1/loans/{loan}"))
        .bearer_auth(&s.token)
        .header(IF_NONE_MATCH, "*")
        .json(&json!({"copy_id": copy, "patron_id": patron}))
}

async fn copy_status(s: &Server, copy: Uuid) -> String {
    let (c, _) = get_json(s, &format!("/v1/copies/{copy}")).await;
    c["status"].as_str().expect("status").to_owned()
}

async fn a_hold_goes_ready_with_its_pickup_date_and_mail_then_is_collected_as_a_loan(s: Server) {
    let (hold, tag, patron, copy) = placed(&s, 301).await;
    assert_eq!(hold["status"], "active");
    assert_eq!(hold["pickup_branch"], "Riverside", "the patron's branch");
    let placed_at = times(&hold, "placed_at");
    assert!((Utc::now() - placed_at).num_seconds().abs() < 60);

    let before = Utc::now();
    let r = move_hold(&s, &hold, &tag, "ready").await;
    assert_eq!(r.status(), StatusCode::OK);
    let tag = etag(&r);
    let ready: Value = r.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    let pickup_by = times(&ready, "pickup_by");
    let window = pickup_by - times(&ready, "ready_at");
    assert_eq!(
        window,
        chrono::Duration::days(7),
        "the default pickup window"
    );
    assert!(times(&ready, "ready_at") >= before - chrono::Duration::seconds(1));
    assert_eq!(copy_status(&s, copy).await, "held", "still set aside");
    // The patron is told where and until when, in the same transaction.
    let outbox = s.state.store.outbox().await.expect("outbox");
    let mail = outbox
        .iter()
        .find(|m| m.subject.contains("ready for you to collect"))
        .expect("the ready mail");
    assert_eq!(mail.recipients.len(), 1);
    assert!(mail.recipients[0].starts_with("ada.lovelace."));
    let text = mail.raw.replace("=\r\n", "");
    assert!(text.contains("Riverside"), "{text}");
    assert!(
        text.contains(&pickup_by.format("%-d %B %Y").to_string()),
        "{text}"
    );

    let r = move_hold(&s, &ready, &tag, "fulfilled").await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.expect("json");
    assert_eq!(done["status"], "fulfilled");
    assert!(done["fulfilled_at"].is_string());
    let loan_id = done["loan_id"].as_str().expect("a loan");
    let (loan, _) = get_json(&s, &format!("/v1/loans/{loan_id}")).await;
    assert_eq!(loan["status"], "on_loan");
    assert_eq!(loan["patron_id"], json!(patron));
    assert_eq!(loan["copy_id"], json!(copy));
    assert_eq!(loan["hold_id"], hold["id"]);
    let period = times(&loan, "due_at") - times(&loan, "loaned_at");
    assert_eq!(
        period,
        chrono::Duration::days(21),
        "the default loan period"
    );
    assert_eq!(copy_status(&s, copy).await, "on_loan");
    // Every step is in the change feed and in the history.
    let (feed, _) = get_json(&s, "/v1/changes?since=0&limit=5000").await;
    let changes = feed["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["type"] == "loan" && c["id"] == loan_id)
    );
    let r = s
        .as_manager(
            Method::GET,
            &format!("/v1/holds/{}/revisions", hold["id"].as_str().expect("id")),
        )
        .await
        .send()
        .await
        .expect("send");
    let revisions: Vec<Value> = r.json().await.expect("json");
    assert_eq!(revisions.len(), 3, "placed, ready, fulfilled");
}

async fn a_hold_moves_only_forward_and_a_desk_gives_only_its_own_reasons(s: Server) {
    let (hold, tag, _, _) = placed(&s, 302).await;
    let path = format!("/v1/holds/{}", hold["id"].as_str().expect("id"));
    // No precondition: 428; a stale one: 409 with what changed.
    let r = s
        .req(Method::PUT, &path)
        .json(&hold)
        .send()
        .await
        .expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let r = move_hold(&s, &hold, "\"v99\"", "ready").await;
    problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    // The server's own reasons are not a desk's to give.
    let mut expired = hold.clone();
    expired["status"] = json!("cancelled");
    expired["cancel_reason"] = json!("expired");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&expired)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "cancel_reason");
    let r = move_hold(&s, &hold, &tag, "ready").await;
    assert_eq!(r.status(), StatusCode::OK);
    let tag = etag(&r);
    let ready: Value = r.json().await.expect("json");
    // Back to being fetched: no. Collected, then cancelled: no.
    let r = move_hold(&s, &ready, &tag, "active").await;
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
    let r = move_hold(&s, &ready, &tag, "fulfilled").await;
    assert_eq!(r.status(), StatusCode::OK);
    let tag = etag(&r);
    let done: Value = r.json().await.expect("json");
    let r = move_hold(&s, &done, &tag, "cancelled").await;
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "status");
    // The times are the server's: a desk's are ignored.
    let mut forged = done.clone();
    forged["fulfilled_at"] = json!("2001-01-01T00:00:00Z");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&forged)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let kept: Value = r.json().await.expect("json");
    assert_eq!(kept["fulfilled_at"], done["fulfilled_at"]);
}

async fn cancelling_a_ready_hold_for_the_patron_puts_its_copy_back(s: Server) {
    let (hold, tag, _, copy) = placed(&s, 303).await;
    let r = move_hold(&s, &hold, &tag, "ready").await;
    let tag = etag(&r);
    let mut ready: Value = r.json().await.expect("json");
    ready["cancel_reason"] = json!("patron");
    let r = move_hold(&s, &ready, &tag, "cancelled").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled: Value = r.json().await.expect("json");
    assert_eq!(cancelled["cancel_reason"], "patron");
    assert_eq!(copy_status(&s, copy).await, "available");
    // Without a reason, a desk's cancel is staff's.
    let (hold, tag, _, copy) = placed(&s, 304).await;
    let r = move_hold(&s, &hold, &tag, "cancelled").await;
    let cancelled: Value = r.json().await.expect("json");
    assert_eq!(cancelled["cancel_reason"], "staff");
    assert_eq!(copy_status(&s, copy).await, "available");
}

async fn a_check_out_takes_the_copy_and_every_other_check_out_of_it_is_refused(s: Server) {
    let (_, copies) = book_with_copies(&s, 305, 1).await;
    let (ada, bram) = (
        new_patron(&s, "Ada Lovelace", false).await,
        new_patron(&s, "Bram Carrow", false).await,
    );
    let loan = Uuid::now_v7();
    let r = check_out(&s.base, &s, loan, copies[0], ada)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["status"], "on_loan");
    assert!(made["hold_id"].is_null());
    assert_eq!(copy_status(&s, copies[0]).await, "on_loan");
    // The same loan again: 412; another loan of the copy: 409 with the copy as it is.
    let r = check_out(&s.base, &s, loan, copies[0], ada)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::PRECONDITION_FAILED, "precondition-failed").await;
    let r = check_out(&s.base, &s, Uuid::now_v7(), copies[0], bram)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "copy-unavailable").await;
    assert_eq!(p["copy"]["status"], "on_loan");
    assert_eq!(p["copy"]["id"], json!(copies[0]));
    // A copy or patron that does not exist: 400, before anything else.
    let r = check_out(&s.base, &s, Uuid::now_v7(), Uuid::now_v7(), bram)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "copy_id");
    // A copy held for someone else is not the next patron's to take.
    let (hold, _, _, held) = placed(&s, 306).await;
    assert_eq!(hold["copy_id"], json!(held));
    let r = check_out(&s.base, &s, Uuid::now_v7(), held, bram)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "copy-unavailable").await;
    assert_eq!(p["copy"]["status"], "held");
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("held for another patron")
    );
    // No conditional header: 428.
    let r = s
        .req(Method::PUT, &format!("/v1/loans/{}", Uuid::now_v7()))
        .json(&json!({"copy_id": copies[0], "patron_id": bram}))
        .send()
        .await
        .expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
}

async fn a_copy_held_for_the_patron_is_checked_out_to_them_and_fulfils_the_hold(s: Server) {
    let (hold, tag, patron, copy) = placed(&s, 307).await;
    let r = move_hold(&s, &hold, &tag, "ready").await;
    assert_eq!(r.status(), StatusCode::OK);
    let loan = Uuid::now_v7();
    let r = check_out(&s.base, &s, loan, copy, patron)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["hold_id"], hold["id"]);
    let (now, _) = get_json(
        &s,
        &format!("/v1/holds/{}", hold["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(now["status"], "fulfilled");
    assert_eq!(now["loan_id"], json!(loan));
    assert_eq!(copy_status(&s, copy).await, "on_loan");
}

async fn a_check_in_needs_the_current_etag_and_puts_the_copy_back(s: Server) {
    let (_, copies) = book_with_copies(&s, 308, 1).await;
    let patron = new_patron(&s, "Ada Lovelace", false).await;
    let loan = Uuid::now_v7();
    let r = check_out(&s.base, &s, loan, copies[0], patron)
        .send()
        .await
        .expect("send");
    let tag = etag(&r);
    let mut back: Value = r.json().await.expect("json");
    back["status"] = json!("returned");
    let path = format!("/v1/loans/{loan}");
    let r = s
        .req(Method::PUT, &path)
        .json(&back)
        .send()
        .await
        .expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, "\"v99\"")
        .json(&back)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&back)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let tag = etag(&r);
    let returned: Value = r.json().await.expect("json");
    assert_eq!(returned["status"], "returned");
    assert!(returned["returned_at"].is_string());
    assert_eq!(copy_status(&s, copies[0]).await, "available");
    // A returned loan stays returned: the copy goes out again as a new loan.
    let mut again = returned.clone();
    again["status"] = json!("on_loan");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&again)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
    let r = check_out(&s.base, &s, Uuid::now_v7(), copies[0], patron)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_loan_made_and_returned_while_offline_is_recorded_returned(s: Server) {
    let (_, copies) = book_with_copies(&s, 309, 1).await;
    let patron = new_patron(&s, "Ada Lovelace", false).await;
    let loan = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/loans/{loan}"))
        .header(IF_NONE_MATCH, "*")
        .json(&json!({"copy_id": copies[0], "patron_id": patron, "status": "returned"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["status"], "returned");
    assert!(made["returned_at"].is_string() && made["loaned_at"].is_string());
    assert_eq!(copy_status(&s, copies[0]).await, "available");
}

async fn loans_are_listed_by_patron_copy_and_status(s: Server) {
    let (_, copies) = book_with_copies(&s, 310, 2).await;
    let (ada, bram) = (
        new_patron(&s, "Ada Lovelace", false).await,
        new_patron(&s, "Bram Carrow", false).await,
    );
    for (copy, patron) in [(copies[0], ada), (copies[1], bram)] {
        let r = check_out(&s.base, &s, Uuid::now_v7(), copy, patron)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mine = items(&s, &format!("/v1/loans?patron_id={ada}")).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["copy_id"], json!(copies[0]));
    let of_copy = items(&s, &format!("/v1/loans?copy_id={}", copies[1])).await;
    assert_eq!(of_copy.len(), 1);
    assert_eq!(of_copy[0]["patron_id"], json!(bram));
    assert_eq!(items(&s, "/v1/loans?status=on_loan").await.len(), 2);
    assert!(items(&s, "/v1/loans?status=returned").await.is_empty());
    let r = s
        .req(Method::GET, "/v1/loans?status=lost")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
}

// ---------------------------------------------------------------------------------------------
// The server's own expiry, and races across two instances over one database.

/// Settings whose ready holds expire at once, looked at often.
fn expiring() -> Config {
    Config {
        circulation: Circulation {
            pickup_window: chrono::Duration::milliseconds(1),
            ..Circulation::default()
        },
        expiry_interval: Duration::from_millis(50),
        ..Config::default()
    }
}

macro_rules! on_both_backends_with {
    ($sqlite:ident, $postgres:ident, $config:expr; $($name:ident),* $(,)?) => {
        mod $sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = super::Server::start_with(super::Backend::Sqlite, $config).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
        mod $postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = super::Server::start_with(super::Backend::Postgres, $config).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
    };
}

on_both_backends_with!(expiring_sqlite, expiring_postgres, super::expiring();
    a_ready_hold_past_its_pickup_date_expires_by_itself_and_frees_its_copy,
    collecting_and_expiring_one_hold_at_once_across_two_instances_does_one_of_them,
);

on_both_backends_with!(race_sqlite, race_postgres, shelfmark_server::Config::default();
    twenty_check_outs_of_one_copy_across_two_instances_give_one_loan,
    a_hold_and_a_check_out_racing_for_the_last_copy_never_both_win,
);

async fn a_ready_hold_past_its_pickup_date_expires_by_itself_and_frees_its_copy(s: Server) {
    // A second instance expires too: each hold is still expired once.
    let (_other, _stop) = second_instance_with(&s, expiring()).await;
    let (hold, tag, _, copy) = placed(&s, 311).await;
    let r = move_hold(&s, &hold, &tag, "ready").await;
    assert_eq!(r.status(), StatusCode::OK);
    let path = format!("/v1/holds/{}", hold["id"].as_str().expect("id"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let expired = loop {
        let (now, _) = get_json(&s, &path).await;
        if now["status"] == "cancelled" {
            break now;
        }
        assert!(Instant::now() < deadline, "not expired after 10 s: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(expired["cancel_reason"], "expired");
    assert_eq!(copy_status(&s, copy).await, "available");
    let r = s
        .as_manager(Method::GET, &format!("{path}/revisions"))
        .await
        .send()
        .await
        .expect("send");
    let revisions: Vec<Value> = r.json().await.expect("json");
    let cancels = revisions
        .iter()
        .filter(|r| r["data"]["status"] == "cancelled")
        .count();
    assert_eq!(cancels, 1, "expired once: {revisions:?}");
}

async fn collecting_and_expiring_one_hold_at_once_across_two_instances_does_one_of_them(s: Server) {
    let (other, _stop) = second_instance_with(&s, expiring()).await;
    for n in 0..6 {
        let (hold, tag, patron, copy) = placed(&s, 320 + n).await;
        let r = move_hold(&s, &hold, &tag, "ready").await;
        let tag = etag(&r);
        let mut ready: Value = r.json().await.expect("json");
        ready["status"] = json!("fulfilled");
        // The collection goes to the other instance while both expire.
        let r = s
            .http
            .put(format!(
                "{other}/v1/holds/{}",
                hold["id"].as_str().expect("id")
            ))
            .bearer_auth(&s.token)
            .header(IF_MATCH, &tag)
            .json(&ready)
            .send()
            .await
            .expect("send");
        let collected = r.status() == StatusCode::OK;
        if !collected {
            problem(r, StatusCode::CONFLICT, "edit-conflict").await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let end = loop {
            let (now, _) = get_json(
                &s,
                &format!("/v1/holds/{}", hold["id"].as_str().expect("id")),
            )
            .await;
            if now["status"] != "ready" {
                break now;
            }
            assert!(Instant::now() < deadline, "still ready: {now}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let loans = items(&s, &format!("/v1/loans?patron_id={patron}")).await;
        let status = copy_status(&s, copy).await;
        if collected {
            assert_eq!(end["status"], "fulfilled");
            assert_eq!((loans.len(), status.as_str()), (1, "on_loan"));
        } else {
            assert_eq!(
                (end["status"].as_str(), end["cancel_reason"].as_str()),
                (Some("cancelled"), Some("expired"))
            );
            assert_eq!((loans.len(), status.as_str()), (0, "available"));
        }
    }
}

async fn twenty_check_outs_of_one_copy_across_two_instances_give_one_loan(s: Server) {
    let (other, _stop) = second_instance_with(&s, Config::default()).await;
    let (_, copies) = book_with_copies(&s, 330, 1).await;
    let mut patrons = Vec::new();
    for i in 0..20 {
        patrons.push(new_patron(&s, &format!("Reader {i}"), false).await);
    }
    let mut tasks = Vec::new();
    for (i, patron) in patrons.iter().enumerate() {
        let base = if i % 2 == 0 {
            s.base.clone()
        } else {
            other.clone()
        };
        let request = check_out(&base, &s, Uuid::now_v7(), copies[0], *patron);
        tasks.push(tokio::spawn(async move {
            request.send().await.expect("send").status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, 19), "{statuses:?}");
    let open = items(
        &s,
        &format!("/v1/loans?copy_id={}&status=on_loan", copies[0]),
    )
    .await;
    assert_eq!(open.len(), 1, "one loan of the copy");
    assert_eq!(copy_status(&s, copies[0]).await, "on_loan");
}

async fn a_hold_and_a_check_out_racing_for_the_last_copy_never_both_win(s: Server) {
    let (other, _stop) = second_instance_with(&s, Config::default()).await;
    for n in 0..8 {
        let (book, copies) = book_with_copies(&s, 340 + n, 1).await;
        let (ada, bram) = (
            new_patron(&s, "Ada Lovelace", false).await,
            new_patron(&s, "Bram Carrow", false).await,
        );
        let hold = place_hold(&s.base, &s, Uuid::now_v7(), ada, book);
        let loan = check_out(&other, &s, Uuid::now_v7(), copies[0], bram);
        let (h, l) = tokio::join!(hold.send(), loan.send());
        let (h, l) = (h.expect("send").status(), l.expect("send").status());
        let status = copy_status(&s, copies[0]).await;
        let holds = items(&s, &format!("/v1/holds?book_id={book}&status=active")).await;
        let loans = items(
            &s,
            &format!("/v1/loans?copy_id={}&status=on_loan", copies[0]),
        )
        .await;
        match (h, l) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                assert_eq!((status.as_str(), holds.len(), loans.len()), ("held", 1, 0));
            }
            (StatusCode::CONFLICT, StatusCode::CREATED) => {
                assert_eq!(
                    (status.as_str(), holds.len(), loans.len()),
                    ("on_loan", 0, 1)
                );
            }
            other => panic!("exactly one of them wins: {other:?}"),
        }
    }
}

async fn a_books_contest_lists_every_placement_in_order_and_the_managers_reassignment(s: Server) {
    let (book, copies) = book_with_copies(&s, 350, 1).await;
    let (ann, bob, vera) = (
        new_patron(&s, "Ann Early", false).await,
        new_patron(&s, "Bob Later", false).await,
        new_patron(&s, "Vera Premium", true).await,
    );
    let mut holds = Vec::new();
    for patron in [ann, bob, vera] {
        let id = Uuid::now_v7();
        let r = place_hold(&s.base, &s, id, patron, book)
            .send()
            .await
            .expect("send");
        holds.push((id, r.status(), r.json::<Value>().await.expect("json")));
    }
    assert_eq!(holds[0].1, StatusCode::CREATED);
    assert_eq!(
        (holds[1].1, holds[2].1),
        (StatusCode::CONFLICT, StatusCode::CONFLICT)
    );
    let escalation = holds[2].2["escalation_id"]
        .as_str()
        .expect("escalated")
        .to_owned();
    // Vera's desk retries the same hold: the same answer, no second line.
    let r = place_hold(&s.base, &s, holds[2].0, vera, book)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The manager gives Ann's copy to Vera.
    let (_, tag) = get_json(&s, &format!("/v1/escalations/{escalation}")).await;
    let r = s
        .as_manager(
            Method::POST,
            &format!("/v1/escalations/{escalation}/reassign"),
        )
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": holds[0].0, "note": "Vera is housebound"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let settled: Value = r.json().await.expect("json");
    let new_hold = settled["hold"]["id"].clone();

    let r = s
        .req(Method::GET, &format!("/v1/books/{book}/contests"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK, "librarians may read it");
    let contest: Value = r.json().await.expect("json");
    let entries = contest.as_array().expect("a list");
    let line = |e: &Value| {
        (
            e["patron_id"].clone(),
            e["outcome"].as_str().unwrap_or_default().to_owned(),
            e["patron_premium"].as_bool(),
        )
    };
    assert_eq!(
        entries.iter().map(line).collect::<Vec<_>>(),
        [
            (json!(ann), "won".to_owned(), Some(false)),
            (json!(bob), "lost".to_owned(), Some(false)),
            (json!(vera), "lost".to_owned(), Some(true)),
            (json!(vera), "reassigned".to_owned(), Some(true)),
        ],
        "in the order decided: {contest}"
    );
    assert_eq!(entries[0]["copy_id"], json!(copies[0]));
    assert_eq!(entries[0]["hold_id"], json!(holds[0].0));
    assert!(entries[1]["escalation_id"].is_null());
    assert_eq!(entries[2]["escalation_id"], json!(escalation));
    let moved = &entries[3];
    assert_eq!(
        (
            &moved["from_hold_id"],
            &moved["to_hold_id"],
            &moved["copy_id"],
            &moved["by"],
            &moved["note"]
        ),
        (
            &json!(holds[0].0),
            &new_hold,
            &json!(copies[0]),
            &json!("manager"),
            &json!("Vera is housebound")
        )
    );
    let r = s
        .req(
            Method::GET,
            &format!("/v1/books/{}/contests", Uuid::now_v7()),
        )
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
}
