//! Every kind of record: conditional GET, PUT and DELETE, collections and history.
//!
//! Books, copies and patrons behave the same way and differ only in their record type, rules
//! and indexed columns, which [`Kind`] describes (`crate::records`, shared with the store),
//! and in their filters, which [`Collection`] adds; the handlers are generic over both.
//! Holds, escalations and purchase requests are read through the same handlers, while their
//! writes are business operations (`super::holds`, `super::escalations`). Creating a copy is
//! one too: a new copy goes first to a premium patron waiting on a purchase.
//! The order of evaluation is the protocol's: authentication (the [`Staff`] extractor runs
//! first), then existence and validity (404, 400), then preconditions (412, 428, 409 for a
//! stale `If-Match`), with the uniqueness rule checked before the version so that a request
//! that would fail without its preconditions answers that failure.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shelfmark_core::wire::EditConflict;
use shelfmark_core::{
    Copy, CopyStatus, EscalationStatus, HoldStatus, PurchaseStatus, RecordType, ValidationErrors,
};
use uuid::Uuid;

use super::staff::Staff;
use super::{JsonBody, Params, Tags, json_with_etag, location, not_modified};
use crate::error::AppError;
pub use crate::records::{
    Books, Copies, Escalations, Holds, Kind, Loans, Patrons, PurchaseRequests,
};
use crate::state::AppState;
use crate::store::ops::{Op, Outcome};
use crate::store::{
    DeleteOutcome, Expect, ListQuery, Row, Write, WriteOutcome, etag_for, version_of,
};

/// What a collection of a kind offers beyond the kind's rules: its filters from the query
/// string (every other filter is refused by the handlers' `Params`).
pub trait Collection: Kind {
    /// The collection's filters from the query string.
    fn filters(_params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery::default())
    }
}

/// A `status` filter, checked against the kind's statuses.
fn status_filter<T: DeserializeOwned>(
    params: &Params,
    values: &str,
) -> Result<Option<String>, AppError> {
    params
        .text("status")
        .map(|s| {
            serde_json::from_value::<T>(Value::String(s.to_owned()))
                .map(|_| s.to_owned())
                .map_err(|_| AppError::field("status", format!("one of {values}")))
        })
        .transpose()
}

impl Collection for Holds {
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery {
            ref_id: params.uuid("patron_id")?,
            ref2_id: params.uuid("book_id")?,
            status: status_filter::<HoldStatus>(params, "active, ready, cancelled, fulfilled")?,
            ..ListQuery::default()
        })
    }
}

impl Collection for Loans {
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery {
            ref_id: params.uuid("patron_id")?,
            ref2_id: params.uuid("copy_id")?,
            status: status_filter::<shelfmark_core::model::LoanStatus>(
                params,
                "on_loan, returned",
            )?,
            ..ListQuery::default()
        })
    }
}

impl Collection for Escalations {
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery {
            ref_id: params.uuid("patron_id")?,
            ref2_id: params.uuid("book_id")?,
            status: status_filter::<EscalationStatus>(
                params,
                "open, reassigned, purchase_flagged, resolved",
            )?,
            ..ListQuery::default()
        })
    }
}

impl Collection for PurchaseRequests {
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery {
            ref_id: params.uuid("book_id")?,
            ref2_id: params.uuid("escalation_id")?,
            status: status_filter::<PurchaseStatus>(
                params,
                "requested, ordered, received, cancelled",
            )?,
            ..ListQuery::default()
        })
    }
}

impl Collection for Copies {
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        let status = params
            .text("status")
            .map(|s| {
                CopyStatus::parse(s)
                    .map(|s| s.as_str().to_owned())
                    .ok_or_else(|| {
                        AppError::field("status", "one of available, on_loan, held, missing")
                    })
            })
            .transpose()?;
        Ok(ListQuery {
            ref_id: params.uuid("book_id")?,
            status,
            ..ListQuery::default()
        })
    }
}

impl Collection for Books {}

impl Collection for Patrons {
    /// `?card=` finds the patron a scanned card belongs to.
    fn filters(params: &Params) -> Result<ListQuery, AppError> {
        Ok(ListQuery {
            unique_key: params.text("card").map(|c| c.trim().to_owned()),
            ..ListQuery::default()
        })
    }
}

/// The routes of one kind of record.
pub fn routes<K: Collection>() -> Router<AppState> {
    let c = K::TYPE.collection();
    Router::new()
        .route(&format!("/v1/{c}"), get(list::<K>))
        .route(
            &format!("/v1/{c}/{{id}}"),
            get(get_one::<K>).put(put::<K>).delete(delete::<K>),
        )
        .route(&format!("/v1/{c}/{{id}}/revisions"), get(revisions::<K>))
}

