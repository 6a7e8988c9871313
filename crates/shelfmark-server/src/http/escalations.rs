//! Escalations: what the manager reads to decide (`GET /v1/escalations/{id}` with the patron,
//! the book, every active hold on its copies and the purchase requests), and the three
//! actions (reassign a copy, flag a purchase, resolve by hand), each manager-only, each
//! conditional on the escalation's `If-Match`, each one transaction in `crate::store::ops`.
//!
//! The detail's ETag is `"v<version>.<digest>"`: the escalation's own version (what an action's
//! `If-Match` is compared with; the change feed's `"v<version>"` is accepted too) and a digest
//! of everything else shown, so a revalidation notices a hold that moved.

use axum::Router;
use axum::extract::State;
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use shelfmark_core::wire::{ActiveHold, EscalationDetail, HeldCopy, Role};
use shelfmark_core::{Copy, Escalation, Hold, Patron, RecordType};
use uuid::Uuid;

use super::holds::refusal;
use super::records::{IdPath, live_row, not_found};
use super::staff::Staff;
use super::{JsonBody, Tags, json_with_etag, location, not_modified};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::ops::{Op, Outcome};
use crate::store::{ListQuery, Row};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/escalations/{id}", get(detail))
        .route("/v1/escalations/{id}/reassign", post(reassign))
        .route("/v1/escalations/{id}/purchase", post(purchase))
        .route("/v1/escalations/{id}/resolve", post(resolve))
}

/// The escalation version an entity-tag names: `"v7"` or `"v7.<digest>"`.
fn version_of_tag(tag: &str) -> Option<i64> {
    let inner = tag.strip_prefix("\"v")?.strip_suffix('"')?;
    inner.split('.').next()?.parse().ok()
}

async fn escalation_row(state: &AppState, id: Uuid) -> Result<Row, AppError> {
    live_row(state, RecordType::Escalation, id)
        .await?
        .ok_or_else(|| not_found(RecordType::Escalation, id))
}

fn parse<T: serde::de::DeserializeOwned>(row: &Row) -> Result<T, AppError> {
    serde_json::from_value(row.json()).map_err(|e| AppError::Internal(e.to_string()))
}

/// `GET /v1/escalations/{id}`: the escalation and what the manager needs to decide.
async fn detail(
    State(state): State<AppState>,
    _staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let row = escalation_row(&state, id).await?;
    let escalation: Escalation = parse(&row)?;
    let patron = live_row(&state, RecordType::Patron, escalation.patron_id).await?;
    let book = live_row(&state, RecordType::Book, escalation.book_id).await?;
    let mut digest = Sha256::new();
    let mut seen = |r: &Row| digest.update(format!("{}{}{};", r.kind.as_str(), r.id, r.version));
    let holds = state
        .store
        .list(
            RecordType::Hold,
            ListQuery {
                ref2_id: Some(escalation.book_id),
                status: Some("active".into()),
                limit: 1000,
                ..ListQuery::default()
            },
        )
        .await?;
    let mut active_holds = Vec::new();
    for hold_row in &holds {
        seen(hold_row);
        let hold: Hold = parse(hold_row)?;
        let holder = live_row(&state, RecordType::Patron, hold.patron_id).await?;
        let copy = match hold.copy_id {
            Some(c) => live_row(&state, RecordType::Copy, c).await?,
            None => None,
        };
        let since = state
            .store
            .revisions(RecordType::Hold, hold.id, Some(1))
            .await?
            .into_iter()
            .next()
            .map(|r| r.at);
        let holder: Option<Patron> = holder.as_ref().map(parse).transpose()?;
        let copy: Option<Copy> = copy.as_ref().map(parse).transpose()?;
        active_holds.push(ActiveHold {
            hold,
            hold_etag: Some(hold_row.etag()),
            premium: holder.as_ref().is_some_and(|p| p.premium),
            holder,
            branch: copy.as_ref().map(|c| c.branch.clone()),
            copy: copy.map(|c| HeldCopy {
                id: c.id,
                barcode: c.barcode,
                branch: c.branch,
                status: c.status,
            }),
            since,
        });
    }
    let requests = state
        .store
        .list(
            RecordType::PurchaseRequest,
            ListQuery {
                ref_id: Some(escalation.book_id),
                limit: 1000,
                ..ListQuery::default()
            },
        )
        .await?;
    for r in patron.iter().chain(book.iter()).chain(requests.iter()) {
        seen(r);
    }
    let hash = digest.finalize();
    let etag = format!(
        "\"{}.{}\"",
        row.etag().trim_matches('"'),
        hash[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if Tags::from_headers(&headers, IF_NONE_MATCH).is_some_and(|t| t.matches_weak(&etag)) {
        return Ok(not_modified(&etag));
    }
    let detail = EscalationDetail {
        escalation,
        patron: patron.as_ref().map(parse).transpose()?,
        book: book.as_ref().map(parse).transpose()?,
        active_holds,
        purchase_requests: requests.iter().map(parse).collect::<Result<_, _>>()?,
        etag: None,
        offline: false,
    };
    let bytes = detail
        .server_body()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(json_with_etag(StatusCode::OK, &etag, None, bytes))
}

/// The version an action's `If-Match` names (after 403, 404 and 400 have had their turn).
/// `If-None-Match: *` names no state an existing escalation could be in: `412`, whatever else
/// the request carries.
async fn if_match_version(
    state: &AppState,
    id: Uuid,
    headers: &HeaderMap,
) -> Result<i64, AppError> {
    if Tags::from_headers(headers, IF_NONE_MATCH) == Some(Tags::Any) {
        let row = escalation_row(state, id).await?;
        return Err(AppError::PreconditionFailed(format!(
            "the escalation {id} exists (ETag {})",
            row.etag()
        )));
    }
    match Tags::from_headers(headers, IF_MATCH) {
        None => Err(AppError::PreconditionRequired),
        Some(Tags::Any) => Ok(escalation_row(state, id).await?.version),
        Some(Tags::List(tags)) => {
            let current = escalation_row(state, id).await?.version;
            let versions: Vec<i64> = tags
                .iter()
                .filter(|t| !t.starts_with("W/"))
                .filter_map(|t| version_of_tag(t))
                .collect();
            // Any matching tag is a match; otherwise the (stale) first one is compared.
            Ok(versions
                .iter()
                .copied()
                .find(|v| *v == current)
                .or(versions.first().copied())
                .unwrap_or(-1))
        }
    }
}

fn object(body: Value) -> Result<Map<String, Value>, AppError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::field("body", "expected a JSON object")),
    }
}

