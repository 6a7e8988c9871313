//! The escalation screen's commands: the list and the detail (from the server when it can be
//! asked, else from the cache), and the manager's actions (reassign a copy, flag a purchase,
//! resolve by hand), which are online-only: they call the server through the client, then ask
//! the loop to sync so the cache follows. A `409` is an outcome, not an error: the window gets
//! the refreshed detail with a sentence saying what changed (`shelfmark_core::
//! escalation_conflict`). Also the desktop notification of escalations a sync brought.

use serde::Serialize;
use shelfmark_client::escalations::conflict_current;
use shelfmark_client::{Client, ClientError, SharedStore};
use shelfmark_core::arrivals::{Arrival, Arrivals, arrival_notice};
use shelfmark_core::escalation_conflict::{
    STALE_ESCALATION, conflict_message, hold_no_longer_offered,
};
use shelfmark_store::escalations::{EscalationDetail, EscalationSummary};
use tauri::{AppHandle, Manager as _, State};
use ts_rs::TS;
use uuid::Uuid;

use crate::commands::{CommandError, with_store};
use crate::sync::Engine;

type Result<T> = std::result::Result<T, CommandError>;

/// What a manager's action came to.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum ActionOutcome {
    /// Done: the escalation as it is now.
    Done { detail: Option<EscalationDetail> },
    /// Something changed meanwhile (a hold moved, someone settled the escalation, the detail
    /// was stale): nothing was done; the refreshed detail, and what changed.
    Conflict {
        message: String,
        detail: Option<EscalationDetail>,
    },
}

/// Every cached escalation, open ones first.
#[tauri::command]
pub(crate) async fn escalations(engine: State<'_, Engine>) -> Result<Vec<EscalationSummary>> {
    with_store(&engine, |s| s.escalations()).await
}

/// The detail: the server's (fresh, with when each hold was placed) when it answers, else the
/// cache's (`offline`).
#[tauri::command]
pub(crate) async fn escalation_detail(
    engine: State<'_, Engine>,
    id: Uuid,
) -> Result<Option<EscalationDetail>> {
    detail(&engine, engine.client().await.as_ref(), id).await
}

async fn detail(
    engine: &Engine,
    client: Option<&Client>,
    id: Uuid,
) -> Result<Option<EscalationDetail>> {
    if let Some(client) = client {
        match client.escalation_detail(id).await {
            Ok(detail) => return Ok(Some(detail)),
            Err(ClientError::Server { status: 404, .. }) => return Ok(None),
            Err(e) if e.is_retryable() => {
                tracing::info!("escalation detail from the cache: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    with_store(engine, move |s| s.escalation_detail(id)).await
}

/// Gives the copy of the (non-premium) hold `hold_id` to the escalation's premium patron.
#[tauri::command]
pub(crate) async fn reassign_copy(
    engine: State<'_, Engine>,
    id: Uuid,
    etag: String,
    hold_id: Uuid,
    note: String,
) -> Result<ActionOutcome> {
    let client = signed_in(&engine).await?;
    let result = client.reassign_copy(id, &etag, hold_id, note.trim()).await;
    if let Err(ClientError::Server {
        status: 400,
        problem: Some(problem),
    }) = &result
        && problem.errors.iter().any(|f| f.field == "hold_id")
    {
        // A hold whose patron became premium meanwhile makes the request invalid (400 on
        // `hold_id`), as does, on a server older than this app, a hold deleted meanwhile. If
        // the fresh detail no longer offers the chosen hold, it changed meanwhile: the same
        // outcome as a 409.
        let detail = detail(&engine, Some(&client), id).await.ok().flatten();
        let offered = |d: &EscalationDetail| {
            let holds = d.active_holds.iter().map(|h| (h.hold.id, h.premium));
            hold_no_longer_offered(holds, hold_id)
        };
        if let Some(message) = detail.as_ref().filter(|d| !d.offline).and_then(offered) {
            engine.sync_now();
            return Ok(ActionOutcome::Conflict { message, detail });
        }
    }
    settle(&engine, &client, id, result.map(|_| ())).await
}

/// Flags a purchase of `quantity` copies for the escalation's book.
#[tauri::command]
pub(crate) async fn flag_purchase(
    engine: State<'_, Engine>,
    id: Uuid,
    etag: String,
    quantity: u32,
    note: String,
) -> Result<ActionOutcome> {
    let client = signed_in(&engine).await?;
    let result = client.flag_purchase(id, &etag, quantity, note.trim()).await;
    settle(&engine, &client, id, result.map(|_| ())).await
}

/// Closes the escalation by hand, with a note saying how it was settled.
#[tauri::command]
pub(crate) async fn resolve_escalation(
    engine: State<'_, Engine>,
    id: Uuid,
    etag: String,
    note: String,
) -> Result<ActionOutcome> {
    let client = signed_in(&engine).await?;
    let result = client.resolve_escalation(id, &etag, note.trim()).await;
    settle(&engine, &client, id, result.map(|_| ())).await
}

async fn signed_in(engine: &Engine) -> Result<Client> {
    engine.client().await.ok_or(ClientError::NotSignedIn.into())
}

/// After an action: a sync so the cache follows, and the refreshed detail; a 409 (or a
/// stricter server's 412 on a stale `If-Match`) becomes a `Conflict` saying what changed.
async fn settle(
    engine: &Engine,
    client: &Client,
    id: Uuid,
    result: std::result::Result<(), ClientError>,
) -> Result<ActionOutcome> {
    let conflict = match result {
        Ok(()) => None,
        Err(e) => match conflict_current(&e) {
            Some(current) => Some(conflict_message(current)),
            None if matches!(e, ClientError::Server { status: 412, .. }) => {
                Some(STALE_ESCALATION.into())
            }
            None => return Err(e.into()),
        },
    };
    engine.sync_now();
    let detail = detail(engine, Some(client), id).await?;
    Ok(match conflict {
        None => ActionOutcome::Done { detail },
        Some(message) => ActionOutcome::Conflict { message, detail },
    })
}

/// After a sync that brought changes: a desktop notification for the open escalations that
/// were not there before (one notification for several).
pub(crate) async fn announce_arrivals(app: &AppHandle, store: &SharedStore) {
    let Some(arrivals) = app.try_state::<std::sync::Mutex<Arrivals>>() else {
        return;
    };
    let store = store.clone();
    let rows = tauri::async_runtime::spawn_blocking(move || store.lock().ok()?.escalations().ok());
    let Some(rows) = rows.await.ok().flatten() else {
        return;
    };
    let new = match arrivals.lock() {
        Ok(mut a) => a.arrived(rows.iter().map(|r| &r.escalation)),
        Err(poisoned) => poisoned
            .into_inner()
            .arrived(rows.iter().map(|r| &r.escalation)),
    };
    let named: Vec<Arrival<'_>> = rows
        .iter()
        .filter(|r| new.contains(&r.escalation.id))
        .map(|r: &EscalationSummary| Arrival {
            patron: r.patron_name.as_deref(),
            book: r.book_title.as_deref(),
            branch: r.branch.as_deref(),
        })
        .collect();
    if let Some(notice) = arrival_notice(&named) {
        tracing::info!(count = named.len(), "new escalations: notifying");
        crate::notify(app, notice);
    }
}