/// The collection and history routes of a kind whose single-record routes are its own.
pub fn read_routes<K: Collection>() -> Router<AppState> {
    let c = K::TYPE.collection();
    Router::new()
        .route(&format!("/v1/{c}"), get(list::<K>))
        .route(&format!("/v1/{c}/{{id}}/revisions"), get(revisions::<K>))
}

/// A record id from the path; anything that is not a UUID names no record (404).
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<IdPath, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound("no such record".into()))?;
        Uuid::parse_str(&raw)
            .map(IdPath)
            .map_err(|_| AppError::NotFound(format!("{raw:?} is not a record id")))
    }
}

pub(crate) fn not_found(kind: RecordType, id: Uuid) -> AppError {
    AppError::NotFound(format!("no {} has id {id}", kind.as_str()))
}

pub(crate) async fn live_row(
    state: &AppState,
    kind: RecordType,
    id: Uuid,
) -> Result<Option<Row>, AppError> {
    Ok(state.store.get(kind, id).await?.filter(Row::is_live))
}

pub(crate) async fn get_one<K: Kind>(
    State(state): State<AppState>,
    _staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // A revalidation only needs the version: the record is read when it changed.
    if let Some(tags) = Tags::from_headers(&headers, IF_NONE_MATCH) {
        let current = state.store.version(K::TYPE, id).await?.map(etag_for);
        if let Some(etag) = current.filter(|etag| tags.matches_weak(etag)) {
            return Ok(not_modified(&etag));
        }
    }
    let row = live_row(&state, K::TYPE, id)
        .await?
        .ok_or_else(|| not_found(K::TYPE, id))?;
    let etag = row.etag();
    Ok(json_with_etag(
        StatusCode::OK,
        &etag,
        None,
        row.data.unwrap_or_default().into_bytes(),
    ))
}

/// Reads a full representation from the body: the id is the path's (and may be omitted).
pub(crate) fn parse_record<K: Kind>(mut value: Value, id: Uuid) -> Result<K::Record, AppError> {
    let Value::Object(map) = &mut value else {
        return Err(AppError::field("body", "expected a JSON object"));
    };
    match map.get("id") {
        None | Some(Value::Null) => {
            map.insert("id".into(), Value::String(id.to_string()));
        }
        Some(v) => {
            if v.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(id) {
                return Err(AppError::field("id", "must be the id in the path"));
            }
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path == "." {
            message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
                .unwrap_or("body")
                .to_owned()
        } else {
            path
        };
        AppError::field(&field, message)
    })
}

async fn check_references<K: Kind>(state: &AppState, record: &K::Record) -> Result<(), AppError> {
    let mut errors = ValidationErrors::default();
    for (field, kind, id) in K::references(record) {
        if live_row(state, kind, id).await?.is_none() {
            errors.push(field, format!("no {} has id {id}", kind.as_str()));
        }
    }
    errors.into_result().map_err(AppError::Validation)
}

/// The version an `If-Match` list asks for, and the tag it was named by. With several strong
/// tags the current one wins (any of them matching is a match).
pub(crate) async fn expected_from_tags(
    state: &AppState,
    kind: RecordType,
    id: Uuid,
    tags: Tags,
) -> Result<(i64, Option<String>), AppError> {
    let current = || async {
        live_row(state, kind, id)
            .await?
            .ok_or_else(|| not_found(kind, id))
    };
    match tags {
        Tags::Any => Ok((current().await?.version, None)),
        Tags::List(tags) => {
            let strong: Vec<String> = tags.into_iter().filter(|t| !t.starts_with("W/")).collect();
            let chosen = if strong.len() > 1 {
                let etag = current().await?.etag();
                strong
                    .iter()
                    .find(|t| **t == etag)
                    .or(strong.first())
                    .cloned()
            } else {
                strong.first().cloned()
            };
            // A tag that is not one of ours names no version: it can only conflict.
            let version = chosen.as_deref().and_then(version_of).unwrap_or(-1);
            Ok((version, chosen))
        }
    }
}

