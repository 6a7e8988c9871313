//! The commands the UI calls. Each is a thin call into the cache or the sync engine; the
//! types they exchange derive TypeScript bindings (ts-rs) into `ui/src/lib/bindings/`.

use serde::{Deserialize, Serialize};
use shelfmark_client::{ClientError, TlsProblem};
use shelfmark_core::wire::UserInfo;
use shelfmark_core::{Book, Copy, FieldError, Hold, HoldStatus, Patron};
use shelfmark_store::{
    BookPage, BookQuery, CachedRecord, Editable, Lookup, OutboxEntry, OutboxState, Store,
    StoreError,
};
use tauri::State;
use ts_rs::TS;
use uuid::Uuid;

use crate::sync::{Engine, SyncStatus};

/// An error as the UI receives it: a message to show, and the fields to mark for a form.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct CommandError {
    message: String,
    fields: Vec<FieldError>,
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

impl From<tauri::Error> for CommandError {
    fn from(e: tauri::Error) -> Self {
        CommandError {
            message: e.to_string(),
            fields: Vec::new(),
        }
    }
}

impl CommandError {
    pub(crate) fn message(message: String) -> CommandError {
        CommandError {
            message,
            fields: Vec::new(),
        }
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
        let mut store = store.lock().map_err(|_| CommandError {
            message: "the cache is unavailable after an earlier failure; restart the app".into(),
            fields: Vec::new(),
        })?;
        f(&mut store).map_err(CommandError::from)
    })
    .await?
}

/// A book with everything its detail view shows.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct BookDetail {
    book: CachedRecord<Book>,
    copies: Vec<CachedRecord<Copy>>,
    holds: Vec<HoldView>,
}

/// A hold with its patron, as the book view lists it: active (with the copy it got), still
/// waiting to reach the server, or lost (with the server's answer).
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct HoldView {
    hold: CachedRecord<Hold>,
    patron: Option<Patron>,
    copy: Option<Copy>,
    /// For a hold the server could not fill: its `hold-unavailable` answer (`patron_premium`,
    /// `escalation_id`...).
    lost: Option<serde_json::Value>,
}

/// A copy found by its barcode.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct BarcodeMatch {
    copy: Copy,
    book: Option<Book>,
}

/// Whether a form creates a record or edits one.
#[derive(Debug, Clone, Copy, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SaveMode {
    Create,
    Edit,
}

/// One window of the catalogue list from the local cache.
#[tauri::command]
pub(crate) async fn list_books(engine: State<'_, Engine>, query: BookQuery) -> Result<BookPage> {
    let query = BookQuery {
        limit: query.limit.clamp(1, 1000),
        ..query
    };
    with_store(&engine, move |s| s.book_page(&query)).await
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
    with_store(&engine, move |s| {
        let Some(book) = s.get::<Book>(id)? else {
            return Ok(None);
        };
        let key = id.to_string();
        let copies = s.find_cached_by::<Copy>(Lookup::BookId, &key)?;
        let mut holds = Vec::new();
        for hold in s.find_cached_by::<Hold>(Lookup::BookId, &key)? {
            if hold.record.status == HoldStatus::Active {
                let patron = s.get::<Patron>(hold.record.patron_id)?.map(|p| p.record);
                let copy = match hold.record.copy_id {
                    Some(id) => s.get::<Copy>(id)?.map(|c| c.record),
                    None => None,
                };
                let lost = s.hold_outcome(hold.record.id)?;
                holds.push(HoldView {
                    hold,
                    patron,
                    copy,
                    lost,
                });
            }
        }
        Ok(Some(BookDetail {
            book,
            copies,
            holds,
        }))
    })
    .await
}

/// Saves a book from the form: validated, shown at once, queued for the server. A new book
/// gets its id (UUID v7) here.
#[tauri::command]
pub(crate) async fn save_book(
    engine: State<'_, Engine>,
    mut book: Book,
    mode: SaveMode,
) -> Result<CachedRecord<Book>> {
    if matches!(mode, SaveMode::Create) {
        book.id = Uuid::now_v7();
    }
    save(&engine, book).await
}

#[tauri::command]
pub(crate) async fn save_copy(
    engine: State<'_, Engine>,
    mut copy: Copy,
    mode: SaveMode,
) -> Result<CachedRecord<Copy>> {
    if matches!(mode, SaveMode::Create) {
        copy.id = Uuid::now_v7();
    }
    save(&engine, copy).await
}

