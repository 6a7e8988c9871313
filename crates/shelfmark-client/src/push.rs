//! Pushing the outbox: each edit written conditionally (`If-Match` with its base ETag, or
//! `If-None-Match: *` for a create), in the order it was made. A 409 is merged with
//! `shelfmark-core`: a clean merge is pushed again against the server's new state, the rest goes
//! to the conflict inbox. Refusals (4xx) are kept as failed edits with the server's problem,
//! never retried blindly and never dropped; trouble that may pass (network, 5xx, 429) stops the
//! push and is reported as retryable, with the server's `Retry-After` when it gave one.

use reqwest::header::{ETAG, IF_MATCH, IF_NONE_MATCH, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

use shelfmark_core::merge::{Record, merge_records};
use shelfmark_core::plan::{PlannedEdit, waves};
use shelfmark_core::wire::{EditConflict, Problem};
use shelfmark_core::{Book, Copy, Patron, RecordType};
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
    PlannedEdit {
        record: entry.record_id,
        refers_to,
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
        let pending = with_store(store, |s| s.pending_edits()).await?;
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
                outcomes.push(
                    done.map_err(|e| ClientError::Protocol(format!("push task failed: {e}")))?,
                );
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

    async fn push_one(
        &self,
        store: &SharedStore,
        mut entry: OutboxEntry,
    ) -> Result<Outcome, ClientError> {
        let mut merged = false;
        for _ in 0..=MAX_REBASES {
            let path = format!("v1/{}/{}", entry.kind.collection(), entry.record_id);
            let response = match entry.op {
                EditOp::Create => {
                    self.write(
                        Method::PUT,
                        &path,
                        (IF_NONE_MATCH, "*"),
                        entry.body.as_ref(),
                    )
                    .await?
                }
                EditOp::Update | EditOp::Delete => {
                    let Some(tag) = entry.base_etag.clone() else {
                        return Err(ClientError::Protocol(format!(
                            "edit {} has no base ETag to send as If-Match",
                            entry.seq
                        )));
                    };
                    let method = if entry.op == EditOp::Delete {
                        Method::DELETE
                    } else {
                        Method::PUT
                    };
                    self.write(method, &path, (IF_MATCH, &tag), entry.body.as_ref())
                        .await?
                }
            };
            let status = response.status();
            let seq = entry.seq;
            if status.is_success() {
                let etag = header(&response, ETAG);
                let body = if entry.op == EditOp::Delete {
                    None
                } else {
                    Some(response.json::<Value>().await?)
                };
                with_store(store, move |s| match (&etag, &body) {
                    (Some(tag), Some(data)) => s.ack(seq, Some((tag, data))),
                    _ => s.ack(seq, None),
                })
                .await?;
                return Ok(Outcome::Pushed { merged });
            }
            match status {
                StatusCode::UNAUTHORIZED => return Err(problem_error(response).await),
                StatusCode::TOO_MANY_REQUESTS => return Err(retry_later(response)),
                s if s.is_server_error() => return Err(retry_later(response)),
                _ => {}
            }
            let problem = read_problem(response, status).await;
            let theirs = match (status, problem.name(), entry.op) {
                // A retried delete whose first answer was lost.
                (StatusCode::NOT_FOUND, _, EditOp::Delete) => {
                    with_store(store, move |s| s.ack(seq, None)).await?;
                    return Ok(Outcome::Pushed { merged });
                }
                (StatusCode::NOT_FOUND, _, EditOp::Update) => {
                    let detail = "the record was deleted on the server".to_owned();
                    with_store(store, move |s| {
                        s.conflict(seq, None, "deleted", Some(&detail))
                    })
                    .await?;
                    return Ok(Outcome::Conflict);
                }
                (StatusCode::CONFLICT, "edit-conflict", _) => {
                    let c: EditConflict =
                        serde_json::from_value(Value::Object(problem.extensions.clone())).map_err(
                            |e| ClientError::Protocol(format!("a 409 without its merge data: {e}")),
                        )?;
                    (c.current_etag, c.current)
                }
                // A stricter server: fetch the current state and treat it as a 409.
                (StatusCode::PRECONDITION_FAILED, _, _) => match self.fetch(&path).await? {
                    Some(current) => current,
                    None => {
                        let detail = "the record was deleted on the server".to_owned();
                        with_store(store, move |s| {
                            s.conflict(seq, None, "deleted", Some(&detail))
                        })
                        .await?;
                        return Ok(Outcome::Conflict);
                    }
                },
                // Every copy is taken: the hold is lost (the answer names the escalation opened
                // for a premium patron). Kept for the librarian to see, never retried.
                (StatusCode::CONFLICT, "hold-unavailable", EditOp::Create) => {
                    let answer = serde_json::to_value(&problem).unwrap_or(Value::Null);
                    with_store(store, move |s| s.hold_lost(seq, &answer)).await?;
                    return Ok(Outcome::HoldLost);
                }
                (StatusCode::CONFLICT, "duplicate", _) => {
                    let detail = problem.detail.clone();
                    let existing = problem.extensions.get("existing_id").cloned();
                    let detail = match existing {
                        Some(id) => format!("{detail} (existing record {id})"),
                        None => detail,
                    };
                    with_store(store, move |s| {
                        s.conflict(seq, None, "duplicate", Some(&detail))
                    })
                    .await?;
                    return Ok(Outcome::Conflict);
                }
                _ => {
                    let problem = serde_json::to_value(&problem).unwrap_or(Value::Null);
                    with_store(store, move |s| s.fail(seq, &problem)).await?;
                    return Ok(Outcome::Failed);
                }
            };
            let (theirs_etag, theirs) = theirs;
            // The server already holds exactly this edit: an earlier push whose answer was lost.
            if entry.body.as_ref() == Some(&theirs)
                || (entry.op == EditOp::Create && same_record(&entry, &theirs))
            {
                with_store(store, move |s| s.ack(seq, Some((&theirs_etag, &theirs)))).await?;
                return Ok(Outcome::Pushed { merged });
            }
            let clean = match (entry.op, &entry.base, &entry.body) {
                (EditOp::Update, Some(base), Some(mine)) => {
                    merge_json(entry.kind, base, mine, &theirs)?
                }
                _ => None,
            };
            match clean {
                Some(result) => {
                    let (tag, base, body) = (theirs_etag.clone(), theirs.clone(), result.clone());
                    with_store(store, move |s| s.rebase(seq, &tag, &base, &body)).await?;
                    entry.base_etag = Some(theirs_etag);
                    entry.base = Some(theirs);
                    entry.body = Some(result);
                    merged = true;
                }
                None => {
                    with_store(store, move |s| {
                        s.conflict(seq, Some((&theirs_etag, &theirs)), "edit-conflict", None)
                    })
                    .await?;
                    return Ok(Outcome::Conflict);
                }
            }
        }
        // The record kept moving under us: leave the edit pending for the next sync.
        Err(ClientError::Busy)
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
                let etag = header(&response, ETAG).ok_or_else(|| {
                    ClientError::Protocol("a record answered without an ETag".into())
                })?;
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

/// A create met an existing record: the same one (our earlier create whose answer was lost)
/// when every field we sent matches; fields we left null are the server's to fill (a hold's
/// copy).
fn same_record(entry: &OutboxEntry, theirs: &Value) -> bool {
    match (&entry.body, theirs) {
        (Some(Value::Object(mine)), Value::Object(theirs)) => mine
            .iter()
            .all(|(k, v)| v.is_null() || theirs.get(k).is_none_or(|t| t == v)),
        _ => false,
    }
}

/// Merges three JSON representations of a record; `Some(merged)` when no conflict is left.
fn merge_json(
    kind: RecordType,
    base: &Value,
    mine: &Value,
    theirs: &Value,
) -> Result<Option<Value>, ClientError> {
    fn typed<R: Record + Serialize + DeserializeOwned>(
        base: &Value,
        mine: &Value,
        theirs: &Value,
    ) -> Result<Option<Value>, ClientError> {
        let parse = |v: &Value| {
            serde_json::from_value::<R>(v.clone())
                .map_err(|e| ClientError::Protocol(format!("a record that does not parse: {e}")))
        };
        let state = merge_records(&parse(base)?, &parse(mine)?, &parse(theirs)?)
            .map_err(|e| ClientError::Protocol(format!("cannot merge: {e}")))?;
        if !state.is_resolved() {
            return Ok(None);
        }
        let merged = state
            .finish()
            .map_err(|e| ClientError::Protocol(format!("cannot merge: {e}")))?;
        Ok(Some(
            serde_json::to_value(merged).map_err(|e| ClientError::Protocol(e.to_string()))?,
        ))
    }
    match kind {
        RecordType::Book => typed::<Book>(base, mine, theirs),
        RecordType::Copy => typed::<Copy>(base, mine, theirs),
        RecordType::Patron => typed::<Patron>(base, mine, theirs),
        // Holds, escalations and purchase requests are not edited field by field.
        _ => Ok(None),
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
    let retry_after = header(&response, RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    ClientError::Unavailable {
        status: response.status().as_u16(),
        retry_after,
    }
}

/// The problem of a refusal; a body that is not problem+json still yields one.
async fn read_problem(response: Response, status: StatusCode) -> Problem {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|_| Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("error").into(),
        status: status.as_u16(),
        detail: text.chars().take(500).collect(),
        errors: Vec::new(),
        extensions: serde_json::Map::new(),
    })
}
