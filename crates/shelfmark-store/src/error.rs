//! The cache's one error type.

use shelfmark_core::{RecordType, ValidationErrors};
use uuid::Uuid;

/// What can go wrong with the offline cache.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cache database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a record in the cache or the feed is not valid JSON for its type: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the cache was written by a newer Shelfmark (schema {found}, this app knows up to \
         {supported}); update the app, or remove the cache to sync afresh"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("no {} {id} in the cache", kind.as_str())]
    NotFound { kind: RecordType, id: Uuid },
    #[error("this {} was deleted here; the deletion is waiting to sync", kind.as_str())]
    Deleted { kind: RecordType, id: Uuid },
    #[error("this {} is in conflict with the server: settle the conflict first", kind.as_str())]
    InConflict { kind: RecordType, id: Uuid },
    #[error("no outbox entry {0}")]
    NoSuchEdit(i64),
    #[error(
        "{user} has an edit of this {} waiting on this computer: it goes to the server when \
         {user} signs in here again (or a manager discards it)", kind.as_str()
    )]
    OtherUsersEdit { kind: RecordType, user: String },
}
