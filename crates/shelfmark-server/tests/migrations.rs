//! Schema migrations on both databases: a database left at every earlier schema (made by
//! running only its first steps, then given a user, a token, a book and its revision) is
//! migrated by the current binary and keeps all of it; a database of a newer schema than
//! this binary's is refused, untouched.

mod common;

use common::{Backend, TestDb};
use shelfmark_core::RecordType;
use shelfmark_server::auth::{hash_password, token_hash, verify_password};
use shelfmark_server::store::{SCHEMA_VERSION, Store, StoreError, postgres, sqlite};
use uuid::Uuid;

const PASSWORD: &str = "an old password";

/// What the old database holds.
struct Old {
    user: Uuid,
    book: Uuid,
    token: &'static str,
}

/// The statements that put `old` into a database at any schema from 1 on (its columns
/// existed from the first step); `$n` placeholders are spelled per backend by `mark`.
fn seed_sql(old: &Old, hash: &str, pg: bool) -> String {
    let data = common::server::book(old.book, 77, "Kept across schemas").to_string();
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let search = if pg {
        ", search_tsv".to_owned()
    } else {
        String::new()
    };
    let search_value = if pg {
        ", to_tsvector('simple', 'kept across schemas')".to_owned()
    } else {
        String::new()
    };
    let fts = if pg {
        String::new()
    } else {
        "INSERT INTO records_fts (rowid, search)
             SELECT rowid, 'kept across schemas' FROM records WHERE kind = 'book';"
            .to_owned()
    };
    let at = "2025-01-01T00:00:00.000Z";
    format!(
        "INSERT INTO users (id, name, role, password_hash, created_at)
             VALUES ({user}, 'ann', 'librarian', {hash}, {at});
         INSERT INTO tokens (token_hash, user_id, created_at, expires_at)
             VALUES ({token}, {user}, {at}, 4102444800);
         UPDATE seq_counter SET value = 1 WHERE id = 1;
         INSERT INTO records (kind, id, version, seq, deleted, data, unique_key, ref_id, ref2_id,
                status, updated_at, updated_by{search})
             VALUES ('book', {book}, 1, 1, {no}, {data}, NULL, NULL, NULL, NULL, {at2}, 'ann'{search_value});
         {fts}
         INSERT INTO revisions (kind, id, version, deleted, data, actor, at)
             VALUES ('book', {book}, 1, {no}, {data}, 'ann', {at2});",
        user = q(&old.user.to_string()),
        hash = q(hash),
        at = q(at),
        at2 = q("2025-01-02T00:00:00.000Z"),
        token = q(&token_hash(old.token)),
        book = q(&old.book.to_string()),
        no = if pg { "FALSE" } else { "0" },
        data = q(&data),
    )
}

/// The database of `db` at schema `version`: the first `version` steps, and `old` in it.
async fn at_schema(db: &TestDb, backend: Backend, version: usize, old: &Old) {
    let hash = hash_password(PASSWORD).expect("hash");
    let meta = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";
    let set = format!("INSERT INTO meta (key, value) VALUES ('schema_version', '{version}');");
    match backend {
        Backend::Sqlite => {
            let path = shelfmark_server::config::sqlite_path(&db.url).expect("sqlite path");
            let conn = rusqlite::Connection::open(path).expect("open");
            conn.execute_batch(meta).expect("meta");
            for step in &sqlite::MIGRATIONS[..version] {
                conn.execute_batch(step).expect("an old step");
            }
            conn.execute_batch(&set).expect("version");
            conn.execute_batch(&seed_sql(old, &hash, false))
                .expect("old data");
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::raw_sql(meta).execute(&pool).await.expect("meta");
            for step in &postgres::MIGRATIONS[..version] {
                sqlx::raw_sql(step)
                    .execute(&pool)
                    .await
                    .expect("an old step");
            }
            sqlx::raw_sql(&set).execute(&pool).await.expect("version");
            sqlx::raw_sql(&seed_sql(old, &hash, true))
                .execute(&pool)
                .await
                .expect("old data");
            pool.close().await;
        }
    }
}

