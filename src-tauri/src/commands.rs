//! The commands the UI calls. Each is a thin call into the cache or the sync engine.

use shelfmark_store::BookSummary;
use tauri::State;

use crate::sync::{Engine, SyncStatus};

/// Errors as the UI receives them: a message to show.
#[derive(Debug, serde::Serialize)]
pub(crate) struct CommandError {
    message: String,
}

impl<E: std::fmt::Display> From<E> for CommandError {
    fn from(e: E) -> Self {
        CommandError {
            message: e.to_string(),
        }
    }
}

/// The catalogue list from the local cache, filtered by a search when `query` is not empty.
#[tauri::command]
pub(crate) async fn list_books(
    engine: State<'_, Engine>,
    query: String,
    limit: Option<u32>,
) -> Result<Vec<BookSummary>, CommandError> {
    let store = engine.store.clone();
    let limit = limit.unwrap_or(500).min(5000);
    tauri::async_runtime::spawn_blocking(move || {
        let store = store
            .lock()
            .map_err(|_| CommandError::from("the cache is unavailable"))?;
        store.list_books(&query, limit).map_err(CommandError::from)
    })
    .await?
}

#[tauri::command]
pub(crate) fn sync_status(engine: State<'_, Engine>) -> SyncStatus {
    engine.status()
}

#[tauri::command]
pub(crate) fn sync_now(engine: State<'_, Engine>) {
    engine.sync_now();
}
