//! The escalation screen's commands: the list and the detail (from the server when it can be
//! asked, else from the cache), and the manager's actions (reassign a copy, flag a purchase,
//! resolve by hand), which are online-only: they call the server through the client, then ask
//! the loop to sync so the cache follows. A `409` is an outcome, not an error: the window gets
//! the refreshed detail with a sentence saying what changed (so is a reassign refused because
//! the chosen hold was cancelled, deleted, meanwhile).

use std::collections::HashSet;

use serde::Serialize;
use shelfmark_client::escalations::conflict_current;
use shelfmark_client::{Client, ClientError, SharedStore};
use shelfmark_core::FieldError;
use shelfmark_store::escalations::{EscalationDetail, EscalationSummary};
use shelfmark_store::{Store, StoreError};
use tauri::{AppHandle, Manager as _, State};
use ts_rs::TS;
use uuid::Uuid;

use crate::sync::Engine;

/// An error as the window receives it (the shape of `CommandError`: a message, and the fields
/// of a refused form).
#[derive(Debug, Serialize)]
pub(crate) struct Failure {
    message: String,
    fields: Vec<FieldError>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            fields: Vec::new(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::new(e.to_string())
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Server { status: 403, .. } => {
                Failure::new("Only a manager can act on escalations.")
            }
            ClientError::Server {
                status: 400,
                problem: Some(problem),
            } => Failure {
                message: if problem.errors.is_empty() {
                    problem.detail.clone()
                } else {
                    problem
                        .errors
                        .iter()
                        .map(|f| f.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                fields: problem.errors.clone(),
            },
            ClientError::NotSignedIn => Failure::new("Sign in to act on escalations."),
            _ if e.is_retryable() => Failure::new(format!(
                "This needs the server, and it cannot be reached now ({e}). Try again when \
                 the status bar says Online."
            )),
            _ => Failure::new(e.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, Failure>;

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

async fn with_store<T: Send + 'static>(
    engine: &Engine,
    f: impl FnOnce(&Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let store = engine.store.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let store = store
            .lock()
            .map_err(|_| Failure::new("the cache is unavailable; restart the app"))?;
        f(&store).map_err(Failure::from)
    })
    .await
    .map_err(|e| Failure::new(e.to_string()))?
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
    if let Err(e) = &result
        && refuses_field(e, "hold_id")
    {
        // A hold whose patron became premium meanwhile makes the request invalid (400 on
        // `hold_id`), as does, on a server older than this app, a hold deleted meanwhile. If
        // the fresh detail no longer offers the chosen hold, it changed meanwhile: the same
        // outcome as a 409.
        let detail = detail(&engine, Some(&client), id).await.ok().flatten();
        if let Some(message) = detail
            .as_ref()
            .filter(|d| !d.offline)
            .and_then(|d| hold_no_longer_offered(d, hold_id))
        {
            engine.sync_now();
            return Ok(ActionOutcome::Conflict { message, detail });
        }
    }
    settle(&engine, &client, id, result.map(|_| ())).await
}

/// Whether `e` is a `400` refusing the request's field `field`.
fn refuses_field(e: &ClientError, field: &str) -> bool {
    matches!(e, ClientError::Server { status: 400, problem: Some(problem) }
        if problem.errors.iter().any(|f| f.field == field))
}

/// Why the fresh `detail` no longer offers `hold_id` for a reassignment (it is no longer an
/// active hold on the book, or its patron is premium now), or None when it still does.
fn hold_no_longer_offered(detail: &EscalationDetail, hold_id: Uuid) -> Option<String> {
    let what = match detail.active_holds.iter().find(|h| h.hold.id == hold_id) {
        None => "it was cancelled",
        Some(h) if h.premium => "its patron is premium now",
        Some(_) => return None,
    };
    Some(format!(
        "The hold you chose changed meanwhile ({what}), so nothing was done. The holds below \
         are the current ones: choose again."
    ))
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
    engine
        .client()
        .await
        .ok_or_else(|| Failure::new("Sign in to act on escalations."))
}

/// After an action: a sync so the cache follows, and the refreshed detail; a 409 becomes a
/// `Conflict` outcome explaining what changed.
async fn settle(
    engine: &Engine,
    client: &Client,
    id: Uuid,
    result: std::result::Result<(), ClientError>,
) -> Result<ActionOutcome> {
    match result {
        Ok(()) => {
            engine.sync_now();
            let detail = detail(engine, Some(client), id).await?;
            Ok(ActionOutcome::Done { detail })
        }
        Err(e) => {
            let message = match (conflict_current(&e), &e) {
                (Some(current), _) => conflict_message(current),
                // A stricter server answers a stale `If-Match` with 412 and no current state:
                // the escalation changed since this view was loaded.
                (None, ClientError::Server { status: 412, .. }) => STALE_ESCALATION.into(),
                (None, _) => return Err(e.into()),
            };
            engine.sync_now();
            let detail = detail(engine, Some(client), id).await?;
            Ok(ActionOutcome::Conflict { message, detail })
        }
    }
}

/// What the window says when the escalation changed since its view was loaded.
const STALE_ESCALATION: &str = "The escalation changed on the server since this view was \
    loaded, so nothing was done. It has been refreshed: check it and try again.";

/// What a 409's `current` says changed: the hold that was chosen (`null`: cancelled at a
/// desk, which deletes it), or the escalation.
fn conflict_message(current: &serde_json::Value) -> String {
    if current.is_null() {
        return "The hold you chose changed meanwhile (it was cancelled), so nothing was done. \
                The holds below are the current ones: choose again."
            .into();
    }
    let status = current
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("changed")
        .replace('_', " ");
    if current.get("hold_request_id").is_some() {
        if status == "open" {
            STALE_ESCALATION.into()
        } else {
            format!(
                "Someone settled this escalation meanwhile (it is now {status}), so nothing was \
                 done. This is its current state."
            )
        }
    } else {
        // A hold cancelled without a reason has "cancelled" as its reason: not said twice.
        let reason = current
            .get("cancel_reason")
            .and_then(|r| r.as_str())
            .filter(|r| *r != status)
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        format!(
            "The hold you chose changed meanwhile (it is now {status}{reason}), so nothing was \
             done. The holds below are the current ones: choose again."
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::conflict_message;

    #[test]
    fn a_conflict_says_whether_the_hold_or_the_escalation_moved() {
        let hold = json!({"id": "h", "patron_id": "p", "book_id": "b", "copy_id": null,
                          "status": "cancelled", "cancel_reason": "cancelled at the desk"});
        let m = conflict_message(&hold);
        assert!(
            m.starts_with(
                "The hold you chose changed meanwhile (it is now cancelled, cancelled at the desk)"
            ),
            "{m}"
        );
        let settled = json!({"id": "e", "hold_request_id": "r", "status": "purchase_flagged"});
        let m = conflict_message(&settled);
        assert!(m.contains("it is now purchase flagged"), "{m}");
        let stale = json!({"id": "e", "hold_request_id": "r", "status": "open"});
        assert!(conflict_message(&stale).contains("refreshed"));
        let deleted = conflict_message(&serde_json::Value::Null);
        assert!(
            deleted.starts_with("The hold you chose changed meanwhile (it was cancelled)"),
            "{deleted}"
        );
        let plain = json!({"id": "h", "status": "cancelled", "cancel_reason": "cancelled"});
        let m = conflict_message(&plain);
        assert!(m.contains("(it is now cancelled)"), "{m}");
    }

    fn detail_with(holds: serde_json::Value) -> super::EscalationDetail {
        serde_json::from_value(json!({
            "id": Uuid::from_u128(1), "patron_id": Uuid::from_u128(2),
            "book_id": Uuid::from_u128(3), "hold_request_id": Uuid::from_u128(4),
            "status": "open", "created_at": "2026-11-22T10:00:00Z", "active_holds": holds,
        }))
        .expect("a detail")
    }

    fn active(id: u128, premium: bool) -> serde_json::Value {
        json!({
            "hold": {"id": Uuid::from_u128(id), "patron_id": Uuid::from_u128(100 + id),
                     "book_id": Uuid::from_u128(3), "copy_id": Uuid::from_u128(200 + id),
                     "status": "active", "cancel_reason": null},
            "premium": premium,
        })
    }

    #[test]
    fn a_chosen_hold_gone_or_now_premium_is_explained_one_still_offered_is_not() {
        let chosen = Uuid::from_u128(10);
        let gone = detail_with(json!([active(11, false)]));
        let m = super::hold_no_longer_offered(&gone, chosen).expect("gone");
        assert!(
            m.starts_with("The hold you chose changed meanwhile (it was cancelled)"),
            "{m}"
        );
        let premium = detail_with(json!([active(10, true)]));
        let m = super::hold_no_longer_offered(&premium, chosen).expect("premium");
        assert!(m.contains("(its patron is premium now)"), "{m}");
        let offered = detail_with(json!([active(10, false)]));
        assert_eq!(super::hold_no_longer_offered(&offered, chosen), None);
    }
}

/// Notices the escalations a sync brought in open, to tell whoever is at the desk.
pub(crate) struct Arrivals {
    /// The open escalations already seen; None until the cache has been synced once (a first
    /// sync brings the whole library: nothing in it is news).
    known: std::sync::Mutex<Option<HashSet<Uuid>>>,
}

impl Arrivals {
    /// Starts from what the cache holds at start-up.
    pub(crate) fn new(store: &Store) -> Arrivals {
        let synced = store.sync_position().is_ok_and(|p| p.last_seq > 0);
        let known = synced
            .then(|| store.open_escalations().ok())
            .flatten()
            .map(|ids| ids.into_iter().collect());
        Arrivals {
            known: std::sync::Mutex::new(known),
        }
    }

    /// The open escalations not seen before; remembers `open` as seen.
    fn arrived(&self, open: Vec<Uuid>) -> Vec<Uuid> {
        let mut known = match self.known.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        let new = match &*known {
            Some(seen) => open
                .iter()
                .filter(|id| !seen.contains(id))
                .copied()
                .collect(),
            None => Vec::new(),
        };
        *known = Some(open.into_iter().collect());
        new
    }
}

/// What a notification says about the escalations that arrived.
fn arrival_text(new: &[EscalationSummary]) -> Option<(String, String)> {
    match new {
        [] => None,
        [one] => Some((
            "New escalation".into(),
            format!(
                "{} (premium) is waiting for “{}”{}.",
                one.patron_name.as_deref().unwrap_or("A premium patron"),
                one.book_title.as_deref().unwrap_or("a book"),
                one.branch
                    .as_deref()
                    .map(|b| format!(" at {b}"))
                    .unwrap_or_default()
            ),
        )),
        many => Some((
            format!("{} new escalations", many.len()),
            "Premium patrons found every copy taken: see Escalations.".into(),
        )),
    }
}

/// After a sync that brought changes: a desktop notification for each open escalation that
/// was not there before (one notification for several).
pub(crate) async fn announce_arrivals(app: &AppHandle, store: &SharedStore) {
    use tauri_plugin_notification::NotificationExt as _;
    let Some(arrivals) = app.try_state::<Arrivals>() else {
        return;
    };
    let store = store.clone();
    let open = tauri::async_runtime::spawn_blocking(move || {
        let store = store.lock().ok()?;
        let rows = store.escalations().ok()?;
        Some(rows)
    })
    .await
    .ok()
    .flatten();
    let Some(rows) = open else { return };
    let open_ids = rows
        .iter()
        .filter(|r| r.escalation.status == shelfmark_core::EscalationStatus::Open)
        .map(|r| r.escalation.id)
        .collect();
    let new = arrivals.arrived(open_ids);
    let new: Vec<EscalationSummary> = rows
        .into_iter()
        .filter(|r| new.contains(&r.escalation.id))
        .collect();
    if let Some((title, body)) = arrival_text(&new) {
        tracing::info!(count = new.len(), "new escalations: notifying");
        if let Err(e) = app.notification().builder().title(title).body(body).show() {
            tracing::warn!("cannot show the new-escalation notification: {e}");
        }
    }
}

#[cfg(test)]
mod arrival_tests {
    use super::*;

    fn summary(n: u128, patron: &str) -> EscalationSummary {
        EscalationSummary {
            escalation: serde_json::from_value(serde_json::json!({
                "id": Uuid::from_u128(n), "patron_id": Uuid::from_u128(100 + n),
                "book_id": Uuid::from_u128(200 + n), "hold_request_id": Uuid::from_u128(300 + n),
                "status": "open", "created_at": "2026-11-22T10:00:00Z"
            }))
            .expect("an escalation"),
            etag: None,
            patron_name: Some(patron.into()),
            book_title: Some("Harbour".into()),
            branch: Some("Central".into()),
        }
    }

    #[test]
    fn only_escalations_after_the_first_look_are_news() {
        let store = Store::open_in_memory().expect("cache");
        let arrivals = Arrivals::new(&store);
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(
            arrivals.arrived(vec![a]).is_empty(),
            "the first sync is not news"
        );
        assert_eq!(arrivals.arrived(vec![a, b]), vec![b]);
        assert!(arrivals.arrived(vec![a, b]).is_empty(), "told once");
        assert!(
            arrivals.arrived(vec![b]).is_empty(),
            "a settled one is not news"
        );
    }

    #[test]
    fn the_notification_names_the_patron_the_book_and_the_branch() {
        let (title, body) = arrival_text(&[summary(1, "Pia")]).expect("one");
        assert_eq!(title, "New escalation");
        assert_eq!(body, "Pia (premium) is waiting for “Harbour” at Central.");
        let (title, _) = arrival_text(&[summary(1, "Pia"), summary(2, "Noor")]).expect("two");
        assert_eq!(title, "2 new escalations");
        assert!(arrival_text(&[]).is_none());
    }
}