async fn every_earlier_schema_migrates_and_keeps_its_data(backend: Backend) {
    assert_eq!(
        sqlite::MIGRATIONS.len() as i64,
        SCHEMA_VERSION,
        "one SQLite step per schema version"
    );
    assert_eq!(postgres::MIGRATIONS.len() as i64, SCHEMA_VERSION);
    for version in 1..SCHEMA_VERSION as usize {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let old = Old {
            user: Uuid::now_v7(),
            book: Uuid::now_v7(),
            token: "an-old-token",
        };
        at_schema(&db, backend, version, &old).await;

        let store = Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("schema {version} does not migrate: {e}"));
        assert_eq!(
            store.meta("schema_version").await.expect("meta").as_deref(),
            Some(SCHEMA_VERSION.to_string().as_str()),
            "from schema {version}"
        );
        // The user: still there, enabled, with the password they had.
        let user = store.user_by_name("ann").await.expect("read");
        let user = user.unwrap_or_else(|| panic!("the user of schema {version} is gone"));
        assert_eq!(user.id, old.user);
        assert!(!user.disabled);
        assert!(verify_password(PASSWORD, &user.password_hash));
        // Their session too.
        let (by, _) = store
            .session(&token_hash(old.token))
            .await
            .expect("read")
            .expect("the old session");
        assert_eq!(by.id, old.user);
        // The book, its revision (still naming its author) and its search text.
        let row = store.get(RecordType::Book, old.book).await.expect("read");
        let row = row.unwrap_or_else(|| panic!("the book of schema {version} is gone"));
        assert_eq!(row.json()["title"], "Kept across schemas");
        assert_eq!(row.seq, 1);
        let revisions = store
            .revisions(RecordType::Book, old.book, None)
            .await
            .expect("revisions");
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].by.name, "ann");
        assert_eq!(revisions[0].by.id, Some(old.user));
        let found = store
            .list(
                RecordType::Book,
                shelfmark_server::store::ListQuery {
                    words: vec!["kept".into()],
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("search");
        assert_eq!(found.len(), 1, "search from schema {version}");
        // And it takes new writes where it left off.
        assert_eq!(store.latest_seq().await.expect("seq"), 1);
        let disabled = shelfmark_server::auth::disable(&store, "ann")
            .await
            .expect("disable");
        assert_eq!(disabled, 1, "the schema-{version} session ends");
    }
}

async fn a_newer_schema_is_refused_untouched(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    drop(Store::connect(&db.url).await.expect("a current database"));
    let newer = (SCHEMA_VERSION + 1).to_string();
    let set = format!("UPDATE meta SET value = '{newer}' WHERE key = 'schema_version'");
    match backend {
        Backend::Sqlite => {
            let path = shelfmark_server::config::sqlite_path(&db.url).expect("path");
            let conn = rusqlite::Connection::open(path).expect("open");
            conn.execute_batch(&set).expect("newer");
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::raw_sql(&set).execute(&pool).await.expect("newer");
            pool.close().await;
        }
    }
    match Store::connect(&db.url).await {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => {
            panic!("a database of schema {newer} was opened by a schema-{SCHEMA_VERSION} binary")
        }
    }
    // Still marked newer: the refusal changed nothing.
    let read = "SELECT value FROM meta WHERE key = 'schema_version'";
    let value: String = match backend {
        Backend::Sqlite => {
            let path = shelfmark_server::config::sqlite_path(&db.url).expect("path");
            rusqlite::Connection::open(path)
                .and_then(|c| c.query_row(read, [], |r| r.get(0)))
                .expect("read")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let v = sqlx::query_scalar(read)
                .fetch_one(&pool)
                .await
                .expect("read");
            pool.close().await;
            v
        }
    };
    assert_eq!(value, newer);
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    every_earlier_schema_migrates_and_keeps_its_data,
    a_newer_schema_is_refused_untouched
);
