//! The protocol's "Integrity" rules (v1.1) on the real server, each scenario on SQLite and on
//! PostgreSQL: a record others depend on is not deleted (`409 in-use` with its dependents,
//! decided after the preconditions), a `PUT` is an update only with `If-Match`, and text fields
//! refuse control characters while email addresses may be internationalised.

use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

mod common;
use common::Backend;
use common::server::{
    Server, book, book_with_copies, copy, etag, get_json, new_patron, on_both_backends, place_hold,
    problem,
};

on_both_backends!(
    a_book_with_copies_is_not_deleted_and_the_answer_lists_them,
    a_stale_delete_of_a_book_in_use_is_an_edit_conflict_and_one_without_if_match_a_428,
    a_copy_with_an_open_hold_or_loan_is_not_deleted_until_they_end,
    a_patron_with_open_holds_loans_or_escalations_is_not_deleted,
    if_none_match_star_on_an_existing_record_is_412_even_with_if_match,
    a_put_with_an_if_none_match_tag_list_and_no_if_match_is_428,
    text_fields_refuse_control_characters_and_emails_may_be_international,
);

async fn delete(s: &Server, path: &str, tag: &str) -> reqwest::Response {
    s.req(Method::DELETE, path)
        .header(IF_MATCH, tag)
        .send()
        .await
        .expect("send")
}