async fn save<R: Editable + Send + 'static>(engine: &Engine, record: R) -> Result<CachedRecord<R>> {
    let saved = with_store(engine, move |s| {
        let id = record.id();
        s.save(&record)?;
        s.get::<R>(id)?
            .ok_or(StoreError::NotFound { kind: R::KIND, id })
    })
    .await?;
    engine.edited();
    Ok(saved)
}

#[tauri::command]
pub(crate) async fn delete_book(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    with_store(&engine, move |s| s.delete::<Book>(id).map(drop)).await?;
    engine.edited();
    Ok(())
}

#[tauri::command]
pub(crate) async fn delete_copy(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    with_store(&engine, move |s| s.delete::<Copy>(id).map(drop)).await?;
    engine.edited();
    Ok(())
}

/// The copy with this barcode (as a scanner types it), and its book.
#[tauri::command]
pub(crate) async fn find_by_barcode(
    engine: State<'_, Engine>,
    barcode: String,
) -> Result<Option<BarcodeMatch>> {
    with_store(&engine, move |s| {
        let Some(copy) = s
            .find_by::<Copy>(Lookup::Barcode, barcode.trim())?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let book = s.get::<Book>(copy.book_id)?.map(|b| b.record);
        Ok(Some(BarcodeMatch { copy, book }))
    })
    .await
}

/// Every edit waiting for the server or refused by it.
#[tauri::command]
pub(crate) async fn outbox(engine: State<'_, Engine>) -> Result<Vec<OutboxEntry>> {
    with_store(&engine, |s| s.outbox()).await
}

#[tauri::command]
pub(crate) async fn retry_edit(engine: State<'_, Engine>, seq: i64) -> Result<()> {
    with_store(&engine, move |s| s.retry(seq)).await?;
    engine.edited();
    engine.sync_now();
    Ok(())
}

#[tauri::command]
pub(crate) async fn discard_edit(engine: State<'_, Engine>, seq: i64) -> Result<()> {
    with_store(&engine, move |s| s.discard(seq)).await?;
    engine.edited();
    Ok(())
}

/// Places a hold for a patron on a book: queued at once (works offline); the server picks the
/// copy when it syncs, or answers that every copy is taken.
#[tauri::command]
pub(crate) async fn place_hold(
    engine: State<'_, Engine>,
    patron_id: Uuid,
    book_id: Uuid,
) -> Result<CachedRecord<Hold>> {
    let hold = Hold {
        id: Uuid::now_v7(),
        patron_id,
        book_id,
        copy_id: None,
        status: HoldStatus::Active,
        cancel_reason: None,
    };
    save(&engine, hold).await
}

/// Cancels a hold (queued; the server frees its copy), or dismisses a lost one.
#[tauri::command]
pub(crate) async fn cancel_hold(engine: State<'_, Engine>, id: Uuid) -> Result<()> {
    with_store(&engine, move |s| {
        let lost = s
            .outbox()?
            .into_iter()
            .find(|e| e.record_id == id && e.state == OutboxState::Lost);
        match lost {
            Some(entry) => s.discard(entry.seq),
            None => s.delete::<Hold>(id).map(drop),
        }
    })
    .await?;
    engine.edited();
    Ok(())
}

#[tauri::command]
pub(crate) async fn search_patrons(
    engine: State<'_, Engine>,
    query: String,
) -> Result<Vec<Patron>> {
    with_store(&engine, move |s| s.search_patrons(&query, 50)).await
}

/// Signs in from the sign-in screen. The error says what to fix: the password, the address,
/// the network, or the server's certificate.
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
        .map_err(|e| CommandError {
            message: sign_in_message(&server, e),
            fields: Vec::new(),
        })
}

/// What the sign-in screen says when signing in to `server` failed.
fn sign_in_message(server: &str, e: ClientError) -> String {
    match e.tls_problem() {
        Some(TlsProblem::Certificate(why)) => {
            return format!(
                "The server at {server} presented a certificate this computer does not trust \
                 ({why}). Check the address, or ask your IT admin for the library's certificate."
            );
        }
        Some(TlsProblem::Handshake(why)) => {
            return format!(
                "Could not open a secure connection to {server} ({why}). Is it the https:// \
                 address of the library server? A server without TLS takes http://."
            );
        }
        None => {}
    }
    match e {
        ClientError::Unauthorized(_) => "Wrong user name or password.".into(),
        ClientError::InvalidUrl(_) => {
            format!("“{server}” is not a server address (like https://library.example.org).")
        }
        ClientError::Network(_) => format!("Cannot reach the server at {server}: {e}"),
        other => other.to_string(),
    }
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

#[tauri::command]
pub(crate) fn sync_now(engine: State<'_, Engine>) {
    engine.sync_now();
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
        sign_in_message(url, e)
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
