//! Loans: a check-out creates one (`If-None-Match: *`) and takes the copy off the shelf, in
//! the same transaction, or answers `409 copy-unavailable` with the copy as it is; a check-in
//! (`If-Match`, `status: "returned"`) puts the copy back. The rules are `crate::store::ops`;
//! this module maps HTTP onto them, in the protocol's order of evaluation as for holds.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use shelfmark_core::RecordType;

use super::holds::refusal;
use super::records::{IdPath, Loans, edit_conflict, parse_record, put_precondition};
use super::staff::Staff;
use super::{JsonBody, json_with_etag, location};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::ops::{Op, Outcome};
use crate::store::{Expect, WriteOutcome};

/// `PUT /v1/loans/{id}`: check out (`If-None-Match: *`) or check in (`If-Match`).
pub async fn put(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> Result<Response, AppError> {
    // The protocol's check-out body is `{"copy_id","patron_id"}`: it is on loan.
    if let Value::Object(map) = &mut body
        && map.get("status").is_none_or(Value::is_null)
    {
        map.insert("status".into(), Value::String("on_loan".into()));
    }
    let loan = parse_record::<Loans>(body, id)?;
    // A check-in needs `If-Match`, a check-out `If-None-Match: *`.
    let (op, client_tag) = match put_precondition(&state, RecordType::Loan, id, &headers).await? {
        (Expect::Version(version), tag) => (Op::UpdateLoan { loan, version }, tag),
        (Expect::Absent, _) => (Op::CheckOut(loan), None),
    };
    let outcome = state
        .store
        .run(&staff.actor(), op, &state.config.rules())
        .await?;
    match outcome {
        Outcome::Written(WriteOutcome::Created(row)) => Ok(json_with_etag(
            StatusCode::CREATED,
            &row.etag(),
            Some(location(RecordType::Loan, id)),
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
        other => Err(refusal(&state, other).await),
    }
}
