//! The commands the UI calls (declared once in `ipc.rs`). Each is a thin call into the cache
//! (`shelfmark_store`, off the UI thread) or the sync desk; the one error type the window
//! receives is [`CommandError`].

use std::sync::Mutex;

use serde::Serialize;
use shelfmark_client::desk::Desk;
use shelfmark_client::session::ServerSettings;
use shelfmark_client::{ClientError, SyncEvent};
use shelfmark_core::address::ServerAddress;
use shelfmark_core::sync_status::SyncStatus;
use shelfmark_core::wire::UserInfo;
use shelfmark_core::{Book, CancelReason, Copy, FieldError, Hold, HoldStatus, Patron};
use shelfmark_store::{
    BarcodeMatch, BookDetail, BookPage, BookQuery, CachedRecord, FormRecord, OutboxEntry,
    PatronActivity, SaveMode, ScanResult, ShelfHold, StaffEdits, Store, StoreError,
};
use tauri::State;
use tauri::ipc::Channel;
use ts_rs::TS;
use uuid::Uuid;

/// An error as the UI receives it: a message to show, and the fields to mark for a form.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct CommandError {
    message: String,
    fields: Vec<FieldError>,
}

impl CommandError {
    pub(crate) fn message(message: String) -> CommandError {
        CommandError {
            message,
            fields: Vec::new(),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let fields = match &e {
            StoreError::Invalid(errors) => errors.0.clone(),
            _ => Vec::new(),
        };
        CommandError {
            message: e.to_string(),
            fields,
        }
    }
}

/// The server refused or could not answer an online-only action (the manager's escalation
/// actions): the client's words (`ClientError::action_message`), a refused form its fields;
/// the cache's own failures read as the cache's.
impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(e) => e.into(),
            e => CommandError {
                message: e.action_message(),
                fields: e.refused_fields().to_vec(),
            },
        }
    }
}

impl From<tauri::Error> for CommandError {
    fn from(e: tauri::Error) -> Self {
        CommandError::message(e.to_string())
    }
}

type Result<T> = std::result::Result<T, CommandError>;

/// Runs `f` on the cache off the UI thread.
pub(crate) async fn with_store<T: Send + 'static>(
    desk: &Desk,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let store = desk.store().clone();
    tauri::async_runtime::spawn_blocking(move || {
        let mut store = store.lock().map_err(|_| {
            CommandError::message(
                "the cache is unavailable after an earlier failure; restart the app".into(),
            )
        })?;
        f(&mut store).map_err(CommandError::from)
    })
    .await?
}

/// Runs an edit on the cache, then tells the desk (counts, status bar, a push soon).
pub(crate) async fn edit<T: Send + 'static>(
    desk: &Desk,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let done = with_store(desk, f).await?;
    desk.edited();
    Ok(done)
}

/// One window of the catalogue list from the local cache.
#[tauri::command]
pub(crate) async fn list_books(desk: State<'_, Desk>, query: BookQuery) -> Result<BookPage> {
    with_store(&desk, move |s| s.catalogue_window(query)).await
}

/// Reads the catalogue's first screen before the window asks for it. At start WebKit takes a
/// few hundred milliseconds to start the page; meanwhile the cache counts the books (with
/// 100,000 of them, reading the title index: about 130 ms when the cache file is not in memory)
/// and reads the first rows, so the window's first `list_books` finds the count remembered and
/// the pages in memory.
pub(crate) fn read_first_screen_ahead(desk: &Desk) {
    let desk = desk.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = with_store(&desk, |s| s.book_page(&BookQuery::default())).await {
            tracing::warn!("cannot read the catalogue ahead: {}", e.message);
        }
    });
}

#[tauri::command]
pub(crate) async fn branches(desk: State<'_, Desk>) -> Result<Vec<String>> {
    with_store(&desk, |s| s.branches()).await
}

#[tauri::command]
pub(crate) async fn book_detail(desk: State<'_, Desk>, id: Uuid) -> Result<Option<BookDetail>> {
    with_store(&desk, move |s| s.book_detail(id)).await
}

/// Saves a book from the form: validated, shown at once, queued for the server.
#[tauri::command]
pub(crate) async fn save_book(
    desk: State<'_, Desk>,
    book: Book,
    mode: SaveMode,
) -> Result<CachedRecord<Book>> {
    save_form(&desk, book, mode).await
}

#[tauri::command]
pub(crate) async fn save_copy(
    desk: State<'_, Desk>,
    copy: Copy,
    mode: SaveMode,
) -> Result<CachedRecord<Copy>> {
    save_form(&desk, copy, mode).await
}