/// What a `PUT`'s preconditions ask for: a create (`If-None-Match: *`, [`Expect::Absent`]) or
/// an update of the version `If-Match` names (with the tag it was named by, for the base of a
/// conflict). An update needs `If-Match` (v1.1): `If-None-Match: *` on an existing record is a
/// `412` whatever else the request carries, and an `If-None-Match` tag list without `If-Match`
/// is neither a create nor an update (`428`). When `If-Match` holds, a tag list in
/// `If-None-Match` naming the current state is a `412` (RFC 9110 §13.2.2).
pub(crate) async fn put_precondition(
    state: &AppState,
    kind: RecordType,
    id: Uuid,
    headers: &HeaderMap,
) -> Result<(Expect, Option<String>), AppError> {
    let exists = |row: &Row| {
        AppError::PreconditionFailed(format!(
            "a {} with id {id} already exists (ETag {})",
            kind.as_str(),
            row.etag()
        ))
    };
    match (
        Tags::from_headers(headers, IF_MATCH),
        Tags::from_headers(headers, IF_NONE_MATCH),
    ) {
        (Some(_), Some(Tags::Any)) => Err(match live_row(state, kind, id).await? {
            Some(row) => exists(&row),
            None => not_found(kind, id),
        }),
        (Some(tags), none_match) => {
            let (version, tag) = expected_from_tags(state, kind, id, tags).await?;
            if let Some(list) = none_match
                && let Some(row) = live_row(state, kind, id).await?
                && list.matches_weak(&row.etag())
            {
                return Err(AppError::PreconditionFailed(
                    "the record is in a state the request excluded".into(),
                ));
            }
            Ok((Expect::Version(version), tag))
        }
        (None, Some(Tags::Any)) => Ok((Expect::Absent, None)),
        (None, Some(Tags::List(_)) | None) => Err(AppError::PreconditionRequired),
    }
}

/// The 409 answer for a stale `If-Match`, with the base revision from the history.
pub(crate) async fn edit_conflict(
    state: &AppState,
    current: &Row,
    client_tag: Option<String>,
) -> Result<AppError, AppError> {
    let mut base = None;
    if let Some(version) = client_tag.as_deref().and_then(version_of) {
        base = state
            .store
            .revisions(current.kind, current.id, Some(version))
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.data);
    }
    Ok(AppError::EditConflict(EditConflict {
        current: current.json(),
        current_etag: current.etag(),
        base_etag: base.as_ref().and(client_tag),
        base,
    }))
}

async fn put<K: Kind>(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    staff.require(K::WRITE_ROLE)?;
    let actor = staff.actor();
    let mut record = parse_record::<K>(body, id)?;
    K::validate(&mut record).map_err(AppError::Validation)?;
    if K::GUARDS_CHANGES {
        let current = match live_row(&state, K::TYPE, id).await? {
            Some(row) => Some(
                serde_json::from_value::<K::Record>(row.json())
                    .map_err(|e| AppError::Internal(format!("a stored record: {e}")))?,
            ),
            None => None,
        };
        K::may_write(staff.0.role, current.as_ref(), &record).map_err(AppError::Forbidden)?;
    }
    check_references::<K>(&state, &record).await?;
    let write = Write::of::<K>(id, &record)?;

    let (expect, client_tag) = put_precondition(&state, K::TYPE, id, &headers).await?;

    let outcome = if K::TYPE == RecordType::Copy && expect == Expect::Absent {
        // A new copy may be allocated at once to a premium patron waiting on a purchase.
        let copy: Copy =
            serde_json::from_str(&write.data).map_err(|e| AppError::Internal(e.to_string()))?;
        let outcome = state
            .store
            .run(&actor, Op::CreateCopy(copy), &state.config.rules())
            .await?;
        state.mail_wake.notify_one();
        match outcome {
            Outcome::Written(w) => w,
            other => return Err(AppError::Internal(format!("copy creation: {other:?}"))),
        }
    } else {
        state.store.put(&actor, write, expect).await?
    };
    match outcome {
        WriteOutcome::Created(row) => Ok(json_with_etag(
            StatusCode::CREATED,
            &row.etag(),
            Some(location(K::TYPE, id)),
            row.data.unwrap_or_default().into_bytes(),
        )),
        WriteOutcome::Updated(row) => Ok(json_with_etag(
            StatusCode::OK,
            &row.etag(),
            None,
            row.data.unwrap_or_default().into_bytes(),
        )),
        WriteOutcome::NotFound => Err(not_found(K::TYPE, id)),
        WriteOutcome::Exists(row) => Err(AppError::PreconditionFailed(format!(
            "a {} with id {id} already exists (ETag {})",
            K::TYPE.as_str(),
            row.etag()
        ))),
        WriteOutcome::Conflict(current) => Err(edit_conflict(&state, &current, client_tag).await?),
        WriteOutcome::Duplicate(existing_id) => Err(AppError::Duplicate {
            // A sentence for a person; the record itself is `existing_id`.
            detail: format!("another {} has this {}", K::TYPE.as_str(), K::unique_name()),
            existing_id,
        }),
    }
}

