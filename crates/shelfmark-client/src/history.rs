//! A record's history as the server keeps it: every revision, who made it and when
//! (`GET /v1/{collection}/{id}/revisions`, managers only). Online only: the cache keeps the
//! current state of a record, not its past.

use reqwest::StatusCode;
use shelfmark_core::RecordType;
use shelfmark_core::wire::Revision;
use uuid::Uuid;

use crate::{Client, ClientError, problem_error};

impl Client {
    /// Every revision of one record, oldest first.
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
