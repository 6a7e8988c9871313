//! The manager's escalation actions and the escalation detail, straight from the server
//! (PROTOCOL.md, "Escalations"). They are online-only: nothing here goes through the outbox.
//! Each action is conditional on the escalation's tag (`If-Match`); a stale tag, a settled
//! escalation or a hold that moved answers `409 edit-conflict`, a typed
//! [`ClientError::EditConflict`] whose `theirs` [`conflict_current`] reads back.
//!
//! The desk's side ([`Desk::escalation_detail`], [`Desk::reassign_copy`]...) is what the
//! escalation screen calls: the detail from the server when it answers, else from the cache,
//! and each action settled into an [`ActionOutcome`]. A `409` (or a stricter server's `412`)
//! is an outcome, not an error: the refreshed detail with a sentence saying what changed
//! (`shelfmark_core::escalation_conflict`). After each action the desk syncs so the cache follows.

use std::fmt::Display;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MATCH};
use serde_json::json;
use shelfmark_core::escalation_conflict::{
    STALE_ESCALATION, conflict_message, hold_no_longer_offered,
};
use shelfmark_core::{Escalation, Hold, PurchaseRequest};
use shelfmark_store::escalations::EscalationDetail;
use uuid::Uuid;

use crate::desk::Desk;
use crate::{Client, ClientError, problem_error, refusal, with_store};

/// What a reassignment did: the escalation (now `reassigned`) and the premium patron's new hold.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Reassigned {
    pub escalation: Escalation,
    pub hold: Option<Hold>,
}

/// The server's current state of whatever a `409 edit-conflict` was about (the escalation, or
/// the hold that moved), or None for any other error.
pub fn conflict_current(e: &ClientError) -> Option<&serde_json::Value> {
    match e {
        ClientError::EditConflict(conflict) => Some(&conflict.theirs),
        _ => None,
    }
}

impl Client {
    /// `GET /v1/escalations/{id}`: the escalation with the patron, the book, every active hold
    /// on its copies and the purchase requests; its ETag in `etag`.
    pub async fn escalation_detail(
        &self,
        id: impl Display,
    ) -> Result<EscalationDetail, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("v1/escalations/{id}"))?)
            .headers(self.auth_headers()?)
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            return Err(problem_error(response).await);
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut detail: EscalationDetail = response.json().await?;
        detail.etag = etag;
        detail.offline = false;
        Ok(detail)
    }

    /// `POST /v1/escalations/{id}/reassign`: the copy of the (non-premium) hold `hold_id` goes
    /// to the premium patron; its holder is emailed.
    pub async fn reassign_copy(
        &self,
        id: impl Display,
        etag: &str,
        hold_id: impl Display,
        note: &str,
    ) -> Result<Reassigned, ClientError> {
        let body = json!({ "hold_id": hold_id.to_string(), "note": note });
        let response = self.action(id, "reassign", etag, &body).await?;
        Ok(response.json().await?)
    }

    /// `POST /v1/escalations/{id}/purchase`: asks for `quantity` new copies; the escalation
    /// becomes `purchase_flagged` until one arrives.
    pub async fn flag_purchase(
        &self,
        id: impl Display,
        etag: &str,
        quantity: u32,
        note: &str,
    ) -> Result<PurchaseRequest, ClientError> {
        let body = json!({ "quantity": quantity, "note": note });
        let response = self.action(id, "purchase", etag, &body).await?;
        Ok(response.json().await?)
    }

    /// `POST /v1/escalations/{id}/resolve`: closed by hand, with a note saying how.
    pub async fn resolve_escalation(
        &self,
        id: impl Display,
        etag: &str,
        note: &str,
    ) -> Result<Escalation, ClientError> {
        let body = json!({ "note": note });
        let response = self.action(id, "resolve", etag, &body).await?;
        Ok(response.json().await?)
    }

    async fn action(
        &self,
        id: impl Display,
        action: &str,
        etag: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, ClientError> {
        let response = self
            .http
            .post(self.url(&format!("v1/escalations/{id}/{action}"))?)
            .headers(self.auth_headers()?)
            .header(IF_MATCH, etag)
            .json(body)
            .send()
            .await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(response, Some(body)).await)
        }
    }
}

