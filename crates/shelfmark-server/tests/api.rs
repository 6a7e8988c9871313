//! The server's integration tests: the real server on a loopback port (port 0), spoken to over
//! HTTP with reqwest, each scenario run against SQLite and against PostgreSQL.
//!
//! PostgreSQL runs when `SHELFMARK_TEST_POSTGRES_URL` names a database (`scripts/postgres.sh`
//! prints one); each test then works in a schema of its own, so tests run in parallel.
//! Without it the PostgreSQL variants say so on stderr and pass, and so do the SMTP tests
//! without aiosmtpd; when `CI` is set, both fail instead.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shelfmark_core::isbn;

use shelfmark_server::store::Store;
use shelfmark_server::{AppState, Config, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

mod common;
use common::server::{
    Server, book, book_with_copies, copy, etag, get_json, items, new_patron, on_both_backends,
    place_hold, problem, second_instance,
};
use common::{Backend, PASSWORD, TestDb, missing};

on_both_backends!(
    logging_in_gives_a_token_and_anything_else_needs_one,
    create_answers_201_with_etag_and_location_then_412_for_an_existing_id,
    get_is_conditional_with_strong_etags_lists_and_star,
    update_needs_the_current_etag_and_a_stale_one_gets_a_mergeable_409,
    writes_without_a_precondition_answer_428,
    errors_come_in_the_protocols_order_of_evaluation,
    invalid_records_answer_400_with_field_errors_never_409,
    unique_isbns_and_barcodes_answer_409_duplicate,
    books_without_an_isbn_are_many_and_none_is_a_duplicate,
    bodies_over_the_limit_answer_413,
    unknown_routes_and_methods_answer_problem_json,
    delete_is_conditional_and_a_deleted_record_is_gone,
    the_change_feed_carries_each_record_once_with_its_latest_state,
    collections_page_with_cursors_filter_and_search,
    a_copy_must_belong_to_an_existing_book,
    a_history_is_newest_first_and_names_each_author_by_id_and_name,
    a_librarian_reads_the_history_of_books_copies_and_holds_and_a_manager_that_of_patrons,
    concurrent_puts_on_one_etag_give_exactly_one_success,
    the_binary_seeds_the_demo_library_once_and_prints_its_address,
    hostile_inputs_never_get_a_500,
    fifty_concurrent_holds_on_three_copies_give_three_winners_on_one_server,
    fifty_concurrent_holds_on_three_copies_give_three_winners_across_two_instances,
    the_database_refuses_a_second_active_hold_on_one_copy,
    a_retried_lost_hold_gets_the_same_escalation_and_no_second_mail,
    cancelling_a_hold_frees_its_copy_for_the_next_patron,
    reassign_gives_the_copy_to_the_premium_patron_and_mails_the_one_who_lost_it,
    escalation_actions_are_for_managers_and_need_the_current_etag,
    a_reassign_that_fails_halfway_changes_nothing,
    a_reassign_of_a_hold_deleted_meanwhile_is_a_conflict_and_changes_nothing,
    a_flagged_purchase_gives_the_next_new_copy_to_the_waiting_patron,
    resolve_closes_an_escalation_with_a_note_once,
    without_smtp_mails_are_spooled_as_eml_files,
    patrons_have_a_unique_card_found_by_scanning_and_only_a_manager_grants_premium,
);

async fn logging_in_gives_a_token_and_anything_else_needs_one(s: Server) {
    let bad = s
        .http
        .post(s.url("/v1/sessions"))
        .json(&json!({"username": "librarian", "password": "wrong"}))
        .send()
        .await
        .expect("send");
    problem(bad, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = s
        .http
        .post(s.url("/v1/sessions"))
        .json(&json!({"username": "nobody", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    problem(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let malformed = s
        .http
        .post(s.url("/v1/sessions"))
        .body("{\"username\":")
        .send()
        .await
        .expect("send");
    problem(malformed, StatusCode::BAD_REQUEST, "validation").await;

    let good = s
        .http
        .post(s.url("/v1/sessions"))
        .json(&json!({"username": "manager", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(good.status(), StatusCode::CREATED);
    let body: Value = good.json().await.expect("json");
    assert_eq!(body["user"]["name"], "manager");
    assert_eq!(body["user"]["role"], "manager");
    assert!(body["user"]["id"].is_string());

    let none = s.http.get(s.url("/v1/books")).send().await.expect("send");
    assert!(none.headers().contains_key("www-authenticate"));
    problem(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let forged = s
        .http
        .get(s.url("/v1/changes"))
        .header(AUTHORIZATION, "Bearer not-a-token")
        .send()
        .await
        .expect("send");
    problem(forged, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let ok = s.req(Method::GET, "/v1/books").send().await.expect("send");
    assert_eq!(ok.status(), StatusCode::OK);
}

async fn create_answers_201_with_etag_and_location_then_412_for_an_existing_id(s: Server) {
    let id = Uuid::now_v7();
    let path = format!("/v1/books/{id}");
    let mut body = book(id, 1, "Signals");
    body["isbn"] = json!("978-0-306-40615-7");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_NONE_MATCH, "*")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some(path.as_str())
    );
    let tag = etag(&r);
    assert!(tag.starts_with('"') && !tag.starts_with("W/"));
    let stored: Value = r.json().await.expect("json");
    assert_eq!(
        stored["isbn"], "9780306406157",
        "the ISBN is stored normalised"
    );

    let again = s
        .req(Method::PUT, &path)
        .header(IF_NONE_MATCH, "*")
        .json(&body)
        .send()
        .await
        .expect("send");
    problem(
        again,
        StatusCode::PRECONDITION_FAILED,
        "precondition-failed",
    )
    .await;

    // The id may be left out of the body: the path names it.
    let pid = Uuid::now_v7();
    s.create(
        &format!("/v1/patrons/{pid}"),
        &json!({"name": "Rosa Duval", "email": "rosa@example.org", "premium": false, "branch": "Central"}),
    )
    .await;
}

async fn get_is_conditional_with_strong_etags_lists_and_star(s: Server) {
    let (id, tag) = s.new_book(2, "Tides").await;
    let path = format!("/v1/books/{id}");
    let r = s.req(Method::GET, &path).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(etag(&r), tag);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["title"], "Tides");

    for header in [
        tag.clone(),
        "*".into(),
        format!("\"nope\", {tag}"),
        format!("W/{tag}"),
    ] {
        let r = s
            .req(Method::GET, &path)
            .header(IF_NONE_MATCH, &header)
            .send()
            .await
            .expect("send");
        assert_eq!(
            r.status(),
            StatusCode::NOT_MODIFIED,
            "If-None-Match: {header}"
        );
        assert_eq!(etag(&r), tag);
        assert!(r.bytes().await.expect("body").is_empty());
    }
    let r = s
        .req(Method::GET, &path)
        .header(IF_NONE_MATCH, "\"v999\"")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    let head = s.req(Method::HEAD, &path).send().await.expect("send");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(etag(&head), tag);
    assert!(head.bytes().await.expect("body").is_empty());

    let missing = s
        .req(Method::GET, &format!("/v1/books/{}", Uuid::now_v7()))
        .send()
        .await
        .expect("send");
    problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    let not_an_id = s
        .req(Method::GET, "/v1/books/not-a-uuid")
        .send()
        .await
        .expect("send");
    problem(not_an_id, StatusCode::NOT_FOUND, "not-found").await;

    // A collection is conditional too.
    let list = s.req(Method::GET, "/v1/books").send().await.expect("send");
    let list_tag = etag(&list);
    let again = s
        .req(Method::GET, "/v1/books")
        .header(IF_NONE_MATCH, &list_tag)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

async fn update_needs_the_current_etag_and_a_stale_one_gets_a_mergeable_409(s: Server) {
    let (id, v1) = s.new_book(3, "First title").await;
    let path = format!("/v1/books/{id}");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &v1)
        .json(&book(id, 3, "Second title"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    assert_ne!(v1, v2);
    let stored: Value = r.json().await.expect("json");
    assert_eq!(stored["title"], "Second title");

    // Stale: the answer carries the current state and the base the client named.
    let stale = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &v1)
        .json(&book(id, 3, "Third title"))
        .send()
        .await
        .expect("send");
    let p = problem(stale, StatusCode::CONFLICT, "edit-conflict").await;
    assert_eq!(p["current"]["title"], "Second title");
    assert_eq!(p["current_etag"], v2);
    assert_eq!(p["base"]["title"], "First title");
    assert_eq!(p["base_etag"], v1);

    // A tag the history does not know: base is null. A weak tag never matches.
    for tag in ["\"zzz\"".to_owned(), format!("W/{v2}")] {
        let r = s
            .req(Method::PUT, &path)
            .header(IF_MATCH, &tag)
            .json(&book(id, 3, "Third title"))
            .send()
            .await
            .expect("send");
        let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
        assert!(p["base"].is_null() && p["base_etag"].is_null());
        assert_eq!(p["current_etag"], v2);
    }

    // One of several tags matching is enough; `*` matches any state.
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, format!("{v1}, {v2}"))
        .json(&book(id, 3, "Third title"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, "*")
        .json(&book(id, 3, "Fourth title"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let now = s.req(Method::GET, &path).send().await.expect("send");
    assert_eq!(etag(&now), etag(&r));
}

async fn writes_without_a_precondition_answer_428(s: Server) {
    let (id, _) = s.new_book(4, "Unconditional").await;
    let path = format!("/v1/books/{id}");
    let put = s
        .req(Method::PUT, &path)
        .json(&book(id, 4, "Lost update"))
        .send()
        .await
        .expect("send");
    problem(
        put,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let fresh = Uuid::now_v7();
    let put_new = s
        .req(Method::PUT, &format!("/v1/books/{fresh}"))
        .json(&book(fresh, 5, "No header"))
        .send()
        .await
        .expect("send");
    problem(
        put_new,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let del = s.req(Method::DELETE, &path).send().await.expect("send");
    problem(
        del,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let del_missing = s
        .req(Method::DELETE, &format!("/v1/books/{fresh}"))
        .send()
        .await
        .expect("send");
    problem(del_missing, StatusCode::NOT_FOUND, "not-found").await;
}

async fn errors_come_in_the_protocols_order_of_evaluation(s: Server) {
    let missing = Uuid::now_v7();
    // No token beats everything else.
    let r = s
        .http
        .put(s.url(&format!("/v1/books/{missing}")))
        .header(IF_MATCH, "\"v1\"")
        .body("not json")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A stale If-Match on an id that does not exist: 404.
    let r = s
        .req(Method::PUT, &format!("/v1/books/{missing}"))
        .header(IF_MATCH, "\"v7\"")
        .json(&book(missing, 6, "Ghost"))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    // A stale If-Match and an invalid body: 400.
    let (id, _) = s.new_book(7, "Real").await;
    let mut invalid = book(id, 7, "");
    invalid["title"] = json!("");
    let r = s
        .req(Method::PUT, &format!("/v1/books/{id}"))
        .header(IF_MATCH, "\"v42\"")
        .json(&invalid)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
    // A stale If-Match on a write that would break uniqueness anyway: the duplicate.
    let (other, _) = s.new_book(8, "Other").await;
    let r = s
        .req(Method::PUT, &format!("/v1/books/{id}"))
        .header(IF_MATCH, "\"v42\"")
        .json(&book(id, 8, "Real"))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "duplicate").await;
    assert_eq!(p["existing_id"], other.to_string());
}

async fn invalid_records_answer_400_with_field_errors_never_409(s: Server) {
    let id = Uuid::now_v7();
    let path = format!("/v1/books/{id}");
    let mut bad = book(id, 9, "");
    bad["isbn"] = json!("9780306406158");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_NONE_MATCH, "*")
        .json(&bad)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["isbn", "title"]);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("check digit")
    );

    let mut wrong_type = book(id, 9, "Typed");
    wrong_type["year"] = json!("nineteen");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_NONE_MATCH, "*")
        .json(&wrong_type)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "year");

    let mut other_id = book(id, 9, "Mismatch");
    other_id["id"] = json!(Uuid::now_v7());
    for body in [
        "{\"title\": ".to_owned(),
        "[1, 2]".to_owned(),
        "null".to_owned(),
        other_id.to_string(),
        json!({"id": id, "title": "No ISBN"}).to_string(),
        json!({"id": id, "isbn": isbn::from_body(9), "title": "T", "authors": [""]}).to_string(),
    ] {
        let r = s
            .req(Method::PUT, &path)
            .header(IF_NONE_MATCH, "*")
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::BAD_REQUEST, "validation").await;
    }
    let pid = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/patrons/{pid}"))
        .header(IF_NONE_MATCH, "*")
        .json(&json!({"name": "X", "email": "not-an-email", "branch": "Central"}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "email");
    for query in ["limit=0", "limit=abc", "cursor=%%%", "since=-1"] {
        let path = if query.starts_with("since") {
            "/v1/changes"
        } else {
            "/v1/books"
        };
        let r = s
            .req(Method::GET, &format!("{path}?{query}"))
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::BAD_REQUEST, "validation").await;
    }
}

async fn unique_isbns_and_barcodes_answer_409_duplicate(s: Server) {
    let (first, _) = s.new_book(10, "Original").await;
    let id = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/books/{id}"))
        .header(IF_NONE_MATCH, "*")
        .json(&book(id, 10, "Copycat"))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "duplicate").await;
    assert_eq!(p["existing_id"], first.to_string());

    let c1 = Uuid::now_v7();
    s.create(&format!("/v1/copies/{c1}"), &copy(c1, first, "B-1"))
        .await;
    let c2 = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/copies/{c2}"))
        .header(IF_NONE_MATCH, "*")
        .json(&copy(c2, first, "B-1"))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "duplicate").await;
    assert_eq!(p["existing_id"], c1.to_string());
    // Once the first copy is deleted, its barcode is free again.
    let tag = etag(
        &s.req(Method::GET, &format!("/v1/copies/{c1}"))
            .send()
            .await
            .expect("send"),
    );
    let del = s
        .req(Method::DELETE, &format!("/v1/copies/{c1}"))
        .header(IF_MATCH, tag)
        .send()
        .await
        .expect("send");
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    s.create(&format!("/v1/copies/{c2}"), &copy(c2, first, "B-1"))
        .await;
}

async fn books_without_an_isbn_are_many_and_none_is_a_duplicate(s: Server) {
    for title in ["An Old Almanac", "A Parish Register"] {
        let id = Uuid::now_v7();
        let mut body = book(id, 0, title);
        body["isbn"] = json!("");
        s.create(&format!("/v1/books/{id}"), &body).await;
        let (got, _) = get_json(&s, &format!("/v1/books/{id}")).await;
        assert_eq!(got["isbn"], "", "{got}");
    }
}

async fn bodies_over_the_limit_answer_413(s: Server) {
    let id = Uuid::now_v7();
    let mut big = book(id, 11, "Huge");
    big["summary"] = json!("x".repeat(1024 * 1024 + 10));
    let r = s
        .req(Method::PUT, &format!("/v1/books/{id}"))
        .header(IF_NONE_MATCH, "*")
        .json(&big)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    // Just under the limit is fine.
    big["summary"] = json!("x".repeat(1000 * 1000));
    let r = s
        .req(Method::PUT, &format!("/v1/books/{id}"))
        .header(IF_NONE_MATCH, "*")
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn unknown_routes_and_methods_answer_problem_json(s: Server) {
    let r = s
        .req(Method::GET, "/v1/nothing-here")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = s.req(Method::POST, "/v1/books").send().await.expect("send");
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    let r = s
        .req(Method::PATCH, "/v1/changes")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
}

async fn delete_is_conditional_and_a_deleted_record_is_gone(s: Server) {
    let (id, v1) = s.new_book(12, "Ephemeral").await;
    let path = format!("/v1/books/{id}");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &v1)
        .json(&book(id, 12, "Ephemeral, revised"))
        .send()
        .await
        .expect("send");
    let v2 = etag(&r);
    let stale = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, &v1)
        .send()
        .await
        .expect("send");
    let p = problem(stale, StatusCode::CONFLICT, "edit-conflict").await;
    assert_eq!(p["current"]["title"], "Ephemeral, revised");
    assert_eq!(p["base"]["title"], "Ephemeral");
    let r = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, &v2)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let gone = s.req(Method::GET, &path).send().await.expect("send");
    problem(gone, StatusCode::NOT_FOUND, "not-found").await;
    let again = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, &v2)
        .send()
        .await
        .expect("send");
    problem(again, StatusCode::NOT_FOUND, "not-found").await;
    let update = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &v2)
        .json(&book(id, 12, "Zombie"))
        .send()
        .await
        .expect("send");
    problem(update, StatusCode::NOT_FOUND, "not-found").await;
    // The id can be created again, with a tag it never had before.
    let v4 = s.create(&path, &book(id, 12, "Reborn")).await;
    assert!(![v1, v2].contains(&v4));
}

async fn the_change_feed_carries_each_record_once_with_its_latest_state(s: Server) {
    let feed = s
        .req(Method::GET, "/v1/changes?since=0")
        .send()
        .await
        .expect("send");
    assert_eq!(feed.status(), StatusCode::OK);
    assert_eq!(etag(&feed), "\"0\"");
    let body: Value = feed.json().await.expect("json");
    assert_eq!(body, json!({"changes": [], "last_seq": 0, "more": false}));

    let (a, a1) = s.new_book(13, "Alpha").await;
    let (b, b1) = s.new_book(14, "Beta").await;
    let (c, c1) = s.new_book(15, "Gamma").await;
    let r = s
        .req(Method::PUT, &format!("/v1/books/{a}"))
        .header(IF_MATCH, &a1)
        .json(&book(a, 13, "Alpha, revised"))
        .send()
        .await
        .expect("send");
    let a2 = etag(&r);
    let r = s
        .req(Method::DELETE, &format!("/v1/books/{b}"))
        .header(IF_MATCH, &b1)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let feed = s
        .req(Method::GET, "/v1/changes?since=0")
        .send()
        .await
        .expect("send");
    let tag = etag(&feed);
    let body: Value = feed.json().await.expect("json");
    let changes = body["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 3, "each record once: {body}");
    let seqs: Vec<i64> = changes.iter().filter_map(|c| c["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in seq order");
    assert_eq!(body["last_seq"], seqs[2]);
    assert_eq!(tag, format!("\"{}\"", seqs[2]));
    assert_eq!(body["more"], false);
    assert_eq!(changes[0]["id"], c.to_string());
    assert_eq!(changes[0]["etag"], c1);
    assert_eq!(changes[0]["type"], "book");
    assert_eq!(changes[1]["id"], a.to_string());
    assert_eq!(changes[1]["etag"], a2);
    assert_eq!(changes[1]["data"]["title"], "Alpha, revised");
    assert_eq!(changes[2]["id"], b.to_string());
    assert_eq!(changes[2]["deleted"], true);
    assert!(changes[2].get("data").is_none());

    // Idle: 304 with the same tag and no body.
    let idle = s
        .req(Method::GET, &format!("/v1/changes?since={}", seqs[2]))
        .header(IF_NONE_MATCH, &tag)
        .send()
        .await
        .expect("send");
    assert_eq!(idle.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&idle), tag);

    // Paging with limit and more.
    let page: Value = s
        .req(Method::GET, "/v1/changes?since=0&limit=2")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(page["changes"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["more"], true);
    let rest: Value = s
        .req(
            Method::GET,
            &format!("/v1/changes?since={}&limit=2", page["last_seq"]),
        )
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["more"], false);
    let too_many = s
        .req(Method::GET, "/v1/changes?limit=5001")
        .send()
        .await
        .expect("send");
    problem(too_many, StatusCode::BAD_REQUEST, "validation").await;
}

async fn collections_page_with_cursors_filter_and_search(s: Server) {
    let (garden, _) = s.new_book(20, "The Quiet Garden").await;
    let (_, _) = s.new_book(21, "Harbour Lights").await;
    let mut copies = Vec::new();
    for i in 0..5 {
        let id = Uuid::now_v7();
        s.create(
            &format!("/v1/copies/{id}"),
            &copy(id, garden, &format!("G-{i}")),
        )
        .await;
        copies.push(id.to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut path = format!("/v1/copies?book_id={garden}&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = s
            .req(Method::GET, &path)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["book_id"], garden.to_string());
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    copies.sort();
    assert_eq!(seen, copies, "every copy once, in order");

    let s = &s;
    let search = |q: &str| {
        let path = format!("/v1/books?q={q}");
        async move {
            let page: Value = s
                .req(Method::GET, &path)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|b| b["title"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("quiet").await, ["The Quiet Garden"]);
    assert_eq!(search("QUI").await, ["The Quiet Garden"], "prefix search");
    assert_eq!(search("garden").await.len(), 2, "title or subject");
    assert_eq!(search("harbour%20lights").await, ["Harbour Lights"]);
    let hyphenated = isbn::from_body(21);
    let hyphenated = format!("{}-{}", &hyphenated[..3], &hyphenated[3..]);
    assert_eq!(search(&hyphenated).await, ["Harbour Lights"], "by ISBN");
    assert_eq!(search("author").await.len(), 2, "by author");
    assert!(search("gardening%20nothing").await.is_empty());
    let filtered: Value = s
        .req(Method::GET, "/v1/copies?status=on_loan")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(filtered["items"], json!([]));
    let bad = s
        .req(Method::GET, "/v1/copies?status=lost")
        .send()
        .await
        .expect("send");
    problem(bad, StatusCode::BAD_REQUEST, "validation").await;
}

async fn a_copy_must_belong_to_an_existing_book(s: Server) {
    let id = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/copies/{id}"))
        .header(IF_NONE_MATCH, "*")
        .json(&copy(id, Uuid::now_v7(), "ORPHAN"))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::BAD_REQUEST, "validation").await;
    assert_eq!(p["errors"][0]["field"], "book_id");
}

/// The id of a staff user, as the sign-in answer gives it.
async fn user_id(s: &Server, user: &str) -> Value {
    let r = s
        .http
        .post(s.url("/v1/sessions"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let body: Value = r.json().await.expect("json");
    body["user"]["id"].clone()
}

/// `GET {path}/revisions` with `token`: the status, and the revisions when it is a 200.
async fn revisions_of(s: &Server, token: &str, path: &str) -> (StatusCode, Vec<Value>) {
    let r = s
        .http
        .get(s.url(&format!("{path}/revisions")))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let status = r.status();
    if status != StatusCode::OK {
        problem(
            r,
            status,
            if status == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "not-found"
            },
        )
        .await;
        return (status, Vec::new());
    }
    let body: Value = r.json().await.expect("json");
    (status, body.as_array().expect("an array").clone())
}

async fn a_history_is_newest_first_and_names_each_author_by_id_and_name(s: Server) {
    let (id, v1) = s.new_book(30, "Audited").await;
    let path = format!("/v1/books/{id}");
    let manager = s.login("manager").await;
    let r = s
        .http
        .put(s.url(&path))
        .bearer_auth(&manager)
        .header(IF_MATCH, &v1)
        .json(&book(id, 30, "Audited twice"))
        .send()
        .await
        .expect("send");
    let v2 = etag(&r);
    let r = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, &v2)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let (status, revisions) = revisions_of(&s, &s.token, &path).await;
    assert_eq!(status, StatusCode::OK, "a librarian reads a book's history");
    let (librarian, manager_id) = (user_id(&s, "librarian").await, user_id(&s, "manager").await);
    assert!(librarian.is_string() && manager_id.is_string());
    let seen: Vec<_> = revisions
        .iter()
        .map(|r| {
            (
                r["version"].clone(),
                r["etag"].clone(),
                r["by"].clone(),
                r["deleted"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                json!(3),
                json!("\"v3\""),
                json!({"id": librarian, "name": "librarian"}),
                json!(true)
            ),
            (
                json!(2),
                json!(v2),
                json!({"id": manager_id, "name": "manager"}),
                json!(false)
            ),
            (
                json!(1),
                json!(v1),
                json!({"id": librarian, "name": "librarian"}),
                json!(false)
            ),
        ]
    );
    assert_eq!(revisions[0]["data"], Value::Null, "a deletion has no data");
    assert_eq!(revisions[1]["data"]["title"], "Audited twice");
    assert_eq!(revisions[2]["data"]["title"], "Audited");
    assert!(revisions.iter().all(|r| r["at"].is_string()));

    // An id the server never had is a 404, a path segment that is no id too.
    let unknown = format!("/v1/books/{}", Uuid::now_v7());
    assert_eq!(
        revisions_of(&s, &s.token, &unknown).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        revisions_of(&s, &s.token, "/v1/books/nope").await.0,
        StatusCode::NOT_FOUND
    );
}

async fn a_librarian_reads_the_history_of_books_copies_and_holds_and_a_manager_that_of_patrons(
    s: Server,
) {
    let lost = lose_a_hold(&s, 31).await;
    let librarian = s.token.clone();
    let manager = s.login("manager").await;
    let book = format!("/v1/books/{}", lost.book_id);
    let copy = format!("/v1/copies/{}", lost.copy_id);
    let hold = format!("/v1/holds/{}", lost.regular_hold);
    let patron = format!("/v1/patrons/{}", lost.regular);
    let escalation = format!("/v1/escalations/{}", lost.escalation);

    let (status, revisions) = revisions_of(&s, &librarian, &book).await;
    assert_eq!((status, revisions.len()), (StatusCode::OK, 1));
    // The copy was created available, then held by the hold: newest first.
    let (status, revisions) = revisions_of(&s, &librarian, &copy).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<_> = revisions
        .iter()
        .map(|r| r["data"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("held"), json!("available")]);
    let (status, revisions) = revisions_of(&s, &librarian, &hold).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revisions[0]["data"]["copy_id"], json!(lost.copy_id));
    assert_eq!(revisions[0]["by"]["name"], "librarian");

    // A patron's history is personal: a manager's to read, as are the escalations'.
    for path in [&patron, &escalation] {
        assert_eq!(
            revisions_of(&s, &librarian, path).await.0,
            StatusCode::FORBIDDEN,
            "a librarian asks for {path}"
        );
        let (status, revisions) = revisions_of(&s, &manager, path).await;
        assert_eq!(status, StatusCode::OK, "a manager asks for {path}");
        assert!(!revisions.is_empty());
    }
    let (_, revisions) = revisions_of(&s, &manager, &patron).await;
    assert_eq!(revisions[0]["data"]["name"], "Regular Reader");
    assert_eq!(revisions[0]["by"]["name"], "librarian");
    // The role comes first: a librarian is refused even a patron that does not exist.
    let nobody = format!("/v1/patrons/{}", Uuid::now_v7());
    assert_eq!(
        revisions_of(&s, &librarian, &nobody).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        revisions_of(&s, &manager, &nobody).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn concurrent_puts_on_one_etag_give_exactly_one_success(s: Server) {
    let (id, tag) = s.new_book(40, "Contended").await;
    let path = format!("/v1/books/{id}");
    // A second server instance on the same database takes half of the writers.
    let store = Store::connect(&s.db.url).await.expect("second instance");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        AppState::new(store, Config::default()),
        async {
            let _ = stopped.await;
        },
    ));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let base = if i % 2 == 0 { &s.base } else { &other };
        let request = s
            .http
            .put(format!("{base}{path}"))
            .bearer_auth(&s.token)
            .header(IF_MATCH, &tag)
            .json(&book(id, 40, &format!("Writer {i}")));
        tasks.push(tokio::spawn(async move {
            request.send().await.map(|r| r.status())
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").expect("send"));
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 23), "{statuses:?}");
    let _ = stop.send(());
}

async fn the_binary_seeds_the_demo_library_once_and_prints_its_address(s: Server) {
    use tokio::io::AsyncBufReadExt;
    // The binary gets a database of its own (the test server's one has users already).
    let backend = if s.db.url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
            .args(["--listen", "127.0.0.1:0", "--database", &db.url, "--demo"])
            .env("SHELFMARK_DEMO_PASSWORD", PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the server starts within a minute")
            .expect("read")
            .expect("a line");
        let base = line
            .strip_prefix("shelfmark-server listening on ")
            .expect("the listening line")
            .to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/v1/sessions"))
            .json(&json!({"username": "librarian", "password": PASSWORD}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let token = login["token"].as_str().expect("token").to_owned();
        let (mut since, mut counts) = (0, std::collections::HashMap::new());
        loop {
            let feed: Value = http
                .get(format!("{base}/v1/changes?since={since}&limit=5000"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            for change in feed["changes"].as_array().expect("changes") {
                let kind = change["type"].as_str().expect("type").to_owned();
                let premium = change["data"]["premium"] == true;
                *counts.entry(kind).or_insert(0) += 1;
                *counts.entry("premium".into()).or_insert(0) += usize::from(premium);
            }
            since = feed["last_seq"].as_i64().expect("last_seq");
            if feed["more"] == false {
                break;
            }
        }
        assert!(counts["book"] >= 2000, "{counts:?}");
        assert!(counts["copy"] >= counts["book"], "{counts:?}");
        assert!(
            counts["patron"] >= 60 && counts["premium"] >= 5,
            "{counts:?}"
        );
        // Something for the escalation screen: open escalations beside active holds.
        assert!(
            counts["hold"] >= 12 && counts["escalation"] == 4,
            "{counts:?}"
        );
        let started = Instant::now();
        let manager: Value = http
            .post(format!("{base}/v1/sessions"))
            .json(&json!({"username": "manager", "password": PASSWORD}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(manager["user"]["role"], "manager");
        assert!(started.elapsed() < Duration::from_secs(10));
        let latest = http
            .get(format!("{base}/v1/changes?since=0&limit=1"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        seqs.push(etag(&latest));
        stop_gracefully(&mut child).await;
    }
    assert_eq!(seqs[0], seqs[1], "a second --demo changes nothing");
}

/// Sends SIGTERM and waits (bounded) for a clean exit.
async fn stop_gracefully(child: &mut tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server stops on SIGTERM")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}

/// Starts the binary on a database and returns its base URL once it prints it.
async fn spawn_binary(db: &TestDb) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args(["--listen", "127.0.0.1:0", "--database", &db.url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("the server starts within a minute")
    .expect("read")
    .expect("a line");
    let base = line
        .strip_prefix("shelfmark-server listening on ")
        .expect("the listening line")
        .to_owned();
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_stores_a_user_who_can_then_log_in() {
    use tokio::io::AsyncWriteExt;
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let mut add = tokio::process::Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args([
            "--database",
            &db.url,
            "user",
            "add",
            "alice",
            "--role",
            "manager",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = add.stdin.take().expect("stdin");
    stdin
        .write_all(b"a long password\n")
        .await
        .expect("write the password");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(60), add.wait())
        .await
        .expect("user add finishes")
        .expect("wait");
    assert!(status.success());

    let (mut child, base) = spawn_binary(&db).await;
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"username": "alice", "password": "a long password"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["user"]["role"], "manager");
    stop_gracefully(&mut child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_the_server_answers() {
    let Some(s) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let r = s
        .http
        .get(s.url("/v1/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut routes: Vec<(String, String)> = shelfmark_server::http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);

    for (path, item) in paths {
        let concrete = path.replace("{id}", &Uuid::now_v7().to_string());
        for method in ["GET", "PUT", "DELETE", "POST", "PATCH"] {
            let is_documented = item.get(method.to_lowercase()).is_some();
            let r = s
                .req(
                    Method::from_bytes(method.as_bytes()).expect("method"),
                    &concrete,
                )
                .header(IF_NONE_MATCH, "*")
                .json(&json!({}))
                .send()
                .await
                .expect("send");
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND && body["detail"] == "no such route");
            assert_eq!(unrouted, !is_documented, "{method} {path}: {status} {body}");
        }
    }
}

async fn hostile_inputs_never_get_a_500(s: Server) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let (book_id, _) = s.new_book(50, "Target").await;
    let weird_values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e300),
        json!(9_223_372_036_854_775_807i64),
        json!("\u{0}nul\u{0}"),
        json!("∑ unicode ☃ \u{202e}"),
        json!(""),
        json!([]),
        json!([null, 1, "x"]),
        json!({}),
        json!({"nested": {"deeper": [1, 2, {"x": null}]}}),
        json!("978-0-306-40615-7"),
        json!("x".repeat(10_000)),
    ];
    let template = book(book_id, 50, "Target");
    let fields: Vec<String> = template
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .chain(["extra".to_owned()])
        .collect();
    let mut rng = StdRng::seed_from_u64(7);
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for _ in 0..60 {
        let mut body = template.clone();
        for _ in 0..rng.random_range(1..4) {
            let field = &fields[rng.random_range(0..fields.len())];
            if rng.random_bool(0.2) {
                body.as_object_mut().expect("object").remove(field);
            } else {
                body[field.as_str()] =
                    weird_values[rng.random_range(0..weird_values.len())].clone();
            }
        }
        bodies.push(body.to_string().into_bytes());
    }
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    bodies.extend([
        b"".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        nested.into_bytes(),
        b"{\"id\": 1}".to_vec(),
        b"{\"title\": \"\\ud800\"}".to_vec(),
    ]);
    let copy_id = Uuid::now_v7();
    let paths = [
        format!("/v1/books/{book_id}"),
        format!("/v1/copies/{copy_id}"),
        format!("/v1/patrons/{}", Uuid::now_v7()),
        "/v1/sessions".to_owned(),
    ];
    let preconditions: [(&str, &[u8]); 4] = [
        ("if-none-match", b"*"),
        ("if-match", b"\"v1\""),
        ("if-match", b"\xff\xfe"),
        ("if-match", b"W/\"v1\", \"broken"),
    ];
    let mut n = 0;
    for (i, body) in bodies.iter().enumerate() {
        let path = &paths[i % paths.len()];
        let (name, value) = preconditions[i % preconditions.len()];
        let method = if path == "/v1/sessions" {
            Method::POST
        } else {
            Method::PUT
        };
        let r = s
            .req(method, path)
            .header(
                name,
                reqwest::header::HeaderValue::from_bytes(value).expect("header"),
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert!(
            r.status().as_u16() < 500,
            "{path} {}: {}",
            String::from_utf8_lossy(body),
            r.status()
        );
        n += 1;
    }
    let odd_queries = [
        "/v1/books?q=%00%ff%fe",
        "/v1/books?q=\u{0}",
        "/v1/books?q=a%22b*c%20OR%20NEAR(x)%20%3A*%20%26%20!",
        "/v1/books?q=%E2%85%B7",
        "/v1/books?limit=99999999999999999999",
        "/v1/books?cursor=AAAA",
        "/v1/copies?book_id=%00",
        "/v1/copies?status=%00",
        "/v1/changes?since=9223372036854775807",
        "/v1/changes?since=1e3",
        "/v1/books/%00",
        "/v1/books/..%2F..%2Fetc%2Fpasswd",
        "/v1/books/00000000-0000-0000-0000-000000000000/revisions",
    ];
    for q in odd_queries {
        let r = s.req(Method::GET, q).send().await.expect("send");
        assert!(r.status().as_u16() < 500, "{q}: {}", r.status());
        n += 1;
    }
    // The server is still well after all that.
    let r = s
        .req(Method::GET, &format!("/v1/books/{book_id}"))
        .send()
        .await
        .expect("send");
    assert!(n > 60);
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_answer_401() {
    let config = Config {
        token_ttl: Duration::ZERO,
        ..Config::default()
    };
    let Some(s) = Server::start_with(Backend::Sqlite, config).await else {
        return;
    };
    let r = s.req(Method::GET, "/v1/books").send().await.expect("send");
    let p = problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(p["detail"].as_str().expect("detail").contains("expired"));
}

// ---------------------------------------------------------------------------------------------
// Holds, escalations, purchase requests and the mail outbox (issue 5).

async fn patrons_have_a_unique_card_found_by_scanning_and_only_a_manager_grants_premium(s: Server) {
    let patron = |id: Uuid, card: &str, premium: bool| {
        json!({"id": id, "name": "Ada Lovelace", "email": format!("ada.{}@example.org", id.simple()),
               "branch": "Central", "card": card, "notes": "Prefers large print", "premium": premium})
    };
    let ada = Uuid::now_v7();
    let tag = s
        .create(
            &format!("/v1/patrons/{ada}"),
            &patron(ada, " 29000001 ", false),
        )
        .await;
    // The card is found by scanning it, and by a search.
    let found = items(&s, "/v1/patrons?card=29000001").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], json!(ada));
    assert_eq!(found[0]["card"], "29000001", "stored trimmed");
    assert_eq!(found[0]["notes"], "Prefers large print");
    assert_eq!(items(&s, "/v1/patrons?q=29000001").await.len(), 1);
    assert!(items(&s, "/v1/patrons?card=29000002").await.is_empty());
    // A second patron with the same card is a duplicate.
    let other = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/patrons/{other}"))
        .header(IF_NONE_MATCH, "*")
        .json(&patron(other, "29000001", false))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "duplicate").await;
    assert_eq!(p["existing_id"], json!(ada));
    // A librarian may not make a patron premium, nor register one premium; a manager may.
    let path = format!("/v1/patrons/{ada}");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&patron(ada, "29000001", true))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = s
        .req(Method::PUT, &format!("/v1/patrons/{other}"))
        .header(IF_NONE_MATCH, "*")
        .json(&patron(other, "29000002", true))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = s
        .as_manager(Method::PUT, &path)
        .await
        .header(IF_MATCH, &tag)
        .json(&patron(ada, "29000001", true))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let tag = etag(&r);
    // A librarian's edit of a premium patron that keeps premium as it is goes through.
    let mut edited = patron(ada, "29000001", true);
    edited["notes"] = json!("Moved to Riverside");
    let r = s
        .req(Method::PUT, &path)
        .header(IF_MATCH, &tag)
        .json(&edited)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn holds_race(s: Server, two_instances: bool) {
    let (book_id, copies) = book_with_copies(&s, 60, 3).await;
    let mut patrons = Vec::new();
    for i in 0..50 {
        let premium = i % 5 == 0;
        patrons.push((
            new_patron(&s, &format!("Reader {i}"), premium).await,
            premium,
        ));
    }
    let second = if two_instances {
        Some(second_instance(&s).await)
    } else {
        None
    };
    let mut tasks = Vec::new();
    for (i, (patron, premium)) in patrons.iter().copied().enumerate() {
        let base = match &second {
            Some((other, _)) if i % 2 == 1 => other.clone(),
            _ => s.base.clone(),
        };
        let hold_id = Uuid::now_v7();
        let request = place_hold(&base, &s, hold_id, patron, book_id);
        tasks.push(tokio::spawn(async move {
            let r = request.send().await.expect("send");
            let status = r.status();
            let body: Value = r.json().await.expect("json");
            (hold_id, patron, premium, status, body)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    let winners: Vec<_> = results
        .iter()
        .filter(|r| r.3 == StatusCode::CREATED)
        .collect();
    let losers: Vec<_> = results
        .iter()
        .filter(|r| r.3 == StatusCode::CONFLICT)
        .collect();
    assert_eq!(
        (winners.len(), losers.len()),
        (3, 47),
        "{:?}",
        results.iter().map(|r| r.3).collect::<Vec<_>>()
    );
    let mut won: Vec<Uuid> = winners
        .iter()
        .map(|w| {
            assert_eq!(w.4["status"], "active");
            Uuid::parse_str(w.4["copy_id"].as_str().expect("copy_id")).expect("uuid")
        })
        .collect();
    won.sort();
    let mut expected = copies.clone();
    expected.sort();
    assert_eq!(won, expected, "each copy went to exactly one hold");
    for c in &copies {
        assert_eq!(
            get_json(&s, &format!("/v1/copies/{c}")).await.0["status"],
            "held"
        );
    }
    let store = Store::connect(&s.db.url).await.expect("store");
    let outbox = store.outbox().await.expect("outbox");
    let open = items(&s, "/v1/escalations?status=open&limit=1000").await;
    let mut premium_losers = 0;
    for (hold_id, patron, premium, _, body) in &losers {
        assert_eq!(body["type"], "/problems/hold-unavailable");
        assert_eq!(body["book_id"], json!(book_id));
        assert_eq!(body["patron_premium"], json!(premium));
        if *premium {
            premium_losers += 1;
            let esc = body["escalation_id"].as_str().expect("escalation_id");
            let mine: Vec<_> = open
                .iter()
                .filter(|e| e["patron_id"] == json!(patron))
                .collect();
            assert_eq!(mine.len(), 1, "one escalation per premium loser");
            assert_eq!(mine[0]["id"], esc);
            assert_eq!(mine[0]["hold_request_id"], json!(hold_id));
            let mails = outbox.iter().filter(|m| m.raw.contains(esc)).count();
            assert_eq!(mails, 1, "one mail per premium loser");
        } else {
            assert!(body.get("escalation_id").is_none());
            assert!(
                body["detail"]
                    .as_str()
                    .expect("detail")
                    .contains("All copies")
            );
        }
    }
    assert!(premium_losers > 0);
    assert_eq!(open.len(), premium_losers);
    assert_eq!(outbox.len(), premium_losers);
    // The holds are in the change feed like every other record.
    let (feed, _) = get_json(&s, "/v1/changes?since=0&limit=5000").await;
    let kinds: Vec<&str> = feed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "hold").count(), 3);
    assert_eq!(
        kinds.iter().filter(|k| **k == "escalation").count(),
        premium_losers
    );
}

async fn fifty_concurrent_holds_on_three_copies_give_three_winners_on_one_server(s: Server) {
    holds_race(s, false).await;
}

async fn fifty_concurrent_holds_on_three_copies_give_three_winners_across_two_instances(s: Server) {
    holds_race(s, true).await;
}

async fn the_database_refuses_a_second_active_hold_on_one_copy(s: Server) {
    use shelfmark_server::store::{Actor, Index, Write};
    let store = Store::connect(&s.db.url).await.expect("store");
    let copy_id = Uuid::now_v7();
    let hold = |status: &str| {
        let id = Uuid::now_v7();
        Write {
            kind: shelfmark_core::RecordType::Hold,
            id,
            data: json!({"id": id, "patron_id": Uuid::nil(), "book_id": Uuid::nil(),
                         "copy_id": copy_id, "status": status})
            .to_string(),
            index: Index {
                ref3_id: Some(copy_id),
                status: Some(status.into()),
                ..Index::default()
            },
        }
    };
    let actor = Actor {
        name: "test".into(),
    };
    // Bypassing every check of the code: only the index stands in the way.
    let err = store
        .insert_many(&actor, vec![hold("active"), hold("active")])
        .await
        .expect_err("two active holds on one copy");
    assert!(err.is_unique_violation(), "{err}");
    store
        .insert_many(
            &actor,
            vec![hold("active"), hold("cancelled"), hold("cancelled")],
        )
        .await
        .expect("one active hold and any number of finished ones");
}

async fn a_retried_lost_hold_gets_the_same_escalation_and_no_second_mail(s: Server) {
    let (book_id, _) = book_with_copies(&s, 61, 0).await;
    let patron = new_patron(&s, "Premium Pat", true).await;
    let hold_id = Uuid::now_v7();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let r = place_hold(&s.base, &s, hold_id, patron, book_id)
            .send()
            .await
            .expect("send");
        answers.push(problem(r, StatusCode::CONFLICT, "hold-unavailable").await);
    }
    assert_eq!(answers[0]["escalation_id"], answers[1]["escalation_id"]);
    assert_eq!(answers[0]["patron_premium"], true);
    let outbox = s.state.store.outbox().await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    // The hold itself was not stored: it lost.
    let r = s
        .req(Method::GET, &format!("/v1/holds/{hold_id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn cancelling_a_hold_frees_its_copy_for_the_next_patron(s: Server) {
    let (book_id, copies) = book_with_copies(&s, 62, 1).await;
    let (a, b) = (
        new_patron(&s, "Ann", false).await,
        new_patron(&s, "Bob", false).await,
    );
    let hold_a = Uuid::now_v7();
    let r = place_hold(&s.base, &s, hold_a, a, book_id)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get(LOCATION).is_some());
    let tag = etag(&r);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["copy_id"], json!(copies[0]));
    let r = place_hold(&s.base, &s, Uuid::now_v7(), b, book_id)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    assert_eq!(p["patron_premium"], false);
    // Cancel: 428 without If-Match, 409 with a stale one, then 204.
    let path = format!("/v1/holds/{hold_a}");
    let r = s.req(Method::DELETE, &path).send().await.expect("send");
    problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
    )
    .await;
    let r = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, "\"v99\"")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    let r = s
        .req(Method::DELETE, &path)
        .header(IF_MATCH, &tag)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_json(&s, &format!("/v1/copies/{}", copies[0])).await.0["status"],
        "available"
    );
    let r = place_hold(&s.base, &s, Uuid::now_v7(), b, book_id)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    // A hold naming a patron that does not exist is a 400, not a 409.
    let r = place_hold(&s.base, &s, Uuid::now_v7(), Uuid::now_v7(), book_id)
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
}

/// A premium patron who lost the only copy of a book to a regular patron.
struct Lost {
    book_id: Uuid,
    copy_id: Uuid,
    regular: Uuid,
    regular_hold: Uuid,
    premium: Uuid,
    escalation: Uuid,
}

async fn lose_a_hold(s: &Server, n: u32) -> Lost {
    let (book_id, copies) = book_with_copies(s, n, 1).await;
    let regular = new_patron(s, "Regular Reader", false).await;
    let premium = new_patron(s, "Premium Reader", true).await;
    let regular_hold = Uuid::now_v7();
    let r = place_hold(&s.base, s, regular_hold, regular, book_id)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = place_hold(&s.base, s, Uuid::now_v7(), premium, book_id)
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "hold-unavailable").await;
    Lost {
        book_id,
        copy_id: copies[0],
        regular,
        regular_hold,
        premium,
        escalation: Uuid::parse_str(p["escalation_id"].as_str().expect("escalation_id"))
            .expect("uuid"),
    }
}

async fn reassign_gives_the_copy_to_the_premium_patron_and_mails_the_one_who_lost_it(s: Server) {
    let lost = lose_a_hold(&s, 63).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    // What the manager reads to decide.
    let (detail, tag) = get_json(&s, &path).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["patron"]["id"], json!(lost.premium));
    assert_eq!(detail["book"]["id"], json!(lost.book_id));
    let active = detail["active_holds"].as_array().expect("active_holds");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["hold"]["id"], json!(lost.regular_hold));
    assert_eq!(active[0]["holder"]["id"], json!(lost.regular));
    assert_eq!(active[0]["premium"], false);
    assert_eq!(active[0]["branch"], "Central");
    assert!(active[0]["since"].is_string());
    assert!(
        detail["purchase_requests"]
            .as_array()
            .expect("array")
            .is_empty()
    );
    let r = s
        .req(Method::GET, &path)
        .header(IF_NONE_MATCH, &tag)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": lost.regular_hold, "note": "Phoned Mr Regular"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let new_tag = etag(&r);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["escalation"]["status"], "reassigned");
    assert_eq!(body["hold"]["patron_id"], json!(lost.premium));
    assert_eq!(body["hold"]["copy_id"], json!(lost.copy_id));
    assert_eq!(body["hold"]["status"], "active");
    let (old, _) = get_json(&s, &format!("/v1/holds/{}", lost.regular_hold)).await;
    assert_eq!(
        (old["status"].as_str(), old["cancel_reason"].as_str()),
        (Some("cancelled"), Some("reassigned"))
    );
    let (esc, esc_tag) = get_json(&s, &path).await;
    assert!(esc_tag.starts_with(new_tag.trim_end_matches('"')));
    assert_eq!(esc["resolution_note"], "Phoned Mr Regular");
    // The patron who lost the copy is told.
    let (regular, _) = get_json(&s, &format!("/v1/patrons/{}", lost.regular)).await;
    let outbox = s.state.store.outbox().await.expect("outbox");
    let to_regular: Vec<_> = outbox
        .iter()
        .filter(|m| m.recipients == [regular["email"].as_str().expect("email")])
        .collect();
    assert_eq!(to_regular.len(), 1);
    assert!(to_regular[0].raw.contains("Contested 63"));
    // The holds and the escalation are in the feed.
    let (feed, _) = get_json(&s, "/v1/changes?since=0").await;
    let ids: Vec<&Value> = feed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert!(ids.contains(&&json!(lost.escalation)) && ids.contains(&&body["hold"]["id"]));
}

async fn escalation_actions_are_for_managers_and_need_the_current_etag(s: Server) {
    let lost = lose_a_hold(&s, 64).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    let (_, tag) = get_json(&s, &path).await;
    for action in ["reassign", "purchase", "resolve"] {
        let body = json!({"hold_id": lost.regular_hold, "note": "n", "quantity": 1});
        let url = format!("{path}/{action}");
        let r = s
            .req(Method::POST, &url)
            .header(IF_MATCH, &tag)
            .json(&body)
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = s
            .as_manager(Method::POST, &url)
            .await
            .json(&body)
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
            .as_manager(Method::POST, &url)
            .await
            .header(IF_MATCH, "\"v0\"")
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
        assert_eq!(p["current"]["status"], "open");
        assert_eq!(p["current_etag"], "\"v1\"");
        let r = s
            .as_manager(
                Method::POST,
                &format!("/v1/escalations/{}/{action}", Uuid::now_v7()),
            )
            .await
            .header(IF_MATCH, &tag)
            .json(&body)
            .send()
            .await
            .expect("send");
        problem(r, StatusCode::NOT_FOUND, "not-found").await;
    }
    // A hold that moved meanwhile: the regular patron's hold was fulfilled.
    let hold_path = format!("/v1/holds/{}", lost.regular_hold);
    let (mut hold, hold_tag) = get_json(&s, &hold_path).await;
    hold["status"] = json!("fulfilled");
    let r = s
        .req(Method::PUT, &hold_path)
        .header(IF_MATCH, &hold_tag)
        .json(&hold)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get_json(&s, &format!("/v1/copies/{}", lost.copy_id))
            .await
            .0["status"],
        "on_loan"
    );
    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": lost.regular_hold}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    assert_eq!(p["current"]["status"], "fulfilled");
    let (esc, tag_after) = get_json(&s, &path).await;
    // The escalation did not change (its version leads the tag); the hold it shows did.
    assert_eq!(esc["status"], "open");
    assert!(
        tag_after.starts_with("\"v1.") && tag_after != tag,
        "{tag_after}"
    );
    // A premium patron's hold cannot be taken away: a 400 naming the field.
    let other_premium = new_patron(&s, "Other Premium", true).await;
    let (book2, _) = book_with_copies(&s, 65, 1).await;
    let premium_hold = Uuid::now_v7();
    let r = place_hold(&s.base, &s, premium_hold, other_premium, book2)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": premium_hold}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
}

async fn a_reassign_of_a_hold_deleted_meanwhile_is_a_conflict_and_changes_nothing(s: Server) {
    let lost = lose_a_hold(&s, 67).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    let (_, tag) = get_json(&s, &path).await;
    // The regular patron's hold is cancelled at a desk: the desktop deletes it.
    let hold_path = format!("/v1/holds/{}", lost.regular_hold);
    let (_, hold_tag) = get_json(&s, &hold_path).await;
    let r = s
        .req(Method::DELETE, &hold_path)
        .header(IF_MATCH, &hold_tag)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": lost.regular_hold}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    assert!(p.get("current").is_some_and(Value::is_null), "{p}");
    let (esc, _) = get_json(&s, &path).await;
    assert_eq!(esc["status"], "open");
    let r = s
        .req(
            Method::GET,
            &format!("/v1/holds?patron_id={}", lost.premium),
        )
        .send()
        .await
        .expect("send");
    let holds: Value = r.json().await.expect("json");
    assert!(
        holds["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|h| h["status"] != "active"),
        "{holds}"
    );
    // An id that never was a hold is still a 400 naming the field.
    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": Uuid::now_v7()}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
}

async fn a_reassign_that_fails_halfway_changes_nothing(s: Server) {
    let lost = lose_a_hold(&s, 66).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    let (_, tag) = get_json(&s, &path).await;
    let seq_before = s.state.store.latest_seq().await.expect("seq");
    // The new hold's id is taken (by the very hold being cancelled): the operation has
    // already cancelled that hold when it finds out, and must undo it.
    let r = s
        .as_manager(Method::POST, &format!("{path}/reassign"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"hold_id": lost.regular_hold, "new_hold_id": lost.regular_hold}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
    let (hold, _) = get_json(&s, &format!("/v1/holds/{}", lost.regular_hold)).await;
    assert_eq!(hold["status"], "active");
    assert_eq!(get_json(&s, &path).await.1, tag);
    assert_eq!(s.state.store.latest_seq().await.expect("seq"), seq_before);
    assert_eq!(
        s.state.store.outbox().await.expect("outbox").len(),
        1,
        "only the manager's mail"
    );
}

async fn a_flagged_purchase_gives_the_next_new_copy_to_the_waiting_patron(s: Server) {
    let lost = lose_a_hold(&s, 67).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    let (_, tag) = get_json(&s, &path).await;
    let r = s
        .as_manager(Method::POST, &format!("{path}/purchase"))
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"quantity": 2, "note": "Popular; buy two"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let pr: Value = r.json().await.expect("json");
    assert_eq!(
        location,
        format!("/v1/purchase-requests/{}", pr["id"].as_str().expect("id"))
    );
    assert_eq!(
        (pr["quantity"].as_u64(), pr["status"].as_str()),
        (Some(2), Some("requested"))
    );
    assert_eq!(pr["escalation_id"], json!(lost.escalation));
    assert_eq!(pr["requested_by"], "manager");
    let (esc, esc_tag) = get_json(&s, &path).await;
    assert_eq!(esc["status"], "purchase_flagged");
    assert_eq!(esc["purchase_requests"].as_array().expect("array").len(), 1);
    // A second purchase on the same escalation: it is no longer open.
    let r = s
        .as_manager(Method::POST, &format!("{path}/purchase"))
        .await
        .header(IF_MATCH, &esc_tag)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    // The new copy arrives: it goes to the premium patron at once.
    let new_copy = Uuid::now_v7();
    let r = s
        .req(Method::PUT, &format!("/v1/copies/{new_copy}"))
        .header(IF_NONE_MATCH, "*")
        .json(&copy(new_copy, lost.book_id, "B67-new"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let stored: Value = r.json().await.expect("json");
    assert_eq!(stored["status"], "held");
    let holds = items(
        &s,
        &format!("/v1/holds?patron_id={}&status=active", lost.premium),
    )
    .await;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["copy_id"], json!(new_copy));
    let (esc, _) = get_json(&s, &path).await;
    assert_eq!(esc["status"], "resolved");
    assert_eq!(get_json(&s, &location).await.0["status"], "received");
    assert_eq!(
        items(&s, "/v1/purchase-requests?status=received")
            .await
            .len(),
        1
    );
}

async fn resolve_closes_an_escalation_with_a_note_once(s: Server) {
    let lost = lose_a_hold(&s, 68).await;
    let path = format!("/v1/escalations/{}", lost.escalation);
    let (_, tag) = get_json(&s, &path).await;
    let url = format!("{path}/resolve");
    let r = s
        .as_manager(Method::POST, &url)
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"note": " "}))
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
    let r = s
        .as_manager(Method::POST, &url)
        .await
        .header(IF_MATCH, &tag)
        .json(&json!({"note": "Phoned her: she will wait for the autumn reprint."}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let tag2 = etag(&r);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "resolved");
    assert_eq!(items(&s, "/v1/escalations?status=resolved").await.len(), 1);
    assert!(items(&s, "/v1/escalations?status=open").await.is_empty());
    let r = s
        .as_manager(Method::POST, &url)
        .await
        .header(IF_MATCH, &tag2)
        .json(&json!({"note": "again"}))
        .send()
        .await
        .expect("send");
    let p = problem(r, StatusCode::CONFLICT, "edit-conflict").await;
    assert_eq!(p["current"]["status"], "resolved");
    let r = s
        .req(Method::GET, "/v1/escalations?status=bogus")
        .send()
        .await
        .expect("send");
    problem(r, StatusCode::BAD_REQUEST, "validation").await;
}

/// Polls `check` until it holds, failing after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast_retry() -> shelfmark_server::mail::Retry {
    shelfmark_server::mail::Retry {
        base: Duration::from_millis(50),
        max: Duration::from_millis(300),
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(30),
    }
}

fn files_in(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext) || ext.is_empty())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a mail as a client would: quoted-printable soft breaks joined.
fn mail_text(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

async fn without_smtp_mails_are_spooled_as_eml_files(s: Server) {
    let spool = tempfile::tempdir().expect("spool");
    let delivery = shelfmark_server::mail::spawn_delivery(
        s.state.store.clone(),
        shelfmark_server::mail::Transport::Spool(spool.path().to_owned()),
        fast_retry(),
        s.state.mail_wake.clone(),
    );
    let lost = lose_a_hold(&s, 69).await;
    eventually(20, "the spooled mail", || async {
        files_in(spool.path(), "eml").len() == 1
    })
    .await;
    let text =
        mail_text(&std::fs::read_to_string(&files_in(spool.path(), "eml")[0]).expect("read"));
    assert!(
        text.contains(&format!("shelfmark://escalations/{}", lost.escalation)),
        "{text}"
    );
    assert!(text.contains("Premium Reader") && text.contains("Contested 69"));
    eventually(20, "the mail marked sent", || async {
        s.state
            .store
            .outbox()
            .await
            .expect("outbox")
            .iter()
            .all(|m| m.sent)
    })
    .await;
    delivery.abort();
}

// --- SMTP: a real SMTP server (aiosmtpd, installed by scripts/setup.sh --test) on loopback.

/// The aiosmtpd command, if installed (`SHELFMARK_TEST_AIOSMTPD`, the PATH, or the tools dir).
fn aiosmtpd() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("SHELFMARK_TEST_AIOSMTPD") {
        return Some(p.into());
    }
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("aiosmtpd"))
                .collect()
        })
        .unwrap_or_default();
    let tools = std::env::var_os("SHELFMARK_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/shelfmark/tools"))
        });
    candidates.extend(tools.map(|t| t.join("bin/aiosmtpd")));
    candidates.into_iter().find(|p| p.is_file())
}

/// An SMTP sink on `port` that stores every mail it accepts in the maildir `dir`.
struct Smtpd {
    child: tokio::process::Child,
}

impl Smtpd {
    async fn start(bin: &std::path::Path, port: u16, dir: &std::path::Path) -> Smtpd {
        let child = tokio::process::Command::new(bin)
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            // The handler makes the maildir itself (it refuses an existing empty folder).
            .arg(dir.join("box"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        eventually(30, "aiosmtpd to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        Smtpd { child }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn smtp_server() -> Option<Server> {
    if aiosmtpd().is_none() {
        missing("aiosmtpd is not installed (scripts/setup.sh --test): skipping the SMTP test");
        return None;
    }
    let config = Config {
        mail: shelfmark_server::mail::MailSettings::new(
            "Shelfmark <noreply@library.example>",
            "Library Manager <manager@library.example>",
        )
        .expect("addresses"),
        ..Config::default()
    };
    Server::start_with(Backend::Sqlite, config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managers_mail_arrives_once_over_smtp_with_the_escalation() {
    let Some(s) = smtp_server().await else { return };
    let bin = aiosmtpd().expect("checked");
    let (port, maildir) = (free_port(), tempfile::tempdir().expect("maildir"));
    let mut smtpd = Smtpd::start(&bin, port, maildir.path()).await;
    let transport =
        shelfmark_server::mail::Transport::smtp(&format!("smtp://127.0.0.1:{port}")).expect("url");
    let delivery = shelfmark_server::mail::spawn_delivery(
        s.state.store.clone(),
        transport.clone(),
        fast_retry(),
        s.state.mail_wake.clone(),
    );
    let lost = lose_a_hold(&s, 70).await;
    let new = maildir.path().join("box/new");
    eventually(30, "the mail in the maildir", || async {
        files_in(&new, "").len() == 1
    })
    .await;
    eventually(30, "the mail marked sent", || async {
        s.state
            .store
            .outbox()
            .await
            .expect("outbox")
            .iter()
            .all(|m| m.sent)
    })
    .await;
    delivery.abort();
    let text = mail_text(&std::fs::read_to_string(&files_in(&new, "")[0]).expect("read"));
    let (patron, _) = get_json(&s, &format!("/v1/patrons/{}", lost.premium)).await;
    for needle in [
        "X-RcptTo: manager@library.example".to_owned(),
        "To: \"Library Manager\" <manager@library.example>".into(),
        "Premium Reader".into(),
        patron["email"].as_str().expect("email").into(),
        "Riverside".into(),
        "Contested 70".into(),
        isbn::from_body(70),
        lost.escalation.to_string(),
        format!("shelfmark://escalations/{}", lost.escalation),
    ] {
        assert!(text.contains(&needle), "{needle} missing from\n{text}");
    }
    let outbox = s.state.store.outbox().await.expect("outbox");
    assert!(text.contains(&format!("Message-ID: {}", outbox[0].message_id)));
    // Another pass sends nothing more.
    let again = shelfmark_server::mail::deliver_due(&s.state.store, &transport, &fast_retry())
        .await
        .expect("pass");
    assert_eq!(again, 0);
    assert_eq!(files_in(&new, "").len(), 1);
    let _ = smtpd.child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_waits_in_the_outbox_while_smtp_is_down_and_arrives_once_when_it_is_back() {
    let Some(s) = smtp_server().await else { return };
    let bin = aiosmtpd().expect("checked");
    let (port, maildir) = (free_port(), tempfile::tempdir().expect("maildir"));
    let transport =
        shelfmark_server::mail::Transport::smtp(&format!("smtp://127.0.0.1:{port}")).expect("url");
    let delivery = shelfmark_server::mail::spawn_delivery(
        s.state.store.clone(),
        transport,
        fast_retry(),
        s.state.mail_wake.clone(),
    );
    lose_a_hold(&s, 71).await;
    eventually(30, "failed attempts", || async {
        let outbox = s.state.store.outbox().await.expect("outbox");
        outbox.len() == 1
            && !outbox[0].sent
            && outbox[0].attempts >= 3
            && outbox[0].last_error.is_some()
    })
    .await;
    let mut smtpd = Smtpd::start(&bin, port, maildir.path()).await;
    let new = maildir.path().join("box/new");
    eventually(30, "the mail in the maildir", || async {
        files_in(&new, "").len() == 1
    })
    .await;
    eventually(30, "the mail marked sent", || async {
        s.state
            .store
            .outbox()
            .await
            .expect("outbox")
            .iter()
            .all(|m| m.sent)
    })
    .await;
    delivery.abort();
    // Further passes send nothing more: delivered once.
    let transport =
        shelfmark_server::mail::Transport::smtp(&format!("smtp://127.0.0.1:{port}")).expect("url");
    for _ in 0..3 {
        let n = shelfmark_server::mail::deliver_due(&s.state.store, &transport, &fast_retry())
            .await
            .expect("pass");
        assert_eq!(n, 0);
    }
    assert_eq!(files_in(&new, "").len(), 1, "delivered once");
    let _ = smtpd.child.kill().await;
}
