//! A record's history as the server keeps it: every revision, who made it and when
//! (`GET /v1/{collection}/{id}/revisions`, newest first; a patron's for managers only).
//! Online only: the cache keeps the current state of a record, not its past, so the history
//! screen asks the server each time ([`Desk::history`]) and says plainly when it cannot
//! (`ClientError::history_message`).

use reqwest::StatusCode;
use shelfmark_core::RecordType;
use shelfmark_core::history::{self, HistoryEntry};
use shelfmark_core::wire::Revision;
use uuid::Uuid;

use crate::desk::Desk;
use crate::{Client, ClientError, problem_error};

impl Client {
    /// Every revision of one record, newest first.
    pub async fn revisions(
        &self,
        kind: RecordType,
        id: Uuid,
    ) -> Result<Vec<Revision>, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("v1/{}/{id}/revisions", kind.collection()))?)
            .headers(self.auth_headers()?)
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            return Err(problem_error(response).await);
        }
        Ok(response.json().await?)
    }
}

impl Desk {
    /// The history screen of one record: what each revision changed, newest first
    /// (`shelfmark_core::history`). A record the server does not know yet (made here, not
    /// sent) has none: an empty list.
    pub async fn history(
        &self,
        kind: RecordType,
        id: Uuid,
    ) -> Result<Vec<HistoryEntry>, ClientError> {
        let client = self.client().await.ok_or(ClientError::NotSignedIn)?;
        match client.revisions(kind, id).await {
            Ok(revisions) => Ok(history::entries(kind, &revisions)),
            Err(ClientError::Server { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
