//! The manager's escalation actions and the escalation detail, straight from the server
//! (PROTOCOL.md, "Escalations"). They are online-only: nothing here goes through the outbox.
//! Each action is conditional on the escalation's tag (`If-Match`); a stale tag, a settled
//! escalation or a hold that moved answers `409 edit-conflict`, a typed
//! [`ClientError::EditConflict`] whose `theirs` [`conflict_current`] reads back.

use std::fmt::Display;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MATCH};
use serde_json::json;
use shelfmark_core::{Escalation, Hold, PurchaseRequest};
use shelfmark_store::escalations::EscalationDetail;

use crate::{Client, ClientError, problem_error, refusal};

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
