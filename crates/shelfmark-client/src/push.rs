//! Pushing the outbox: each edit written conditionally (`If-Match` with its base ETag, or
//! `If-None-Match: *` for a create), in the order it was made. What an answer means is
//! `shelfmark_core::push::judge` (pure); this module sends, reads the answer and carries the
//! verdict out: a 409 that merges cleanly is pushed again against the server's new state, the
//! rest goes to the conflict inbox. Refusals (4xx) are kept as failed edits with the server's problem,
//! never retried blindly and never dropped; trouble that may pass (network, 5xx, 429) stops the
//! push and is reported as retryable, with the server's `Retry-After` when it gave one.

use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

use shelfmark_core::RecordType;
use shelfmark_core::plan::{PlannedEdit, waves};
use shelfmark_core::push::{
    Answer, Body, ConflictVerdict, Operation, Verdict, judge, judge_current,
};
use shelfmark_core::wire::Problem;
use shelfmark_store::{EditOp, OutboxEntry};
use tokio::sync::mpsc::UnboundedSender;

use crate::{Client, ClientError, SharedStore, SyncEvent, problem_error, with_store};

/// How many independent edits are in flight at once.
const PUSH_WIDTH: usize = 8;

/// What the planner needs of an edit: the record it writes and the ones it refers to.
fn planned(entry: &OutboxEntry) -> PlannedEdit {
    let refers_to = ["book_id", "patron_id", "copy_id"]
        .iter()
        .filter_map(|k| entry.body.as_ref()?.get(*k)?.as_str()?.parse().ok())
        .collect();
    // A loan, and a hold's step, change their copy's state on the server: two of them on one
    // copy go in the order they were made.
    let claims = match entry.kind {
        RecordType::Loan | RecordType::Hold => entry
            .body
            .as_ref()
            .and_then(|b| b.get("copy_id")?.as_str()?.parse().ok())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    PlannedEdit {
        record: entry.record_id,
        refers_to,
        claims,
    }
}

/// How many times one edit is merged and pushed again when the server keeps moving.
const MAX_REBASES: usize = 3;

/// What one push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PushReport {
    /// Edits the server accepted.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pushed: usize,
    /// Of those, edits that met a concurrent change and merged cleanly.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub merged: usize,
    /// Edits that went to the conflict inbox.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub conflicts: usize,
    /// Edits the server refused (kept as failed).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub failed: usize,
    /// Holds the server could not fill (every copy taken).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub lost_holds: usize,
}

/// What became of one edit.
enum Outcome {
    Pushed { merged: bool },
    Conflict,
    Failed,
    HoldLost,
}

