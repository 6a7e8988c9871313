//! The cache's one error type.

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
}
