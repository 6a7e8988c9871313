//! The commands the UI calls (declared once in `ipc.rs`). Each is a thin call into the cache
//! (`shelfmark_store`, off the UI thread) or the sync engine; the one error type the window
//! receives is [`CommandError`].

use serde::Serialize;
use shelfmark_client::{ClientError, SyncEvent, TlsProblem};
use shelfmark_core::sync_status::SyncStatus;
use shelfmark_core::wire::UserInfo;
use shelfmark_core::{Book, Copy, FieldError, Hold, Patron};
use shelfmark_store::{
    BarcodeMatch, BookDetail, BookPage, BookQuery, CachedRecord, FormRecord, OutboxEntry, SaveMode,
    Store, StoreError,
};
use tauri::State;
use tauri::ipc::Channel;
use ts_rs::TS;
use uuid::Uuid;

use crate::sync::Engine;

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

    /// What the sign-in screen says when signing in to `server` failed: what to fix (the
    /// password, the address, the network, or the server's certificate).
    fn sign_in(server: &str, e: ClientError) -> CommandError {
        let message = match (e.tls_problem(), e) {
            (Some(TlsProblem::Certificate(why)), _) => format!(
                "The server at {server} presented a certificate this computer does not trust \
                 ({why}). Check the address, or ask your IT admin for the library's certificate."
            ),
            (Some(TlsProblem::Handshake(why)), _) => format!(
                "Could not open a secure connection to {server} ({why}). Is it the https:// \
                 address of the library server? A server without TLS takes http://."
            ),
            (None, ClientError::Unauthorized(_)) => "Wrong user name or password.".into(),
            (None, ClientError::InvalidUrl(_)) => {
                format!("“{server}” is not a server address (like https://library.example.org).")
            }
            (None, e @ ClientError::Network(_)) => {
                format!("Cannot reach the server at {server}: {e}")
            }
            (None, other) => other.to_string(),
        };
        CommandError::message(message)
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
/// actions): the message says what to do, a refused form its fields.
impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let message = match &e {
            ClientError::Server { status: 403, .. } => {
                "Only a manager can act on escalations.".to_owned()
            }
            ClientError::Server {
                status: 400,
                problem: Some(problem),
            } => {
                return CommandError {
                    message: if problem.errors.is_empty() {
                        problem.detail.clone()
                    } else {
                        let messages: Vec<_> =
                            problem.errors.iter().map(|f| f.message.as_str()).collect();
                        messages.join("; ")
                    },
                    fields: problem.errors.clone(),
                };
            }
            ClientError::NotSignedIn => "Sign in to act on escalations.".to_owned(),
            _ if e.is_retryable() => format!(
                "This needs the server, and it cannot be reached now ({e}). Try again when \
                 the status bar says Online."
            ),
            _ => e.to_string(),
        };
        CommandError::message(message)
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
    engine: &Engine,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let store = engine.store.clone();
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

/// Runs an edit on the cache, then tells the engine (counts, status bar, a push soon).
async fn edit<T: Send + 'static>(
    engine: &Engine,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let done = with_store(engine, f).await?;
    engine.edited();
    Ok(done)
}

/// One window of the catalogue list from the local cache.
#[tauri::command]
pub(crate) async fn list_books(engine: State<'_, Engine>, query: BookQuery) -> Result<BookPage> {
    with_store(&engine, move |s| s.catalogue_window(query)).await
}

/// Reads the catalogue's first screen before the window asks for it. At start WebKit takes a
/// few hundred milliseconds to start the page; meanwhile the cache counts the books (with
/// 100,000 of them, reading the title index: about 130 ms when the cache file is not in memory)
/// and reads the first rows, so the window's first `list_books` finds the count remembered and
/// the pages in memory.
pub(crate) fn read_first_screen_ahead(engine: &Engine) {
    let engine = engine.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = with_store(&engine, |s| s.book_page(&BookQuery::default())).await {
            tracing::warn!("cannot read the catalogue ahead: {}", e.message);
        }
    });
}

#[tauri::command]
pub(crate) async fn branches(engine: State<'_, Engine>) -> Result<Vec<String>> {
    with_store(&engine, |s| s.branches()).await
}

#[tauri::command]
pub(crate) async fn book_detail(engine: State<'_, Engine>, id: Uuid) -> Result<Option<BookDetail>> {
    with_store(&engine, move |s| s.book_detail(id)).await
}

/// Saves a book from the form: validated, shown at once, queued for the server.
#[tauri::command]
pub(crate) async fn save_book(
    engine: State<'_, Engine>,
    book: Book,
    mode: SaveMode,
) -> Result<CachedRecord<Book>> {
    save_form(&engine, book, mode).await
}

