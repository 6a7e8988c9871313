//! The sync engine: signs in to the library server and keeps the offline cache
//! (`shelfmark-store`) current through the change feed (`GET /v1/changes`, PROTOCOL.md).
//!
//! It knows HTTP, not Tauri: the desktop shell and the `shelfmark` CLI both drive it, and it
//! reports progress as [`SyncEvent`]s on a channel for whoever shows them. The desktop app's
//! loop around it (sign-in, the remembered session, syncing on a timer, backoff) is
//! [`desk::Desk`].

pub mod backoff;
pub mod credentials;
pub mod desk;
mod error;
pub mod escalations;
mod history;
mod push;
pub mod session;
#[cfg(test)]
mod test_support;
mod wording;

pub use error::{Cause, ClientError, EditConflict, TlsProblem};
pub use push::PushReport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use shelfmark_core::wire::{ChangeFeed, Problem, SessionRequest, SessionResponse, UserInfo};
use shelfmark_store::Store;
use tokio::sync::mpsc::UnboundedSender;

/// The cache as the engine shares it with the shell: one connection behind a mutex, used from
/// blocking tasks so SQLite never stalls the async runtime.
pub type SharedStore = Arc<Mutex<Store>>;

/// How many changes one page of the feed asks for (the protocol's maximum).
pub const PAGE_SIZE: usize = 5000;

/// Progress of a sync, for a progress bar or a log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum SyncEvent {
    Started,
    /// One page of the change feed was applied to the cache.
    PagePulled {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        changes: usize,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        last_seq: i64,
        /// The server's latest sequence number (from the feed's ETag), for a progress bar.
        #[cfg_attr(feature = "ts", ts(type = "number | null"))]
        server_seq: Option<i64>,
    },
    /// One outbox entry was settled (running totals of this push).
    EditPushed {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        pushed: usize,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        conflicts: usize,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        failed: usize,
    },
    Finished {
        report: SyncReport,
    },
    Failed {
        message: String,
    },
}

/// What one pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PullReport {
    /// Pages that came back with a body (0: the server answered 304, nothing changed).
    pub pages: u32,
    /// Records applied to the cache.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub changes: usize,
    /// The feed position after the pull.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_seq: i64,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncReport {
    pub pull: PullReport,
    pub push: PushReport,
}