async fn delete<K: Kind>(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    staff.require(K::WRITE_ROLE)?;
    let (version, client_tag) = match Tags::from_headers(&headers, IF_MATCH) {
        Some(tags) => expected_from_tags(&state, K::TYPE, id, tags).await?,
        None => {
            return Err(match live_row(&state, K::TYPE, id).await? {
                Some(_) => AppError::PreconditionRequired,
                None => not_found(K::TYPE, id),
            });
        }
    };
    match state
        .store
        .delete(&staff.actor(), K::TYPE, id, version)
        .await?
    {
        DeleteOutcome::Deleted(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        DeleteOutcome::NotFound => Err(not_found(K::TYPE, id)),
        DeleteOutcome::Conflict(current) => Err(edit_conflict(&state, &current, client_tag).await?),
        DeleteOutcome::InUse(dependents) => Err(AppError::InUse {
            kind: K::TYPE,
            dependents,
        }),
    }
}

/// Words of a search: letters and digits, lower-cased; hyphens inside numbers (ISBNs) dropped.
pub fn search_words(q: &str) -> Vec<String> {
    let chars: Vec<char> = q.chars().collect();
    let mut cleaned = String::with_capacity(q.len());
    for (i, c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && chars.get(i - 1).is_some_and(char::is_ascii_digit)
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if *c == '-' && between_digits {
            continue;
        }
        cleaned.push(*c);
    }
    cleaned
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().take(64).collect())
        .take(8)
        .collect()
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(raw: &str) -> Result<Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::field("cursor", "not a cursor this server gave"))
}

pub(crate) async fn list<K: Collection>(
    State(state): State<AppState>,
    _staff: Staff,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let limit = params.int("limit", 100, 1, 1000)?;
    let mut query = K::filters(&params)?;
    query.words = params.text("q").map(search_words).unwrap_or_default();
    query.after = params.text("cursor").map(decode_cursor).transpose()?;
    query.limit = limit + 1;
    let mut rows = state.store.list(K::TYPE, query).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    let mut body = String::from("{\"items\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(row.data.as_deref().unwrap_or("null"));
    }
    body.push_str("],\"next_cursor\":");
    body.push_str(&serde_json::to_string(&next_cursor).unwrap_or_else(|_| "null".into()));
    body.push('}');
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!(
        "\"p{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if Tags::from_headers(&headers, IF_NONE_MATCH).is_some_and(|t| t.matches_weak(&etag)) {
        return Ok(not_modified(&etag));
    }
    Ok(json_with_etag(
        StatusCode::OK,
        &etag,
        None,
        body.into_bytes(),
    ))
}

/// A record's history, newest first; who may read it is the kind's rule
/// ([`Kind::HISTORY_ROLE`]).
pub(crate) async fn revisions<K: Kind>(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    staff.require(K::HISTORY_ROLE)?;
    let revisions = state.store.revisions(K::TYPE, id, None).await?;
    if revisions.is_empty() {
        return Err(not_found(K::TYPE, id));
    }
    Ok(axum::Json(revisions).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_keep_isbns_whole_and_split_words() {
        assert_eq!(search_words("978-0-306-40615-7"), ["9780306406157"]);
        assert_eq!(
            search_words("Self-Help  GARDENS"),
            ["self", "help", "gardens"]
        );
        assert!(search_words(" -- ").is_empty());
    }

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        assert!(decode_cursor("not a cursor").is_err());
    }

    #[test]
    fn a_body_without_id_takes_the_path_id_and_a_wrong_one_is_a_400() {
        let id = Uuid::now_v7();
        let body = serde_json::json!({"name": "A", "email": "a@b.org", "branch": "Central"});
        let p = parse_record::<Patrons>(body.clone(), id).expect("parses");
        assert_eq!(p.id, id);
        let mut other = body;
        other["id"] = Value::String(Uuid::now_v7().to_string());
        assert!(matches!(
            parse_record::<Patrons>(other, id),
            Err(AppError::Validation(_))
        ));
    }

    #[test]
    fn type_errors_name_their_field() {
        let body = serde_json::json!({"name": "A", "email": "a@b.org", "branch": 5});
        match parse_record::<Patrons>(body, Uuid::nil()) {
            Err(AppError::Validation(e)) => assert_eq!(e.0[0].field, "branch"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        let missing = serde_json::json!({"email": "a@b.org", "branch": "X"});
        match parse_record::<Patrons>(missing, Uuid::nil()) {
            Err(AppError::Validation(e)) => assert_eq!(e.0[0].field, "name"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
