//! The escalation screen's commands: the list (from the cache), the detail and the manager's
//! actions (reassign a copy, flag a purchase, resolve by hand). The flow (the server's detail
//! with the cache as fallback, a `409` turned into an outcome) is the desk's
//! (`shelfmark_client::escalations`); these commands pass its outcome to the window.

use serde::Serialize;
use shelfmark_client::desk::Desk;
use shelfmark_client::escalations::ActionOutcome as Outcome;
use shelfmark_store::escalations::{EscalationDetail, EscalationSummary};
use tauri::State;
use ts_rs::TS;
use uuid::Uuid;

use crate::commands::{CommandError, with_store};

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

impl From<Outcome> for ActionOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done { detail } => ActionOutcome::Done { detail },
            Outcome::Conflict { message, detail } => ActionOutcome::Conflict { message, detail },
        }
    }
}

/// Every cached escalation, open ones first.
#[tauri::command]
pub(crate) async fn escalations(desk: State<'_, Desk>) -> Result<Vec<EscalationSummary>> {
    with_store(&desk, |s| s.escalations()).await
}

/// The detail: the server's when it answers, else the cache's (`offline`).
#[tauri::command]
pub(crate) async fn escalation_detail(
    desk: State<'_, Desk>,
    id: Uuid,
) -> Result<Option<EscalationDetail>> {
    Ok(desk.escalation_detail(id).await?)
}

/// Gives the copy of the (non-premium) hold `hold_id` to the escalation's premium patron.
#[tauri::command]
pub(crate) async fn reassign_copy(
    desk: State<'_, Desk>,
    id: Uuid,
    etag: String,
    hold_id: Uuid,
    note: String,
) -> Result<ActionOutcome> {
    Ok(desk.reassign_copy(id, &etag, hold_id, &note).await?.into())
}

/// Flags a purchase of `quantity` copies for the escalation's book.
#[tauri::command]
pub(crate) async fn flag_purchase(
    desk: State<'_, Desk>,
    id: Uuid,
    etag: String,
    quantity: u32,
    note: String,
) -> Result<ActionOutcome> {
    Ok(desk.flag_purchase(id, &etag, quantity, &note).await?.into())
}

/// Closes the escalation by hand, with a note saying how it was settled.
#[tauri::command]
pub(crate) async fn resolve_escalation(
    desk: State<'_, Desk>,
    id: Uuid,
    etag: String,
    note: String,
) -> Result<ActionOutcome> {
    Ok(desk.resolve_escalation(id, &etag, &note).await?.into())
}