/// Registers or edits a patron; a librarian's change of `premium` is refused here at once, as
/// the server would.
#[tauri::command]
pub(crate) async fn save_patron(
    desk: State<'_, Desk>,
    patron: Patron,
    mode: SaveMode,
) -> Result<CachedRecord<Patron>> {
    let role = desk
        .status()
        .role
        .unwrap_or(shelfmark_core::wire::Role::Librarian);
    edit(&desk, move |s| {
        let was = match mode {
            SaveMode::Create => false,
            SaveMode::Edit => s
                .get::<Patron>(patron.id)?
                .is_some_and(|p| p.record.premium),
        };
        if !role.may_change_premium(was, patron.premium) {
            let mut errors = shelfmark_core::ValidationErrors::default();
            errors.push(
                "premium",
                "only a manager can make a patron premium or take it away",
            );
            return Err(StoreError::Invalid(errors));
        }
        s.save_form(patron, mode)
    })
    .await
}

async fn save_form<R: FormRecord + Send + 'static>(
    desk: &Desk,
    record: R,
    mode: SaveMode,
) -> Result<CachedRecord<R>> {
    edit(desk, move |s| s.save_form(record, mode)).await
}

#[tauri::command]
pub(crate) async fn delete_book(desk: State<'_, Desk>, id: Uuid) -> Result<()> {
    edit(&desk, move |s| s.delete::<Book>(id).map(drop)).await
}

#[tauri::command]
pub(crate) async fn delete_copy(desk: State<'_, Desk>, id: Uuid) -> Result<()> {
    edit(&desk, move |s| s.delete::<Copy>(id).map(drop)).await
}

/// The copy with this barcode (as a scanner types it), and its book.
#[tauri::command]
pub(crate) async fn find_by_barcode(
    desk: State<'_, Desk>,
    barcode: String,
) -> Result<Option<BarcodeMatch>> {
    with_store(&desk, move |s| s.copy_by_barcode(&barcode)).await
}

/// Every edit waiting for the server or refused by it.
#[tauri::command]
pub(crate) async fn outbox(desk: State<'_, Desk>) -> Result<Vec<OutboxEntry>> {
    with_store(&desk, |s| s.outbox()).await
}

#[tauri::command]
pub(crate) async fn retry_edit(desk: State<'_, Desk>, seq: i64) -> Result<()> {
    edit(&desk, move |s| s.retry(seq)).await?;
    desk.sync_now();
    Ok(())
}

#[tauri::command]
pub(crate) async fn discard_edit(desk: State<'_, Desk>, seq: i64) -> Result<()> {
    edit(&desk, move |s| s.discard(seq)).await
}

/// The other staff whose edits wait on this desk for their next sign-in.
#[tauri::command]
pub(crate) async fn other_staff_edits(desk: State<'_, Desk>) -> Result<Vec<StaffEdits>> {
    with_store(&desk, |s| s.other_staff_edits()).await
}

/// Discards every edit `user` left on this desk: a manager's decision.
#[tauri::command]
pub(crate) async fn discard_staff_edits(desk: State<'_, Desk>, user: String) -> Result<()> {
    if desk.status().role != Some(shelfmark_core::wire::Role::Manager) {
        return Err(CommandError::message(format!(
            "Only a manager may discard the edits {user} left on this computer."
        )));
    }
    edit(&desk, move |s| s.discard_edits_of(&user).map(drop)).await
}

/// Places a hold for a patron on a book (queued: works offline).
#[tauri::command]
pub(crate) async fn place_hold(
    desk: State<'_, Desk>,
    patron_id: Uuid,
    book_id: Uuid,
) -> Result<CachedRecord<Hold>> {
    edit(&desk, move |s| s.place_hold(patron_id, book_id)).await
}

/// One scan at the circulation desk (a card, or a copy with the card scanned before it):
/// answered from the cache at once, its change queued (works offline).
#[tauri::command]
pub(crate) async fn scan(
    desk: State<'_, Desk>,
    barcode: String,
    patron_id: Option<Uuid>,
) -> Result<ScanResult> {
    edit(&desk, move |s| s.scan(&barcode, patron_id)).await
}

/// A branch's hold shelf (every branch when None): holds to fetch, then holds waiting.
#[tauri::command]
pub(crate) async fn hold_shelf(
    desk: State<'_, Desk>,
    branch: Option<String>,
) -> Result<Vec<ShelfHold>> {
    with_store(&desk, move |s| s.hold_shelf(branch.as_deref())).await
}

