//! The commands behind the merge screen: the conflict inbox, and a merge's state recomputed
//! from the librarian's choices. The merge session is `shelfmark_core::merge::MergeSession`
//! (pure): every state is rebuilt from base / mine / theirs plus the list of choices, so undo
//! and redo are the UI dropping or re-adding a choice, and a reload after the server moved
//! again keeps every choice that still applies. These commands only read the inbox entry,
//! call the session and save its result.

use serde_json::Value;
use shelfmark_core::merge::{ConflictSummary, MergeSession, MergeView, Settled};
use shelfmark_store::{ConflictEntry, Store, StoreError};
use tauri::State;

use crate::commands::CommandError;
use shelfmark_client::desk::Desk;

type Result<T> = std::result::Result<T, CommandError>;

/// The merge of one inbox entry with `choices` replayed.
fn session(c: &ConflictEntry, choices: &[Settled]) -> Result<MergeSession> {
    c.session(choices).map_err(|e| failure(&e))
}

/// A session's error as the window shows it: the error and each of its causes.
fn failure(e: &(dyn std::error::Error + 'static)) -> CommandError {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    CommandError::message(message)
}

fn entry(s: &Store, seq: i64) -> std::result::Result<ConflictEntry, StoreError> {
    s.conflict_entry(seq)?.ok_or(StoreError::NoSuchEdit(seq))
}

async fn read<T: Send + 'static>(
    desk: &Desk,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    crate::commands::with_store(desk, f).await
}

/// The conflict inbox, oldest first.
#[tauri::command]
pub(crate) async fn conflict_inbox(desk: State<'_, Desk>) -> Result<Vec<ConflictSummary>> {
    let inbox = read(&desk, |s| s.conflicts()).await?;
    Ok(inbox.iter().map(ConflictEntry::summary).collect())
}

/// The merge of one conflict with the librarian's choices so far, which the cache keeps (a
/// restart of the app, or the conflict coming back after the server moved again, starts from
/// them: [`merge_choices`]).
#[tauri::command]
pub(crate) async fn merge_view(
    desk: State<'_, Desk>,
    seq: i64,
    choices: Vec<Settled>,
) -> Result<MergeView> {
    let kept = choices.clone();
    let c = read(&desk, move |s| {
        s.remember_choices(seq, &kept)?;
        entry(s, seq)
    })
    .await?;
    Ok(session(&c, &choices)?.view(c.summary()))
}

/// The choices last made on this conflict's merge (none yet: empty).
#[tauri::command]
pub(crate) async fn merge_choices(desk: State<'_, Desk>, seq: i64) -> Result<Vec<Settled>> {
    read(&desk, move |s| s.remembered_choices(seq)).await
}

/// Saves a merge with no conflict left: the result goes back to the outbox, based on theirs,
/// and is pushed with `If-Match` on theirs.
#[tauri::command]
pub(crate) async fn save_merge(
    desk: State<'_, Desk>,
    seq: i64,
    choices: Vec<Settled>,
) -> Result<()> {
    let c = read(&desk, move |s| entry(s, seq)).await?;
    let record = session(&c, &choices)?.finish().map_err(|e| failure(&e))?;
    read(&desk, move |s| s.resolve(seq, Some(&record))).await?;
    desk.edited();
    Ok(())
}

/// Settles a conflict with a whole record: mine again after a deletion on the server
/// (recreating it), or mine with a changed ISBN or barcode after a duplicate.
#[tauri::command]
pub(crate) async fn keep_mine(
    desk: State<'_, Desk>,
    seq: i64,
    record: Option<Value>,
) -> Result<()> {
    read(&desk, move |s| {
        let c = entry(s, seq)?;
        let mine = record.or(c.mine).unwrap_or(Value::Null);
        s.resolve(seq, Some(&mine))
    })
    .await?;
    desk.edited();
    Ok(())
}
