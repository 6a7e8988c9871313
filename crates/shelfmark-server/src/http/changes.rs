//! The change feed (`GET /v1/changes`): delta sync for the desktop app.
//!
//! Each record appears once, at the sequence number of its latest change, so a page is the
//! latest state of everything that changed after `since`. The feed's ETag is the latest
//! sequence number on the server, read before the page: an idle client's poll is one request
//! answered `304` with no body.

use axum::extract::State;
use axum::http::header::IF_NONE_MATCH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::value::RawValue;
use shelfmark_core::wire::{Change, ChangeFeed};

use super::staff::Staff;
use super::{Params, Tags, json_with_etag, not_modified};
use crate::error::AppError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 1000;
pub const MAX_LIMIT: i64 = 5000;

pub async fn feed(
    State(state): State<AppState>,
    _staff: Staff,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let since = params.int("since", 0, 0, i64::MAX)?;
    let limit = params.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let latest = state.store.latest_seq().await?;
    let etag = format!("\"{latest}\"");
    if Tags::from_headers(&headers, IF_NONE_MATCH).is_some_and(|t| t.matches_weak(&etag)) {
        return Ok(not_modified(&etag));
    }
    let mut rows = state.store.changes(since, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let last_seq = rows.last().map_or(latest, |r| r.seq);
    let changes = rows
        .into_iter()
        .map(|row| {
            let etag = row.etag();
            // The stored JSON goes out as it is, checked but not parsed into a tree.
            let data = match row.data.filter(|_| !row.deleted) {
                Some(text) => Some(
                    RawValue::from_string(text).map_err(|e| AppError::Internal(e.to_string()))?,
                ),
                None => None,
            };
            Ok(Change {
                seq: row.seq,
                kind: row.kind,
                id: row.id,
                etag,
                deleted: row.deleted,
                data,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let feed = ChangeFeed {
        changes,
        last_seq,
        more,
    };
    let body = serde_json::to_vec(&feed).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(json_with_etag(StatusCode::OK, &etag, None, body))
}
