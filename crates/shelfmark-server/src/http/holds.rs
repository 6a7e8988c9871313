//! Holds: placing one allocates a copy in the same transaction, or answers
//! `409 hold-unavailable` (opening an escalation for a premium patron); cancelling one frees
//! its copy; a book's contest lists every such decision, in order. The rules themselves are `crate::store::ops`; this module maps HTTP onto them
//! in the protocol's order of evaluation (authentication, existence and validity, then
//! preconditions, then the business rules).

use axum::extract::State;
use axum::http::header::IF_MATCH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shelfmark_core::RecordType;

use super::records::{
    Holds, IdPath, edit_conflict, expected_from_tags, live_row, not_found, parse_record,
    put_precondition,
};
use super::staff::Staff;
use super::{JsonBody, Tags, json_with_etag, location};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::ops::{Op, Outcome};
use crate::store::{DeleteOutcome, Expect, WriteOutcome};

/// Turns an operation's refusal into its answer.
pub(crate) async fn refusal(state: &AppState, outcome: Outcome) -> AppError {
    match outcome {
        Outcome::Invalid(errors) => AppError::Validation(errors),
        Outcome::NotFound(kind, id) => not_found(kind, id),
        Outcome::HoldUnavailable {
            book_id,
            premium,
            escalation_id,
        } => AppError::HoldUnavailable {
            book_id,
            patron_premium: premium,
            escalation_id,
        },
        Outcome::CopyUnavailable(copy) => AppError::CopyUnavailable {
            copy: copy
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default(),
        },
        Outcome::Conflict(current) => match edit_conflict(state, &current, None).await {
            Ok(e) | Err(e) => e,
        },
        Outcome::Written(WriteOutcome::Exists(row)) => AppError::PreconditionFailed(format!(
            "a {} with id {} already exists (ETag {})",
            row.kind.as_str(),
            row.id,
            row.etag()
        )),
        Outcome::Written(WriteOutcome::NotFound) | Outcome::Deleted(DeleteOutcome::NotFound) => {
            AppError::NotFound("no such record".into())
        }
        Outcome::Written(WriteOutcome::Conflict(current))
        | Outcome::Deleted(DeleteOutcome::Conflict(current)) => {
            match edit_conflict(state, &current, None).await {
                Ok(e) | Err(e) => e,
            }
        }
        other => AppError::Internal(format!("unexpected outcome {other:?}")),
    }
}

/// `PUT /v1/holds/{id}`: place (`If-None-Match: *`) or update (`If-Match`: ready for
/// pickup, collected, cancelled).
pub async fn put(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> Result<Response, AppError> {
    // The desktop sends the whole record; the protocol's minimal body has no status, and on
    // a placement the server decides the status and the copy anyway.
    if let Value::Object(map) = &mut body
        && map.get("status").is_none_or(Value::is_null)
    {
        map.insert("status".into(), Value::String("active".into()));
    }
    let hold = parse_record::<Holds>(body, id)?;
    let actor = staff.actor();
    let (op, client_tag) = match put_precondition(&state, RecordType::Hold, id, &headers).await? {
        (Expect::Version(version), tag) => (Op::UpdateHold { hold, version }, tag),
        (Expect::Absent, _) => (Op::PlaceHold(hold), None),
    };
    let outcome = state.store.run(&actor, op, &state.config.rules()).await?;
    state.mail_wake.notify_one();
    match outcome {
        Outcome::HoldPlaced(row) => Ok(json_with_etag(
            StatusCode::CREATED,
            &row.etag(),
            Some(location(RecordType::Hold, id)),
            row.data.unwrap_or_default().into_bytes(),
        )),
        Outcome::Written(WriteOutcome::Updated(row)) => Ok(json_with_etag(
            StatusCode::OK,
            &row.etag(),
            None,
            row.data.unwrap_or_default().into_bytes(),
        )),
        Outcome::Conflict(current) | Outcome::Written(WriteOutcome::Conflict(current)) => {
            Err(edit_conflict(&state, &current, client_tag).await?)
        }
        Outcome::NotFound(..) | Outcome::Written(WriteOutcome::NotFound) => {
            Err(not_found(RecordType::Hold, id))
        }
        other => Err(refusal(&state, other).await),
    }
}

/// `DELETE /v1/holds/{id}` with `If-Match`: the hold goes, its copy is available again.
pub async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (version, client_tag) = match Tags::from_headers(&headers, IF_MATCH) {
        Some(tags) => expected_from_tags(&state, RecordType::Hold, id, tags).await?,
        None => {
            return Err(match live_row(&state, RecordType::Hold, id).await? {
                Some(_) => AppError::PreconditionRequired,
                None => not_found(RecordType::Hold, id),
            });
        }
    };
    let outcome = state
        .store
        .run(
            &staff.actor(),
            Op::CancelHold { id, version },
            &state.config.rules(),
        )
        .await?;
    match outcome {
        Outcome::Deleted(DeleteOutcome::Deleted(_)) => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Deleted(DeleteOutcome::NotFound) => Err(not_found(RecordType::Hold, id)),
        Outcome::Deleted(DeleteOutcome::Conflict(current)) => {
            Err(edit_conflict(&state, &current, client_tag).await?)
        }
        other => Err(refusal(&state, other).await),
    }
}

/// `GET /v1/books/{id}/contests`: every decision on who got a copy of the book, in order.
pub async fn contests(
    State(state): State<AppState>,
    _staff: Staff,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    if live_row(&state, RecordType::Book, id).await?.is_none() {
        return Err(not_found(RecordType::Book, id));
    }
    Ok(axum::Json(state.store.contests(id).await?).into_response())
}
