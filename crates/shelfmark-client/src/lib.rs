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
pub mod marc;
mod push;
pub mod session;
#[cfg(test)]
mod test_support;
mod tls;
mod wording;

pub use error::{Cause, ClientError, EditConflict};
pub use push::PushReport;
/// The HTTP version a connection speaks ([`Client::protocol`]).
pub use reqwest::Version as HttpVersion;
pub use tls::{CertificateProblem, TlsProblem};

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
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

/// How signing out went: the token is forgotten locally in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedOut {
    /// The server ended the session (`204`).
    Ended,
    /// The server had already ended it (`401`: expired, or revoked).
    AlreadyEnded,
    /// The server could not be told (offline, or it failed); why.
    NotTold(String),
}

impl SignedOut {
    /// What to tell the person, when there is something to tell.
    pub fn notice(&self) -> Option<String> {
        match self {
            SignedOut::NotTold(why) => Some(format!(
                "Signed out on this computer, but the server could not be told ({why}); the \
                 session ends there when it expires."
            )),
            SignedOut::Ended | SignedOut::AlreadyEnded => None,
        }
    }
}

/// How long signing out waits for the server: it is never worth keeping a person waiting.
const SIGN_OUT_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// A client for the server at `base_url` (for example `http://127.0.0.1:8080`), trusting
    /// the system's certificate authorities.
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        Client::trusting(base_url, None)
    }

    /// A client for the server at `base_url` that trusts, besides the system's certificate
    /// authorities, those in the PEM file `ca_cert` (a library running its own CA).
    pub fn trusting(base_url: &str, ca_cert: Option<&Path>) -> Result<Client, ClientError> {
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
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("shelfmark/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_cert {
            // Merged with the system's roots (the platform verifier takes extra roots).
            builder = builder.tls_certs_merge(tls::library_roots(path)?);
        }
        let http = builder.build().map_err(|e| match ca_cert {
            // With the roots in order, building fails only on a certificate rustls refuses.
            Some(path) => ClientError::CaFile {
                path: path.to_owned(),
                reason: error::root_cause(&e),
            },
            None => ClientError::Network(e),
        })?;
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
        Ok(Client::new(base_url)?.resuming(token, user))
    }

    /// This client with `user`'s session token kept from an earlier sign-in.
    pub fn resuming(mut self, token: &str, user: &str) -> Client {
        self.token = Some(token.to_owned());
        self.user = Some(user.to_owned());
        self
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

    /// The HTTP version this client speaks with the server (HTTP/2 over TLS, where ALPN
    /// negotiates it), read off `GET /healthz`: a connection check that needs no sign-in.
    pub async fn protocol(&self) -> Result<HttpVersion, ClientError> {
        let response = self.http.get(self.url("healthz")?).send().await?;
        if !response.status().is_success() {
            return Err(problem_error(response).await);
        }
        Ok(response.version())
    }

    /// Signs out: ends the session on the server (`DELETE /v1/sessions/current`) and forgets
    /// the token here whatever the server answered. A token the server had already ended is
    /// no trouble; a server that cannot be told is said so (the token then ends there when it
    /// expires).
    pub async fn sign_out(&mut self) -> SignedOut {
        let headers = match self.auth_headers() {
            Ok(headers) => headers,
            Err(_) => return SignedOut::AlreadyEnded,
        };
        self.token = None;
        let sent = match self.url("v1/sessions/current") {
            Ok(url) => {
                self.http
                    .delete(url)
                    .headers(headers)
                    .timeout(SIGN_OUT_TIMEOUT)
                    .send()
                    .await
            }
            Err(e) => return SignedOut::NotTold(e.to_string()),
        };
        match sent {
            Ok(r) if r.status().is_success() => SignedOut::Ended,
            Ok(r) if r.status() == StatusCode::UNAUTHORIZED => SignedOut::AlreadyEnded,
            Ok(r) => SignedOut::NotTold(problem_error(r).await.to_string()),
            Err(e) => SignedOut::NotTold(ClientError::from(e).to_string()),
        }
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
    let retry_after = retry_after(&response);
    let problem = response.json::<Problem>().await.ok();
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized(
            problem
                .map(|p| p.detail)
                .unwrap_or_else(|| "wrong user name or password".into()),
        ),
        StatusCode::TOO_MANY_REQUESTS
            if problem
                .as_ref()
                .is_some_and(|p| p.name() == "too-many-attempts") =>
        {
            ClientError::TooManyAttempts { retry_after }
        }
        // The server shedding load (`503 overloaded`), or failing: like a network error.
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            ClientError::Unavailable {
                status: s.as_u16(),
                retry_after,
            }
        }
        _ => ClientError::refused(status.as_u16(), problem, mine),
    }
}