/// What a manager's action came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionOutcome {
    /// Done: the escalation as it is now.
    Done { detail: Option<EscalationDetail> },
    /// Something changed meanwhile (a hold moved, someone settled the escalation, the detail
    /// was stale): nothing was done; the refreshed detail, and what changed.
    Conflict {
        message: String,
        detail: Option<EscalationDetail>,
    },
}

impl Desk {
    /// The detail: the server's (fresh, with when each hold was placed) when it answers, else
    /// the cache's (`offline`).
    pub async fn escalation_detail(
        &self,
        id: Uuid,
    ) -> Result<Option<EscalationDetail>, ClientError> {
        self.detail(self.client().await.as_ref(), id).await
    }

    async fn detail(
        &self,
        client: Option<&Client>,
        id: Uuid,
    ) -> Result<Option<EscalationDetail>, ClientError> {
        if let Some(client) = client {
            match client.escalation_detail(id).await {
                Ok(detail) => return Ok(Some(detail)),
                Err(ClientError::Server { status: 404, .. }) => return Ok(None),
                Err(e) if e.is_retryable() => {
                    tracing::info!("escalation detail from the cache: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        with_store(self.store(), move |s| s.escalation_detail(id)).await
    }

    /// Gives the copy of the (non-premium) hold `hold_id` to the escalation's premium patron.
    pub async fn reassign_copy(
        &self,
        id: Uuid,
        etag: &str,
        hold_id: Uuid,
        note: &str,
    ) -> Result<ActionOutcome, ClientError> {
        let client = self.signed_in().await?;
        let result = client.reassign_copy(id, etag, hold_id, note.trim()).await;
        if let Err(ClientError::Server {
            status: 400,
            problem: Some(problem),
        }) = &result
            && problem.errors.iter().any(|f| f.field == "hold_id")
        {
            // A hold whose patron became premium meanwhile makes the request invalid (400 on
            // `hold_id`), as does, on a server older than this app, a hold deleted meanwhile.
            // If the fresh detail no longer offers the chosen hold, it changed meanwhile: the
            // same outcome as a 409.
            let detail = self.detail(Some(&client), id).await.ok().flatten();
            let offered = |d: &EscalationDetail| {
                let holds = d.active_holds.iter().map(|h| (h.hold.id, h.premium));
                hold_no_longer_offered(holds, hold_id)
            };
            if let Some(message) = detail.as_ref().filter(|d| !d.offline).and_then(offered) {
                self.sync_now();
                return Ok(ActionOutcome::Conflict { message, detail });
            }
        }
        self.settle(&client, id, result.map(|_| ())).await
    }

    /// Flags a purchase of `quantity` copies for the escalation's book.
    pub async fn flag_purchase(
        &self,
        id: Uuid,
        etag: &str,
        quantity: u32,
        note: &str,
    ) -> Result<ActionOutcome, ClientError> {
        let client = self.signed_in().await?;
        let result = client.flag_purchase(id, etag, quantity, note.trim()).await;
        self.settle(&client, id, result.map(|_| ())).await
    }

    /// Closes the escalation by hand, with a note saying how it was settled.
    pub async fn resolve_escalation(
        &self,
        id: Uuid,
        etag: &str,
        note: &str,
    ) -> Result<ActionOutcome, ClientError> {
        let client = self.signed_in().await?;
        let result = client.resolve_escalation(id, etag, note.trim()).await;
        self.settle(&client, id, result.map(|_| ())).await
    }

    async fn signed_in(&self) -> Result<Client, ClientError> {
        self.client().await.ok_or(ClientError::NotSignedIn)
    }

    /// After an action: a sync so the cache follows, and the refreshed detail; a 409 (or a
    /// stricter server's 412 on a stale `If-Match`) becomes a `Conflict` saying what changed.
    async fn settle(
        &self,
        client: &Client,
        id: Uuid,
        result: Result<(), ClientError>,
    ) -> Result<ActionOutcome, ClientError> {
        let conflict = match result {
            Ok(()) => None,
            Err(e) => match conflict_current(&e) {
                Some(current) => Some(conflict_message(current)),
                None if matches!(e, ClientError::Server { status: 412, .. }) => {
                    Some(STALE_ESCALATION.into())
                }
                None => return Err(e),
            },
        };
        self.sync_now();
        let detail = self.detail(Some(client), id).await?;
        Ok(match conflict {
            None => ActionOutcome::Done { detail },
            Some(message) => ActionOutcome::Conflict { message, detail },
        })
    }
}
