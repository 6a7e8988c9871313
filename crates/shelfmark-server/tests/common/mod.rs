//! What the server's integration-test binaries share: the backends they run on and a fresh
//! database per test (a SQLite file, or a schema of its own in the test PostgreSQL).
// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub(crate) mod server;

use shelfmark_core::wire::Role;
use shelfmark_server::auth;
use shelfmark_server::store::Store;
use uuid::Uuid;

/// The staff users' password in tests.
pub(crate) const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Something a test needs is missing: say so and skip, or fail when `CI` is set (so nothing
/// skips silently in CI, where `make test` provides everything).
pub(crate) fn missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: CI is set, so this test fails rather than skipping"
    );
    eprintln!("{what}: skipping");
}

/// A database for one test.
pub(crate) struct TestDb {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh database on `backend`; None (after [`missing`]) when PostgreSQL is not set up.
    pub(crate) async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("server.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let Ok(base) = std::env::var("SHELFMARK_TEST_POSTGRES_URL") else {
                    missing("SHELFMARK_TEST_POSTGRES_URL is not set (scripts/postgres.sh)");
                    return None;
                };
                let schema = format!("t_{}", Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&base).await.expect("test postgres");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&admin)
                    .await
                    .expect("create schema");
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(TestDb {
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    _dir: None,
                })
            }
        }
    }

    /// Opens the database and adds the two staff users, `librarian` and `manager`.
    pub(crate) async fn store_with_staff(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("open the database");
        auth::add_user(&store, "librarian", Role::Librarian, PASSWORD)
            .await
            .expect("add librarian");
        auth::add_user(&store, "manager", Role::Manager, PASSWORD)
            .await
            .expect("add manager");
        store
    }
}