/// The server's `Retry-After`, in seconds (the form the protocol uses).
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{canned_server, problem_answer};

    #[tokio::test]
    async fn throttled_sign_ins_say_how_many_minutes_to_wait() {
        let (addr, _) = canned_server(problem_answer(
            429,
            "Too Many Requests",
            "too-many-attempts",
            840,
        ))
        .await;
        let url = format!("http://{addr}");
        let mut client = Client::new(&url).expect("a client");
        let e = client
            .sign_in("librarian", "wrong")
            .await
            .expect_err("throttled");
        assert!(matches!(e, ClientError::TooManyAttempts { .. }), "{e:?}");
        assert_eq!(
            e.sign_in_message(&url),
            "Too many failed sign-ins for this name from this computer: try again in 14 minutes."
        );
        assert!(!e.is_retryable(), "a person decides when to try again");
    }

    #[tokio::test]
    async fn an_overloaded_server_is_tried_again_after_its_retry_after() {
        let (addr, _) =
            canned_server(problem_answer(503, "Service Unavailable", "overloaded", 7)).await;
        let url = format!("http://{addr}");
        let client = Client::with_token(&url, "a-token", "librarian").expect("a client");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let store: SharedStore = Arc::new(Mutex::new(Store::open_in_memory().expect("a cache")));
        let e = client.pull(&store, &tx).await.expect_err("overloaded");
        assert!(e.is_retryable(), "{e:?}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let mut signing_in = Client::new(&url).expect("a client");
        let e = signing_in
            .sign_in("librarian", "secret")
            .await
            .expect_err("overloaded");
        assert!(e.is_retryable(), "{e:?}");
        assert!(e.sign_in_message(&url).contains("too busy"), "{e:?}");
    }

    #[tokio::test]
    async fn the_client_asks_for_gzip_and_brotli() {
        let (addr, mut requests) =
            canned_server("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        let mut client = Client::with_token(&format!("http://{addr}"), "a-token", "librarian")
            .expect("a client");
        assert_eq!(client.sign_out().await, SignedOut::Ended);
        let head = requests
            .recv()
            .await
            .expect("a request")
            .to_ascii_lowercase();
        let accepted = head
            .lines()
            .find_map(|l| l.strip_prefix("accept-encoding:"))
            .unwrap_or_default();
        assert!(
            accepted.contains("gzip") && accepted.contains("br"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn signing_out_ends_the_session_on_the_server_and_forgets_the_token() {
        let (addr, mut requests) =
            canned_server("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        let mut client = Client::with_token(&format!("http://{addr}"), "a-token", "librarian")
            .expect("a client");
        assert_eq!(client.sign_out().await, SignedOut::Ended);
        let head = requests.recv().await.expect("a request");
        assert!(head.starts_with("DELETE /v1/sessions/current "), "{head}");
        assert!(head.contains("Bearer a-token"), "{head}");
        assert_eq!(client.token(), None);
        assert_eq!(client.sign_out().await, SignedOut::AlreadyEnded);
    }

    #[tokio::test]
    async fn a_session_the_server_already_ended_signs_out_quietly() {
        let (addr, _) =
            canned_server("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n").await;
        let mut client = Client::with_token(&format!("http://{addr}"), "a-token", "librarian")
            .expect("a client");
        let outcome = client.sign_out().await;
        assert_eq!(outcome, SignedOut::AlreadyEnded);
        assert_eq!(outcome.notice(), None);
    }

    #[tokio::test]
    async fn offline_the_token_is_forgotten_and_the_notice_says_the_server_was_not_told() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let mut client = Client::with_token(&format!("http://{addr}"), "a-token", "librarian")
            .expect("a client");
        let outcome = client.sign_out().await;
        assert!(matches!(outcome, SignedOut::NotTold(_)), "{outcome:?}");
        assert!(
            outcome
                .notice()
                .is_some_and(|n| n.contains("the server could not be told")),
            "{outcome:?}"
        );
        assert_eq!(client.token(), None);
    }
}