impl Client {
    /// Pushes every pending edit, oldest first. Stops at the first retryable error (network,
    /// 5xx, 429) and returns it; what was pushed before it stays pushed.
    pub async fn push(
        &self,
        store: &SharedStore,
        events: &UnboundedSender<SyncEvent>,
    ) -> Result<PushReport, ClientError> {
        // Only the edits of the person this session belongs to: on a desk shared by several
        // staff, another's edits wait for their own sign-in (the server's history names who
        // made each change).
        let user = self.user.clone().ok_or(ClientError::NotSignedIn)?;
        let pending = with_store(store, move |s| s.pending_edits_of(Some(&user))).await?;
        let plan: Vec<PlannedEdit> = pending.iter().map(planned).collect();
        let mut report = PushReport::default();
        let mut pending = pending.into_iter();
        for wave in waves(&plan, PUSH_WIDTH) {
            // The edits of one wave are independent: pushed concurrently, reported in order.
            let mut tasks = tokio::task::JoinSet::new();
            for (order, entry) in pending.by_ref().take(wave.len()).enumerate() {
                let (client, store) = (self.clone(), Arc::clone(store));
                tasks.spawn(async move {
                    let seq = entry.seq;
                    (order, seq, client.push_one(&store, entry).await)
                });
            }
            let mut outcomes = Vec::with_capacity(wave.len());
            while let Some(done) = tasks.join_next().await {
                outcomes.push(done.map_err(|source| ClientError::Task {
                    what: "push",
                    source,
                })?);
            }
            outcomes.sort_by_key(|(order, _, _)| *order);
            let mut first_error = None;
            for (_, seq, outcome) in outcomes {
                match outcome {
                    Ok(Outcome::Pushed { merged }) => {
                        report.pushed += 1;
                        report.merged += usize::from(merged);
                    }
                    Ok(Outcome::Conflict) => report.conflicts += 1,
                    Ok(Outcome::Failed) => report.failed += 1,
                    Ok(Outcome::HoldLost) => report.lost_holds += 1,
                    Err(e) => {
                        if e.is_retryable() {
                            with_store(store, move |s| s.count_attempt(seq)).await?;
                        }
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
                let _ = events.send(SyncEvent::EditPushed {
                    pushed: report.pushed,
                    conflicts: report.conflicts,
                    failed: report.failed,
                });
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        Ok(report)
    }

    /// Pushes one edit and carries out the verdict on the server's answer (see
    /// `shelfmark_core::push`), merging and pushing again while the server keeps moving.
    async fn push_one(
        &self,
        store: &SharedStore,
        mut entry: OutboxEntry,
    ) -> Result<Outcome, ClientError> {
        let mut merged = false;
        for _ in 0..=MAX_REBASES {
            let path = format!("v1/{}/{}", entry.kind.collection(), entry.record_id);
            let answer = self.send(&entry, &path).await?;
            let edit = Operation {
                op: entry.op,
                kind: entry.kind,
                body: entry.body.as_ref(),
                base: entry.base.as_ref(),
            };
            let verdict = match judge(&edit, answer)? {
                Verdict::FetchCurrent => judge_current(&edit, self.fetch(&path).await?)?,
                verdict => verdict,
            };
            let seq = entry.seq;
            match verdict {
                Verdict::Ack(server) => {
                    with_store(store, move |s| {
                        s.ack(seq, server.as_ref().map(|(tag, data)| (tag.as_str(), data)))
                    })
                    .await?;
                    return Ok(Outcome::Pushed { merged });
                }
                Verdict::AlreadyApplied { etag, theirs } => {
                    with_store(store, move |s| s.ack(seq, Some((&etag, &theirs)))).await?;
                    return Ok(Outcome::Pushed { merged });
                }
                Verdict::Rebase {
                    etag,
                    theirs,
                    merged: body,
                } => {
                    let (tag, base, next) = (etag.clone(), theirs.clone(), body.clone());
                    with_store(store, move |s| s.rebase(seq, &tag, &base, &next)).await?;
                    entry.base_etag = Some(etag);
                    entry.base = Some(theirs);
                    entry.body = Some(body);
                    merged = true;
                }
                Verdict::Conflict(conflict) => {
                    let (reason, detail, existing) =
                        (conflict.reason(), conflict.detail(), conflict.existing_id());
                    let theirs = match conflict {
                        ConflictVerdict::Edit { etag, theirs } => Some((etag, theirs)),
                        ConflictVerdict::Deleted | ConflictVerdict::Duplicate { .. } => None,
                    };
                    with_store(store, move |s| {
                        let theirs = theirs.as_ref().map(|(tag, data)| (tag.as_str(), data));
                        s.conflict(seq, theirs, reason, detail.as_deref(), existing)
                    })
                    .await?;
                    return Ok(Outcome::Conflict);
                }
                Verdict::HoldLost { answer, .. } => {
                    with_store(store, move |s| s.hold_lost(seq, &answer)).await?;
                    return Ok(Outcome::HoldLost);
                }
                Verdict::Failed { problem } => {
                    with_store(store, move |s| s.fail(seq, &problem)).await?;
                    return Ok(Outcome::Failed);
                }
                Verdict::RetryLater {
                    status,
                    retry_after,
                } => {
                    return Err(ClientError::Unavailable {
                        status,
                        retry_after,
                    });
                }
                Verdict::SignInAgain { detail } => {
                    return Err(ClientError::Unauthorized(
                        detail.unwrap_or_else(|| "wrong user name or password".into()),
                    ));
                }
                Verdict::FetchCurrent => {
                    return Err(ClientError::protocol(
                        "the current state was asked for twice",
                    ));
                }
            }
        }
        // The record kept moving under us: leave the edit pending for the next sync.
        Err(ClientError::Busy)
    }

    /// Writes one edit conditionally and reads the answer.
    async fn send(&self, entry: &OutboxEntry, path: &str) -> Result<Answer, ClientError> {
        let response = match entry.op {
            EditOp::Create => {
                self.write(Method::PUT, path, (IF_NONE_MATCH, "*"), entry.body.as_ref())
                    .await?
            }
            EditOp::Update | EditOp::Delete => {
                let Some(tag) = entry.base_etag.as_deref() else {
                    return Err(ClientError::protocol(format!(
                        "edit {} has no base ETag to send as If-Match",
                        entry.seq
                    )));
                };
                let method = if entry.op == EditOp::Delete {
                    Method::DELETE
                } else {
                    Method::PUT
                };
                self.write(method, path, (IF_MATCH, tag), entry.body.as_ref())
                    .await?
            }
        };
        let status = response.status();
        let etag = header(&response, ETAG);
        let retry_after = crate::retry_after(&response);
        let body = if status.is_success() {
            if entry.op == EditOp::Delete {
                Body::Empty
            } else {
                Body::Record(response.json::<Value>().await?)
            }
        } else {
            read_problem(response, status).await
        };
        Ok(Answer {
            status: status.as_u16(),
            etag,
            retry_after,
            body,
        })
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        precondition: (reqwest::header::HeaderName, &str),
        body: Option<&Value>,
    ) -> Result<Response, ClientError> {
        let mut request = self
            .http
            .request(method, self.url(path)?)
            .headers(self.auth_headers()?)
            .header(precondition.0, precondition.1);
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(request.send().await?)
    }

    /// The server's current state of a record (None when it does not exist).
    async fn fetch(&self, path: &str) -> Result<Option<(String, Value)>, ClientError> {
        let response = self
            .http
            .get(self.url(path)?)
            .headers(self.auth_headers()?)
            .send()
            .await?;
        match response.status() {
            StatusCode::OK => {
                let etag = header(&response, ETAG)
                    .ok_or_else(|| ClientError::protocol("a record answered without an ETag"))?;
                Ok(Some((etag, response.json().await?)))
            }
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(retry_later(response))
            }
            _ => Err(problem_error(response).await),
        }
    }
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A 5xx or 429: try again later, after the server's `Retry-After` when it gave one.
fn retry_later(response: Response) -> ClientError {
    ClientError::Unavailable {
        status: response.status().as_u16(),
        retry_after: crate::retry_after(&response),
    }
}

/// The problem of a refusal; a body that is not problem+json still yields one.
async fn read_problem(response: Response, status: StatusCode) -> Body {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).map_or_else(
        |_| {
            Body::NotProblem(Problem {
                kind: "about:blank".into(),
                title: status.canonical_reason().unwrap_or("error").into(),
                status: status.as_u16(),
                detail: text.chars().take(500).collect(),
                errors: Vec::new(),
                extensions: serde_json::Map::new(),
            })
        },
        Body::Problem,
    )
}