/// A connection to one library server, signed in or not.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// Whom the session belongs to: only their edits are pushed with it.
    user: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (for example `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        let mut base = Url::parse(base_url)
            .map_err(|e| ClientError::InvalidUrl(format!("{base_url}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl(format!(
                "{base_url}: not an http(s) address"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("shelfmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Network)?;
        Ok(Client {
            http,
            base,
            token: None,
            user: None,
        })
    }

    /// A client for the server at `base_url` that reuses `user`'s session token kept from an
    /// earlier sign-in (see [`credentials`]); the server answers 401 once it has expired.
    pub fn with_token(base_url: &str, token: &str, user: &str) -> Result<Client, ClientError> {
        let mut client = Client::new(base_url)?;
        client.token = Some(token.to_owned());
        client.user = Some(user.to_owned());
        Ok(client)
    }

    /// The user this client signed in as.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The session token of the last sign-in, to keep for the next run.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path)
            .map_err(|e| ClientError::InvalidUrl(format!("{path}: {e}")))
    }

    fn auth_headers(&self) -> Result<HeaderMap, ClientError> {
        let token = self.token.as_deref().ok_or(ClientError::NotSignedIn)?;
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| {
            ClientError::protocol_because("the session token is not a valid header", e)
        })?;
        headers.insert(AUTHORIZATION, value);
        Ok(headers)
    }

    /// Signs in (`POST /v1/sessions`) and keeps the token for the following requests.
    pub async fn sign_in(
        &mut self,
        username: &str,
        password: &str,
    ) -> Result<UserInfo, ClientError> {
        let body = SessionRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let response = self
            .http
            .post(self.url("v1/sessions")?)
            .json(&body)
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(problem_error(response).await);
        }
        let session: SessionResponse = response.json().await?;
        self.token = Some(session.token);
        self.user = Some(session.user.name.clone());
        Ok(session.user)
    }

    /// One sync: pull the change feed, then push the outbox. Reports `Started`, progress, and
    /// `Finished` or `Failed` on `events`.
    pub async fn sync(
        &self,
        store: &SharedStore,
        events: &UnboundedSender<SyncEvent>,
    ) -> Result<SyncReport, ClientError> {
        let _ = events.send(SyncEvent::Started);
        let result: Result<SyncReport, ClientError> = async {
            let mut pull = self.pull(store, events).await?;
            let push = self.push(store, events).await?;
            // A write the server took may change other records as a side effect (a placed hold
            // makes its copy held; a premium patron's lost hold opens an escalation): read them
            // now, so the window does not contradict itself until the next sync.
            if push.pushed + push.lost_holds > 0 {
                let after = self.pull(store, events).await?;
                pull.pages += after.pages;
                pull.changes += after.changes;
                pull.last_seq = after.last_seq;
            }
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            with_store(store, move |s| s.mark_synced(&at)).await?;
            Ok(SyncReport { pull, push })
        }
        .await;
        let _ = events.send(match &result {
            Ok(report) => SyncEvent::Finished {
                report: report.clone(),
            },
            Err(e) => SyncEvent::Failed {
                message: e.to_string(),
            },
        });
        result
    }

    /// Brings the cache up to date with the change feed: pages from the stored position until
    /// the server says there is no more, each page applied in one transaction. When nothing
    /// changed this is exactly one request, answered 304.
    pub async fn pull(
        &self,
        store: &SharedStore,
        events: &UnboundedSender<SyncEvent>,
    ) -> Result<PullReport, ClientError> {
        // Into an empty cache, the search index is built once at the end, not row by row.
        let bulk = with_store(store, |s| s.begin_bulk_load()).await?;
        let result = self.pull_pages(store, events).await;
        if bulk {
            with_store(store, |s| s.end_bulk_load()).await?;
        }
        result
    }

    /// The pages of a pull. While one page is applied to the cache, the next is already being
    /// fetched and parsed: the server, the network and the cache work side by side.
    async fn pull_pages(
        &self,
        store: &SharedStore,
        events: &UnboundedSender<SyncEvent>,
    ) -> Result<PullReport, ClientError> {
        let position = with_store(store, |s| s.sync_position()).await?;
        let mut report = PullReport {
            last_seq: position.last_seq,
            ..PullReport::default()
        };
        let mut next = self
            .fetch_page(report.last_seq, position.feed_etag.as_deref())
            .await?;
        loop {
            let Some((feed, etag)) = next else {
                return Ok(report);
            };
            if feed.last_seq < report.last_seq {
                return Err(ClientError::protocol(format!(
                    "the change feed went backwards (from {} to {})",
                    report.last_seq, feed.last_seq
                )));
            }
            let more = feed.more && !feed.changes.is_empty();
            let last_seq = feed.last_seq;
            let page_etag = etag.clone();
            let apply = with_store(store, move |s| s.apply_changes(&feed, page_etag.as_deref()));
            let applied = if more {
                let (applied, prefetched) = tokio::join!(apply, self.fetch_page(last_seq, None));
                next = prefetched?;
                applied?
            } else {
                next = None;
                apply.await?
            };
            report.pages += 1;
            report.changes += applied;
            report.last_seq = last_seq;
            let _ = events.send(SyncEvent::PagePulled {
                changes: applied,
                last_seq,
                server_seq: etag
                    .as_deref()
                    .and_then(|t| t.trim_matches('"').parse().ok()),
            });
        }
    }

    /// One page of the change feed after `since`, with its ETag; None when the server answers
    /// 304 to `feed_etag`.
    async fn fetch_page(
        &self,
        since: i64,
        feed_etag: Option<&str>,
    ) -> Result<Option<(ChangeFeed, Option<String>)>, ClientError> {
        let mut url = self.url("v1/changes")?;
        url.query_pairs_mut()
            .append_pair("since", &since.to_string())
            .append_pair("limit", &PAGE_SIZE.to_string());
        let mut request = self.http.get(url).headers(self.auth_headers()?);
        if let Some(tag) = feed_etag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(None),
            StatusCode::OK => {}
            _ => return Err(problem_error(response).await),
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let feed: ChangeFeed = response.json().await?;
        Ok(Some((feed, etag)))
    }
}

/// Runs `f` on the cache in a blocking task.
pub(crate) async fn with_store<T, F>(store: &SharedStore, f: F) -> Result<T, ClientError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, shelfmark_store::StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().map_err(|_| ClientError::StorePoisoned)?;
        f(&mut guard).map_err(ClientError::Store)
    })
    .await
    .map_err(|source| ClientError::Task {
        what: "cache",
        source,
    })?
}

/// Turns a non-success answer into a typed error, keeping the server's problem detail.
pub(crate) async fn problem_error(response: reqwest::Response) -> ClientError {
    refusal(response, None).await
}

/// Turns a non-success answer to a request that sent `mine` into a typed error (see
/// [`ClientError::refused`]).
pub(crate) async fn refusal(
    response: reqwest::Response,
    mine: Option<&serde_json::Value>,
) -> ClientError {
    let status = response.status();
    let problem = response.json::<Problem>().await.ok();
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized(
            problem
                .map(|p| p.detail)
                .unwrap_or_else(|| "wrong user name or password".into()),
        ),
        _ => ClientError::refused(status.as_u16(), problem, mine),
    }
}
