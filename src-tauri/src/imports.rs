//! "Import MARC…" in the window: a vendor's MARC file, chosen in the dialog plugin's file
//! chooser (the window's only dialog permission is to open a file), previewed, then its new
//! books queued in the outbox as offline creates with a progress bar. The reading is the
//! client's (`shelfmark_client::marc`) and the sorting and queueing the cache's, the same two
//! steps the CLI's `shelfmark import marc` runs; this only wires them to the window.

use std::path::PathBuf;

use serde::Serialize;
use shelfmark_client::desk::Desk;
use shelfmark_client::marc::read_marc_file;
use shelfmark_store::{ImportCandidate, ImportPreview};
use tauri::State;
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::commands::{CommandError, edit, with_store};

type Result<T> = std::result::Result<T, CommandError>;

/// How far the queueing of an import is.
#[derive(Debug, Clone, Copy, Serialize, TS)]
#[ts(export)]
pub(crate) struct ImportProgress {
    pub(crate) queued: u32,
    pub(crate) total: u32,
}

/// Reads the file's records (off the UI thread: a file dialog may point at a slow share).
async fn read(path: String) -> Result<Vec<ImportCandidate>> {
    tauri::async_runtime::spawn_blocking(move || read_marc_file(&PathBuf::from(path)))
        .await?
        .map_err(|e| CommandError::message(e.to_string()))
}

/// What importing the MARC file at `path` would do: the new books, those the catalogue
/// already has, the rejected records and why. Nothing is written.
#[tauri::command]
pub(crate) async fn preview_marc_import(
    desk: State<'_, Desk>,
    path: String,
) -> Result<ImportPreview> {
    let candidates = read(path).await?;
    with_store(&desk, move |s| s.preview_import(candidates)).await
}

/// Imports the MARC file at `path`: sorts it again (the catalogue may have changed since the
/// preview: a sync, another import) and queues each new book as an offline create, telling
/// `on_progress` as it goes. Returns what was done (`new` are the books queued).
#[tauri::command]
pub(crate) async fn import_marc(
    desk: State<'_, Desk>,
    path: String,
    on_progress: Channel<ImportProgress>,
) -> Result<ImportPreview> {
    let candidates = read(path).await?;
    edit(&desk, move |s| {
        let preview = s.preview_import(candidates)?;
        let total = count(preview.new.len());
        // About a hundred steps whatever the batch's size: each is a message to the window.
        let step = (preview.new.len() / 100).max(1);
        s.queue_imports(&preview.new, |done| {
            if done % step == 0 || done == preview.new.len() {
                let progress = ImportProgress {
                    queued: count(done),
                    total,
                };
                if let Err(e) = on_progress.send(progress) {
                    tracing::warn!("cannot send the import's progress to the window: {e}");
                }
            }
        })?;
        Ok(preview)
    })
    .await
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
