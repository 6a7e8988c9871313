//! The administrator's staff users (`shelfmark-server user ...`), on both databases over the
//! real server: a new password or disabling ends the user's sessions (their tokens are gone
//! from the database and answer 401), a disabled user cannot sign in until enabled, a removed
//! user's revisions keep their name, `user list` counts live sessions. The administrator's
//! commands are the library functions the binary calls, run against the same database while
//! the server runs, as an administrator would; the binary itself is run too, with passwords
//! on stdin.
//! The server looks every token up in the database on every request, so each check here
//! holds from the very next request.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::server::{Server, on_both_backends};
use common::{Backend, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shelfmark_server::auth::{self, UserAdminError, token_hash, verify_password};
use shelfmark_server::store::Store;

const NEW_PASSWORD: &str = "a new password for ann";

/// What the administrator opens: the server's database, from another connection.
async fn admin_store(s: &Server) -> Store {
    Store::connect(&s.db.url).await.expect("the admin's store")
}

async fn sign_in(s: &Server, user: &str, password: &str) -> StatusCode {
    s.http
        .post(s.url("/v1/sessions"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("sign in")
        .status()
}

async fn books_with(s: &Server, token: &str) -> StatusCode {
    s.http
        .get(s.url("/v1/books"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /v1/books")
        .status()
}

async fn live_sessions(store: &Store, name: &str) -> i64 {
    let users = auth::list(store).await.expect("list");
    users
        .iter()
        .find(|u| u.name == name)
        .map(|u| u.live_sessions)
        .expect("the user is listed")
}

async fn a_new_password_ends_every_session_of_the_user(s: Server) {
    let admin = admin_store(&s).await;
    let (first, second) = (s.login("librarian").await, s.login("librarian").await);
    let manager = s.login("manager").await;
    // `s.token` (from the server's start) too: three live sessions.
    assert_eq!(live_sessions(&admin, "librarian").await, 3);

    let ended = auth::passwd(&admin, "librarian", NEW_PASSWORD)
        .await
        .expect("passwd");
    assert_eq!(ended, 3);

    // In the database: the tokens are gone, the manager's is not.
    for token in [&first, &second, &s.token] {
        assert!(
            admin
                .session(&token_hash(token))
                .await
                .expect("read")
                .is_none(),
            "a token of the user survived the new password"
        );
    }
    assert_eq!(live_sessions(&admin, "librarian").await, 0);
    assert!(
        admin
            .session(&token_hash(&manager))
            .await
            .expect("read")
            .is_some()
    );
    // Over HTTP, with tokens the server never cached: 401 on their first request.
    // (Once the session cache drops revoked tokens at once, a token used just before the
    // change answers 401 on its next request as well; that is the cache's own test.)
    assert_eq!(books_with(&s, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(books_with(&s, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(books_with(&s, &manager).await, StatusCode::OK);
    // The old password no longer signs in; the new one does.
    assert_eq!(
        sign_in(&s, "librarian", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&s, "librarian", NEW_PASSWORD).await,
        StatusCode::CREATED
    );
}

async fn a_disabled_user_has_no_session_and_cannot_sign_in_until_enabled(s: Server) {
    let admin = admin_store(&s).await;
    let token = s.login("librarian").await;
    assert_eq!(
        auth::disable(&admin, "librarian").await.expect("disable"),
        2
    );
    assert!(
        admin
            .session(&token_hash(&token))
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(books_with(&s, &token).await, StatusCode::UNAUTHORIZED);
    // Refused like a wrong password: nothing tells a caller the user exists.
    assert_eq!(
        sign_in(&s, "librarian", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let listed = auth::list(&admin).await.expect("list");
    let librarian = listed
        .iter()
        .find(|u| u.name == "librarian")
        .expect("listed");
    assert!(librarian.disabled);

    auth::enable(&admin, "librarian").await.expect("enable");
    assert_eq!(
        sign_in(&s, "librarian", PASSWORD).await,
        StatusCode::CREATED
    );
    let token = s.login("librarian").await;
    assert_eq!(books_with(&s, &token).await, StatusCode::OK);
}

async fn a_session_of_a_disabled_user_is_refused_even_if_its_token_were_left(s: Server) {
    // The session lookup itself refuses a disabled user, whatever tokens remain: the rule
    // does not hang on the deletion alone.
    let admin = admin_store(&s).await;
    let token = s.login("librarian").await;
    let hash = token_hash(&token);
    let (user, _) = admin
        .session(&hash)
        .await
        .expect("read")
        .expect("a session");
    auth::disable(&admin, "librarian").await.expect("disable");
    admin
        .insert_token(&hash, user.id, chrono::Utc::now().timestamp() + 3600)
        .await
        .expect("a token left behind");
    assert!(admin.session(&hash).await.expect("read").is_none());
    assert_eq!(books_with(&s, &token).await, StatusCode::UNAUTHORIZED);
}

async fn a_removed_user_is_gone_and_their_revisions_keep_the_name(s: Server) {
    let admin = admin_store(&s).await;
    let (id, _) = s.new_book(41, "Written by the leaver").await;
    let unused = s.login("librarian").await;
    assert_eq!(auth::remove(&admin, "librarian").await.expect("remove"), 2);
    assert!(admin.user_named("librarian").await.expect("read").is_none());
    for token in [&unused, &s.token] {
        assert!(
            admin
                .session(&token_hash(token))
                .await
                .expect("read")
                .is_none()
        );
    }
    // `s.token` was used (and cached) for the book: see the module's note.
    assert_eq!(books_with(&s, &unused).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(&s, "librarian", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );

    let history = s
        .as_manager(Method::GET, &format!("/v1/books/{id}/revisions"))
        .await
        .send()
        .await
        .expect("revisions");
    assert_eq!(history.status(), StatusCode::OK);
    let body: Value = history.json().await.expect("json");
    let revisions = body["items"].as_array().or(body.as_array()).cloned();
    let revisions = revisions.expect("revisions listed");
    assert_eq!(revisions[0]["by"]["name"], "librarian");
    assert_eq!(
        revisions[0]["by"]["id"],
        Value::Null,
        "no user has that id now"
    );

    // A new user of the same name does not claim the old history.
    auth::add(
        &admin,
        "librarian",
        shelfmark_core::wire::Role::Librarian,
        PASSWORD,
    )
    .await
    .expect("add again");
    let again = s
        .as_manager(Method::GET, &format!("/v1/books/{id}/revisions"))
        .await
        .send()
        .await
        .expect("revisions");
    let body: Value = again.json().await.expect("json");
    let revisions = body["items"].as_array().or(body.as_array()).cloned();
    assert_eq!(revisions.expect("listed")[0]["by"]["id"], Value::Null);
}

async fn the_commands_refuse_what_they_cannot_do(s: Server) {
    let admin = admin_store(&s).await;
    let role = shelfmark_core::wire::Role::Librarian;
    assert!(matches!(
        auth::add(&admin, "librarian", role, PASSWORD).await,
        Err(UserAdminError::Exists(_))
    ));
    assert!(matches!(
        auth::add(&admin, "new", role, "short").await,
        Err(UserAdminError::ShortPassword)
    ));
    assert!(matches!(
        auth::add(&admin, "two words", role, PASSWORD).await,
        Err(UserAdminError::BadName)
    ));
    for result in [
        auth::passwd(&admin, "nobody", NEW_PASSWORD).await,
        auth::disable(&admin, "nobody").await,
        auth::remove(&admin, "nobody").await,
    ] {
        assert!(matches!(result, Err(UserAdminError::NoSuchUser(_))));
    }
    let names: Vec<String> = auth::list(&admin)
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["librarian", "manager"]);
}

on_both_backends!(
    a_new_password_ends_every_session_of_the_user,
    a_disabled_user_has_no_session_and_cannot_sign_in_until_enabled,
    a_session_of_a_disabled_user_is_refused_even_if_its_token_were_left,
    a_removed_user_is_gone_and_their_revisions_keep_the_name,
    the_commands_refuse_what_they_cannot_do,
);

/// Runs the binary on `url` with `stdin` as its standard input; its status and output.
fn run(url: &str, settings: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args(["--config"])
        .arg(settings)
        .args(["--database", url])
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shelfmark-server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_adds_lists_and_changes_users_with_the_password_on_stdin() {
    let db = common::TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("server.toml");
    std::fs::write(&settings, "").expect("an empty settings file");
    let url = db.url.as_str();

    let (ok, out) = run(
        url,
        &settings,
        &["user", "add", "ann", "--role", "manager"],
        "first password\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        url,
        &settings,
        &["user", "add", "ann", "--role", "manager"],
        "first password\n",
    );
    assert!(!ok && out.contains("exists already"), "{out}");
    let (ok, out) = run(
        url,
        &settings,
        &["user", "add", "bob", "--role", "librarian"],
        "short\n",
    );
    assert!(!ok && out.contains("at least 8 characters"), "{out}");

    let (ok, out) = run(url, &settings, &["user", "list"], "");
    assert!(ok, "{out}");
    let ann = out
        .lines()
        .find(|l| l.starts_with("ann "))
        .expect("ann listed");
    let cells: Vec<&str> = ann.split_whitespace().collect();
    assert_eq!(cells[1..3], ["manager", "enabled"], "{out}");
    assert_eq!(cells.last(), Some(&"0"), "no session yet: {out}");

    let store = Store::connect(url).await.expect("open");
    let user = store.user_named("ann").await.expect("read").expect("ann");
    assert!(verify_password("first password", &user.password_hash));

    let (ok, out) = run(
        url,
        &settings,
        &["user", "passwd", "ann"],
        "second password\n",
    );
    assert!(ok, "{out}");
    let user = store.user_named("ann").await.expect("read").expect("ann");
    assert!(verify_password("second password", &user.password_hash));
    assert!(!verify_password("first password", &user.password_hash));

    let (ok, out) = run(url, &settings, &["user", "disable", "ann"], "");
    assert!(ok, "{out}");
    let (_, out) = run(url, &settings, &["user", "list"], "");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ann ") && l.contains(" disabled ")),
        "{out}"
    );
    let (ok, out) = run(url, &settings, &["user", "remove", "ann"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(
        url,
        &settings,
        &["user", "passwd", "ann"],
        "third password\n",
    );
    assert!(!ok && out.contains("no user named \"ann\""), "{out}");
}
