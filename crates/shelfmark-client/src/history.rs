//! A record's history as the server keeps it: every revision, who made it and when
//! (`GET /v1/{collection}/{id}/revisions`, newest first; a patron's for managers only).
//! Online only: the cache keeps the current state of a record, not its past, so the history
//! screen asks the server each time ([`Desk::history`]) and says plainly when it cannot
//! (`ClientError::history_message`). A book's contest (who got its copies, and why) is the
//! server's too (`GET /v1/books/{id}/contests`), with the names read from the cache.

use reqwest::StatusCode;
use shelfmark_core::RecordType;
use shelfmark_core::history::{self, HistoryEntry};
use shelfmark_core::wire::{ContestEntry, Revision};
use shelfmark_store::ContestLine;
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

    /// Every decision on who got a copy of the book, in the order the server made them.
    pub async fn contests(&self, book: Uuid) -> Result<Vec<ContestEntry>, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("v1/books/{book}/contests"))?)
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

    /// A book's contest, each decision with the patrons and copy named as the cache knows
    /// them. A book the server does not know yet has none.
    pub async fn contest(&self, book: Uuid) -> Result<Vec<ContestLine>, ClientError> {
        let client = self.client().await.ok_or(ClientError::NotSignedIn)?;
        let entries = match client.contests(book).await {
            Ok(entries) => entries,
            Err(ClientError::Server { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        crate::with_store(self.store(), move |s| s.contest_lines(entries)).await
    }
}