/// A note of the body: multi-line text (line breaks and tabs, no other control character).
fn text_field(map: &Map<String, Value>, name: &str) -> Result<String, AppError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => {
            let mut errors = shelfmark_core::ValidationErrors::default();
            shelfmark_core::validate::multi_line(&mut errors, name, s);
            errors.into_result().map_err(AppError::Validation)?;
            Ok(s.clone())
        }
        Some(_) => Err(AppError::field(name, "expected a string")),
    }
}

fn uuid_field(map: &Map<String, Value>, name: &str) -> Result<Option<Uuid>, AppError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| AppError::field(name, "expected a UUID")),
        Some(_) => Err(AppError::field(name, "expected a UUID")),
    }
}

/// Answers a settled action: the escalation with its new ETag, and what the action created.
fn settled(outcome: Outcome) -> Result<(Row, Option<Row>, Option<Row>), Box<Outcome>> {
    match outcome {
        Outcome::Settled {
            escalation,
            hold,
            purchase,
        } => Ok((escalation, hold, purchase)),
        other => Err(Box::new(other)),
    }
}

/// `POST /v1/escalations/{id}/reassign` `{"hold_id","note"}`.
async fn reassign(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    staff.require(Role::Manager)?;
    escalation_row(&state, id).await?;
    let map = object(body)?;
    let hold_id = uuid_field(&map, "hold_id")?
        .ok_or_else(|| AppError::field("hold_id", "name the hold whose copy to reassign"))?;
    let note = text_field(&map, "note")?;
    let new_hold_id = uuid_field(&map, "new_hold_id")?.unwrap_or_else(Uuid::now_v7);
    let version = if_match_version(&state, id, &headers).await?;
    let op = Op::Reassign {
        escalation_id: id,
        version,
        hold_id,
        note,
        new_hold_id,
    };
    let outcome = state
        .store
        .run(&staff.actor(), op, &state.config.rules())
        .await?;
    state.mail_wake.notify_one();
    match settled(outcome) {
        Ok((escalation, hold, _)) => {
            let body = json!({
                "escalation": escalation.json(),
                "hold": hold.map(|h| h.json()),
            });
            let bytes = serde_json::to_vec(&body).map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(json_with_etag(
                StatusCode::OK,
                &escalation.etag(),
                None,
                bytes,
            ))
        }
        Err(other) => Err(refusal(&state, *other).await),
    }
}

/// `POST /v1/escalations/{id}/purchase` `{"quantity","note"}` → 201 with the purchase request.
async fn purchase(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    staff.require(Role::Manager)?;
    escalation_row(&state, id).await?;
    let map = object(body)?;
    let quantity = match map.get("quantity") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|q| (1..=1000).contains(q))
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| AppError::field("quantity", "a whole number from 1 to 1000"))?,
    };
    let note = text_field(&map, "note")?;
    let request_id = uuid_field(&map, "id")?.unwrap_or_else(Uuid::now_v7);
    let version = if_match_version(&state, id, &headers).await?;
    let op = Op::FlagPurchase {
        escalation_id: id,
        version,
        request_id,
        quantity,
        note,
    };
    let outcome = state
        .store
        .run(&staff.actor(), op, &state.config.rules())
        .await?;
    match settled(outcome) {
        Ok((_, _, Some(request))) => Ok(json_with_etag(
            StatusCode::CREATED,
            &request.etag(),
            Some(location(RecordType::PurchaseRequest, request.id)),
            request.data.unwrap_or_default().into_bytes(),
        )),
        Ok(_) => Err(AppError::Internal("a purchase without its request".into())),
        Err(other) => Err(refusal(&state, *other).await),
    }
}

/// `POST /v1/escalations/{id}/resolve` `{"note"}`: closed by hand.
async fn resolve(
    State(state): State<AppState>,
    staff: Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    staff.require(Role::Manager)?;
    escalation_row(&state, id).await?;
    let map = object(body)?;
    let note = text_field(&map, "note")?;
    if note.trim().is_empty() {
        return Err(AppError::field(
            "note",
            "say how the escalation was settled",
        ));
    }
    let version = if_match_version(&state, id, &headers).await?;
    let op = Op::Resolve {
        escalation_id: id,
        version,
        note,
    };
    let outcome = state
        .store
        .run(&staff.actor(), op, &state.config.rules())
        .await?;
    match settled(outcome) {
        Ok((escalation, _, _)) => Ok(json_with_etag(
            StatusCode::OK,
            &escalation.etag(),
            None,
            escalation.data.unwrap_or_default().into_bytes(),
        )),
        Err(other) => Err(refusal(&state, *other).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_tags_name_the_escalation_version_with_or_without_a_digest() {
        assert_eq!(version_of_tag("\"v7\""), Some(7));
        assert_eq!(version_of_tag("\"v7.0a1b\""), Some(7));
        assert_eq!(version_of_tag("\"x7\""), None);
        assert_eq!(version_of_tag("v7"), None);
    }
}