/// The `dependents` of an `in-use` answer, as `(type, count, ids)`.
fn dependents(p: &Value) -> Vec<(String, u64, Vec<String>)> {
    p["dependents"]
        .as_array()
        .expect("dependents")
        .iter()
        .map(|d| {
            let ids = d["ids"].as_array().expect("ids");
            (
                d["type"].as_str().expect("type").to_owned(),
                d["count"].as_u64().expect("count"),
                ids.iter()
                    .map(|i| i.as_str().expect("id").to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn check_out(s: &Server, loan: Uuid, copy: Uuid, patron: Uuid) -> reqwest::RequestBuilder {
    s.req(Method::PUT, &format!("/v1/loans/{loan}"))
        .header(IF_NONE_MATCH, "*")
        .json(&json!({"copy_id": copy, "patron_id": patron}))
}

async fn a_book_with_copies_is_not_deleted_and_the_answer_lists_them(s: Server) {
    let (book_id, mut copies) = book_with_copies(&s, 101, 21).await;
    copies.sort();
    let path = format!("/v1/books/{book_id}");
    let (_, tag) = get_json(&s, &path).await;
    let p = problem(
        delete(&s, &path, &tag).await,
        StatusCode::CONFLICT,
        "in-use",
    )
    .await;
    let listed = dependents(&p);
    assert_eq!(listed.len(), 1, "{p}");
    let (kind, count, ids) = &listed[0];
    assert_eq!((kind.as_str(), *count), ("copy", 21));
    let first: Vec<String> = copies.iter().take(20).map(Uuid::to_string).collect();
    assert_eq!(ids, &first, "the first twenty, by id");
    assert_eq!(
        p["detail"],
        "This book still has 21 copies: delete them first."
    );
    // Nothing changed: the book is there at the same version.
    let (_, still) = get_json(&s, &path).await;
    assert_eq!(still, tag);

    // Without its copies the book goes; a deleted copy is no dependent.
    for id in &copies {
        let copy_path = format!("/v1/copies/{id}");
        let (_, t) = get_json(&s, &copy_path).await;
        assert_eq!(
            delete(&s, &copy_path, &t).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        delete(&s, &path, &tag).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn a_stale_delete_of_a_book_in_use_is_an_edit_conflict_and_one_without_if_match_a_428(
    s: Server,
) {
    let (book_id, _) = book_with_copies(&s, 102, 1).await;
    let path = format!("/v1/books/{book_id}");
    let (_, v1) = get_json(&s, &path).await;
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &v1)
        .json(&book(book_id, 102, "Renamed"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    // Preconditions come before the business rule: a stale tag is a conflict to merge.
    let p = problem(
        delete(&s, &path, &v1).await,
        StatusCode::CONFLICT,
        "edit-conflict",
    )
    .await;
    assert_eq!(p["current"]["title"], "Renamed");
    let r = s.req(Method::DELETE, &path).send().await.expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    // Authentication before everything.
    let r = s
        .http
        .delete(s.url(&path))
        .header(IF_MATCH, "*")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // `If-Match: *` matches, and the book is in use.
    problem(delete(&s, &path, "*").await, StatusCode::CONFLICT, "in-use").await;
}

async fn a_copy_with_an_open_hold_or_loan_is_not_deleted_until_they_end(s: Server) {
    let (book_id, copies) = book_with_copies(&s, 103, 1).await;
    let copy_path = format!("/v1/copies/{}", copies[0]);
    let patron = new_patron(&s, "Hilda Holder", false).await;

    // An active hold has the copy.
    let hold = Uuid::now_v7();
    let r = place_hold(&s.base, &s, hold, patron, book_id)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, tag) = get_json(&s, &copy_path).await;
    let p = problem(
        delete(&s, &copy_path, &tag).await,
        StatusCode::CONFLICT,
        "in-use",
    )
    .await;
    assert_eq!(
        dependents(&p),
        [("hold".to_owned(), 1, vec![hold.to_string()])]
    );

    // Ready on the hold shelf: still open.
    let hold_path = format!("/v1/holds/{hold}");
    let (mut h, hold_tag) = get_json(&s, &hold_path).await;
    h["status"] = json!("ready");
    let r = s
        .req(Method::PUT, &hold_path)
        .header(IF_MATCH, &hold_tag)
        .json(&h)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let (_, tag) = get_json(&s, &copy_path).await;
    problem(
        delete(&s, &copy_path, &tag).await,
        StatusCode::CONFLICT,
        "in-use",
    )
    .await;

    // Checked out to the patron (the hold fulfilled): the open loan has the copy now.
    let loan = Uuid::now_v7();
    let r = check_out(&s, loan, copies[0], patron)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, tag) = get_json(&s, &copy_path).await;
    let p = problem(
        delete(&s, &copy_path, &tag).await,
        StatusCode::CONFLICT,
        "in-use",
    )
    .await;
    assert_eq!(
        dependents(&p),
        [("loan".to_owned(), 1, vec![loan.to_string()])]
    );
    assert_eq!(
        p["detail"],
        "This copy still has 1 open loan: check it in first."
    );

    // Checked in: a returned loan and a fulfilled hold are history, not dependents.
    let loan_path = format!("/v1/loans/{loan}");
    let (mut l, loan_tag) = get_json(&s, &loan_path).await;
    l["status"] = json!("returned");
    let r = s
        .req(Method::PUT, &loan_path)
        .header(IF_MATCH, &loan_tag)
        .json(&l)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let (_, tag) = get_json(&s, &copy_path).await;
    assert_eq!(
        delete(&s, &copy_path, &tag).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn a_patron_with_open_holds_loans_or_escalations_is_not_deleted(s: Server) {
    let (book_id, copies) = book_with_copies(&s, 104, 2).await;
    let (lost_book, _) = s.new_book(105, "No Copies At All").await;
    let patron = new_patron(&s, "Petra Premium", true).await;
    let patron_path = format!("/v1/patrons/{patron}");
    let hold = Uuid::now_v7();
    let r = place_hold(&s.base, &s, hold, patron, book_id)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let held: Value = r.json().await.expect("json");
    let free = copies
        .iter()
        .find(|c| held["copy_id"] != json!(c))
        .expect("the other copy");
    let loan = Uuid::now_v7();
    let r = check_out(&s, loan, *free, patron)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = place_hold(&s.base, &s, Uuid::now_v7(), patron, lost_book)
        .send()
        .await
        .expect("send");
    let lost = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    let escalation = lost["escalation_id"]
        .as_str()
        .expect("escalation")
        .to_owned();

    let (_, tag) = get_json(&s, &patron_path).await;
    let p = problem(
        delete(&s, &patron_path, &tag).await,
        StatusCode::CONFLICT,
        "in-use",
    )
    .await;
    assert_eq!(
        dependents(&p),
        [
            ("hold".to_owned(), 1, vec![hold.to_string()]),
            ("loan".to_owned(), 1, vec![loan.to_string()]),
            ("escalation".to_owned(), 1, vec![escalation]),
        ]
    );
    assert_eq!(
        p["detail"],
        "This patron still has 1 open hold, 1 open loan and 1 open escalation: cancel the \
         hold, check the loan in and resolve the escalation first."
    );
    // A patron with nothing open goes.
    let other = new_patron(&s, "Quiet Reader", false).await;
    let other_path = format!("/v1/patrons/{other}");
    let (_, tag) = get_json(&s, &other_path).await;
    assert_eq!(
        delete(&s, &other_path, &tag).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn if_none_match_star_on_an_existing_record_is_412_even_with_if_match(s: Server) {
    let (id, v1) = s.new_book(106, "Existing").await;
    let path = format!("/v1/books/{id}");
    for if_match in [v1.as_str(), "\"v99\"", "*"] {
        let r = s
            .req(Method::PUT, &path)
            .header(IF_MATCH, if_match)
            .header(IF_NONE_MATCH, "*")
            .json(&book(id, 106, "Overwritten?"))
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::PRECONDITION_FAILED, "precondition-failed").await;
    }
    let (stored, now) = get_json(&s, &path).await;
    assert_eq!((stored["title"].as_str(), now), (Some("Existing"), v1));
    // With If-Match on an id that does not exist, the target's absence answers first.
    let missing = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/books/{missing}"))
        .header(IF_MATCH, "\"v1\"")
        .header(IF_NONE_MATCH, "*")
        .json(&book(missing, 107, "Ghost"))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    // Holds and loans follow the same rule.
    let (book_id, copies) = book_with_copies(&s, 108, 1).await;
    let patron = new_patron(&s, "Ina Nonematch", false).await;
    let hold = Uuid::now_v7();
    let r = place_hold(&s.base, &s, hold, patron, book_id)
        .send()
        .await
        .expect("send");
    let hold_tag = etag(&r);
    let placed: Value = r.json().await.expect("json");
    let r = s
        .req(Method::PUT, &format!("/v1/holds/{hold}"))
        .header(IF_MATCH, &hold_tag)
        .header(IF_NONE_MATCH, "*")
        .json(&placed)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::PRECONDITION_FAILED, "precondition-failed").await;
    let loan = Uuid::now_v7();
    let r = check_out(&s, loan, copies[0], patron)
        .send()
        .await
        .expect("send");
    let loan_tag = etag(&r);
    let mut back: Value = r.json().await.expect("json");
    back["status"] = json!("returned");
    let r = s
        .req(Method::PUT, &format!("/v1/loans/{loan}"))
        .header(IF_MATCH, &loan_tag)
        .header(IF_NONE_MATCH, "*")
        .json(&back)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::PRECONDITION_FAILED, "precondition-failed").await;
}

async fn a_put_with_an_if_none_match_tag_list_and_no_if_match_is_428(s: Server) {
    let (id, v1) = s.new_book(109, "Tagged").await;
    let path = format!("/v1/books/{id}");
    let fresh = Uuid::now_v7();
    for (target, list) in [
        (id, "\"v99\""),
        (id, v1.as_str()),
        (fresh, "\"v1\", \"v2\""),
    ] {
        let r = s
            .req(Method::PUT, &format!("/v1/books/{target}"))
            .header(IF_NONE_MATCH, list)
            .json(&book(target, 110, "Written over?"))
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
    let (stored, _) = get_json(&s, &path).await;
    assert_eq!(stored["title"], "Tagged");
    let gone = s
        .req(Method::GET, &format!("/v1/books/{fresh}"))
        .send()
        .await
        .expect("send");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND, "nothing was created");
    // The same for a hold.
    let (book_id, _) = book_with_copies(&s, 111, 1).await;
    let patron = new_patron(&s, "Tom Taglist", false).await;
    let hold = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/holds/{hold}"))
        .header(IF_NONE_MATCH, "\"v1\"")
        .json(&json!({"patron_id": patron, "book_id": book_id}))
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

async fn text_fields_refuse_control_characters_and_emails_may_be_international(s: Server) {
    let put_new = |path: String, body: Value| {
        s.req(Method::PUT, &path)
            .header(IF_NONE_MATCH, "*")
            .json(&body)
            .send()
    };
    let fields = |p: &Value| -> Vec<String> {
        p["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect()
    };
    let id = Uuid::now_v7();
    let mut b = book(id, 112, "Forged\r\n2026-01-01 INFO admin signed in");
    b["notes"] = json!("bell\u{7}");
    b["summary"] = json!("Two lines,\nand a\ttab: fine.");
    let r = put_new(format!("/v1/books/{id}"), b.clone())
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(fields(&p), ["title", "notes"]);
    b["title"] = json!("Clean Title");
    b["notes"] = json!("Line one\r\nLine two");
    let r = put_new(format!("/v1/books/{id}"), b).await.expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);

    let cid = Uuid::now_v7();
    let mut c = copy(cid, id, "3100-112");
    c["call_number"] = json!("635\u{1b}[31m");
    let r = put_new(format!("/v1/copies/{cid}"), c).await.expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(fields(&p), ["call_number"]);

    let patron = |name: &str, email: &str| {
        json!({"name": name, "email": email, "premium": false, "branch": "Central",
               "notes": "Prefers\nlarge print"})
    };
    for email in ["zoë@exämple.de", "用户@例子.广告", "ada@example.org"] {
        let pid = Uuid::now_v7();
        let r = put_new(format!("/v1/patrons/{pid}"), patron("Zoë Ünal", email))
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "{email}");
    }
    for (name, email, field) in [
        ("Ada", "ada@localhost", "email"),
        ("Ada", "ada at example.org", "email"),
        ("Ada", "ada@example.org\r\nBcc: eve@example.org", "email"),
        ("Ada\nLovelace", "ada@example.org", "name"),
    ] {
        let pid = Uuid::now_v7();
        let r = put_new(format!("/v1/patrons/{pid}"), patron(name, email))
            .await
            .expect("send");
        let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
        assert_eq!(fields(&p), [field], "{name:?} {email:?}");
    }
}