/// Ready for pickup, collected, or cancelled with a reason (queued: works offline).
#[tauri::command]
pub(crate) async fn move_hold(
    desk: State<'_, Desk>,
    id: Uuid,
    status: HoldStatus,
    reason: Option<CancelReason>,
) -> Result<CachedRecord<Hold>> {
    edit(&desk, move |s| s.move_hold(id, status, reason)).await
}

/// A patron's current holds and loans.
#[tauri::command]
pub(crate) async fn patron_activity(desk: State<'_, Desk>, id: Uuid) -> Result<PatronActivity> {
    with_store(&desk, move |s| s.patron_activity(id)).await
}

/// Cancels a hold (queued; the server frees its copy), or dismisses a lost one.
#[tauri::command]
pub(crate) async fn cancel_hold(desk: State<'_, Desk>, id: Uuid) -> Result<()> {
    edit(&desk, move |s| s.cancel_hold(id)).await
}

#[tauri::command]
pub(crate) async fn search_patrons(desk: State<'_, Desk>, query: String) -> Result<Vec<Patron>> {
    with_store(&desk, move |s| s.search_patrons(&query, 50)).await
}

/// Signs in from the sign-in screen, trusting the library's CA file when one is given (an
/// empty field: none); the error says what to fix.
#[tauri::command]
pub(crate) async fn sign_in(
    desk: State<'_, Desk>,
    server: String,
    ca_cert: Option<String>,
    username: String,
    password: String,
) -> Result<UserInfo> {
    let ca_cert = ca_cert
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .map(std::path::PathBuf::from);
    desk.sign_in(&server, ca_cert.as_deref(), &username, &password)
        .await
        .map_err(|e| CommandError::message(e.sign_in_message(&server)))
}

/// The server and CA file the sign-in screen offers (the last sign-in's).
#[tauri::command]
pub(crate) async fn server_settings(desk: State<'_, Desk>) -> Result<ServerSettings> {
    Ok(desk.server_settings().await)
}

/// Signs out: ends the session on the server and forgets it and its token; pending edits
/// stay in the cache. Returns what to tell the person when the server could not be told.
#[tauri::command]
pub(crate) async fn sign_out(desk: State<'_, Desk>) -> Result<Option<String>> {
    Ok(desk.sign_out().await.notice())
}

#[tauri::command]
pub(crate) async fn sync_status(desk: State<'_, Desk>) -> Result<SyncStatus> {
    Ok(desk.counted_status().await)
}

/// Streams every step of every sync from now on (pages pulled, edits pushed...) to the
/// window's `on_event` channel (the progress bar), in place of any channel given before.
#[tauri::command]
pub(crate) async fn watch_sync(
    progress: State<'_, Progress>,
    on_event: Channel<SyncEvent>,
) -> Result<()> {
    if let Ok(mut channel) = progress.0.lock() {
        *channel = Some(on_event);
    }
    Ok(())
}

/// The window's channel for the steps of each sync (`watch_sync`).
#[derive(Default)]
pub(crate) struct Progress(Mutex<Option<Channel<SyncEvent>>>);

impl Progress {
    /// Sends a step of the running sync to the window's channel, if it gave one.
    pub(crate) fn send(&self, event: SyncEvent) {
        let channel = self.0.lock().ok().and_then(|c| c.clone());
        if let Some(channel) = channel
            && let Err(e) = channel.send(event)
        {
            tracing::warn!("cannot send a sync step to the window: {e}");
        }
    }
}

#[tauri::command]
pub(crate) async fn sync_now(desk: State<'_, Desk>) -> Result<()> {
    desk.sync_now();
    Ok(())
}

/// What the About box says: the version and where the log is (the server is the status
/// bar's).
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub(crate) struct AboutApp {
    pub(crate) version: String,
    /// The folder of the log files, for a support person; none when it could not be made.
    pub(crate) log_folder: Option<String>,
}

#[tauri::command]
pub(crate) async fn about_app(about: State<'_, AboutApp>) -> Result<AboutApp> {
    Ok(about.inner().clone())
}

/// What the sign-in screen's server field holds, read as the sign-in will read it (https when
/// no scheme is typed; plain HTTP to another machine flagged), or nothing while it is not an
/// address yet.
#[tauri::command]
pub(crate) async fn server_address(address: String) -> Result<Option<ServerAddress>> {
    Ok(shelfmark_core::address::server_address(&address).ok())
}