#[tauri::command]
pub(crate) async fn save_copy(
    engine: State<'_, Engine>,
    copy: Copy,
    mode: SaveMode,
) -> Result<CachedRecord<Copy>> {
    save_form(&engine, copy, mode).await
}

async fn save_form<R: FormRecord + Send + 'static>(
    engine: &Engine,
    record: R,
    mode: SaveMode,
) -> Result<CachedRecord<R>> {
    edit(engine, move |s| s.save_form(record, mode)).await
}

#[tauri::command]
pub(crate) async fn delete_book(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    edit(&engine, move |s| s.delete::<Book>(id).map(drop)).await
}

#[tauri::command]
pub(crate) async fn delete_copy(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    edit(&engine, move |s| s.delete::<Copy>(id).map(drop)).await
}

/// The copy with this barcode (as a scanner types it), and its book.
#[tauri::command]
pub(crate) async fn find_by_barcode(
    engine: State<'_, Engine>,
    barcode: String,
) -> Result<Option<BarcodeMatch>> {
    with_store(&engine, move |s| s.copy_by_barcode(&barcode)).await
}

/// Every edit waiting for the server or refused by it.
#[tauri::command]
pub(crate) async fn outbox(engine: State<'_, Engine>) -> Result<Vec<OutboxEntry>> {
    with_store(&engine, |s| s.outbox()).await
}

#[tauri::command]
pub(crate) async fn retry_edit(engine: State<'_, Engine>, seq: i64) -> Result<()> {
    edit(&engine, move |s| s.retry(seq)).await?;
    engine.sync_now();
    Ok(())
}

#[tauri::command]
pub(crate) async fn discard_edit(engine: State<'_, Engine>, seq: i64) -> Result<()> {
    edit(&engine, move |s| s.discard(seq)).await
}

/// Places a hold for a patron on a book (queued: works offline).
#[tauri::command]
pub(crate) async fn place_hold(
    engine: State<'_, Engine>,
    patron_id: Uuid,
    book_id: Uuid,
) -> Result<CachedRecord<Hold>> {
    edit(&engine, move |s| s.place_hold(patron_id, book_id)).await
}

/// Cancels a hold (queued; the server frees its copy), or dismisses a lost one.
#[tauri::command]
pub(crate) async fn cancel_hold(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    edit(&engine, move |s| s.cancel_hold(id)).await
}

#[tauri::command]
pub(crate) async fn search_patrons(
    engine: State<'_, Engine>,
    query: String,
) -> Result<Vec<Patron>> {
    with_store(&engine, move |s| s.search_patrons(&query, 50)).await
}

/// Signs in from the sign-in screen; the error says what to fix.
#[tauri::command]
pub(crate) async fn sign_in(
    engine: State<'_, Engine>,
    server: String,
    username: String,
    password: String,
) -> Result<UserInfo> {
    engine
        .sign_in(&server, &username, &password)
        .await
        .map_err(|e| CommandError::sign_in(&server, e))
}

/// Signs out: forgets the session and its token; pending edits stay in the cache.
#[tauri::command]
pub(crate) async fn sign_out(engine: State<'_, Engine>) -> Result<()> {
    engine.sign_out().await;
    Ok(())
}

#[tauri::command]
pub(crate) async fn sync_status(engine: State<'_, Engine>) -> Result<SyncStatus> {
    Ok(engine.counted_status().await)
}

/// Streams every step of every sync from now on (pages pulled, edits pushed...) to the
/// window's `on_event` channel (the progress bar), in place of any channel given before.
#[tauri::command]
pub(crate) async fn watch_sync(
    engine: State<'_, Engine>,
    on_event: Channel<SyncEvent>,
) -> Result<()> {
    engine.watch(on_event);
    Ok(())
}

#[tauri::command]
pub(crate) async fn sync_now(engine: State<'_, Engine>) -> Result<()> {
    engine.sync_now();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Signs in to `url` and returns what the sign-in screen would say.
    async fn message_for(url: &str) -> String {
        let mut client = shelfmark_client::Client::new(url).expect("a URL");
        let e = client
            .sign_in("librarian", "secret")
            .await
            .expect_err("cannot sign in there");
        CommandError::sign_in(url, e).message
    }

    #[tokio::test]
    async fn https_to_a_server_without_tls_says_the_secure_connection_failed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let message = message_for(&format!("https://{addr}")).await;
        assert!(
            message.starts_with("Could not open a secure connection to https://127.0.0.1:"),
            "{message}"
        );
        assert!(message.contains("http://"), "{message}");
    }

    #[tokio::test]
    async fn nobody_listening_says_the_server_cannot_be_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        drop(listener);
        let message = message_for(&url).await;
        assert!(
            message.starts_with(&format!("Cannot reach the server at {url}")),
            "{message}"
        );
    }
}
