//! The history screen's command: a record's revisions, each with what it changed. The
//! history is the server's (the cache keeps only the current state), so this asks the desk
//! (`shelfmark_client::desk::Desk::history`), which compares the revisions with
//! `shelfmark_core::history`; a failure reaches the window as the client's plain sentence
//! (`ClientError::history_message`: offline, "History needs a connection to the server.").
//! A book's contest (who got its copies, and why) is the server's record too.

use shelfmark_client::ClientError;
use shelfmark_client::desk::Desk;
use shelfmark_core::RecordType;
use shelfmark_core::history::HistoryEntry;
use shelfmark_store::ContestLine;
use tauri::State;
use uuid::Uuid;

use crate::commands::CommandError;

/// One record's history, newest first (empty for a record the server has not received yet).
#[tauri::command]
pub(crate) async fn history(
    desk: State<'_, Desk>,
    kind: RecordType,
    id: Uuid,
) -> Result<Vec<HistoryEntry>, CommandError> {
    desk.history(kind, id).await.map_err(|e| match e {
        ClientError::Store(e) => e.into(),
        e => CommandError::message(e.history_message()),
    })
}

/// A book's contest: every decision on who got one of its copies, in order, named in words.
#[tauri::command]
pub(crate) async fn book_contest(
    desk: State<'_, Desk>,
    id: Uuid,
) -> Result<Vec<ContestLine>, CommandError> {
    desk.contest(id).await.map_err(|e| match e {
        ClientError::Store(e) => e.into(),
        e => CommandError::message(e.history_message()),
    })
}
