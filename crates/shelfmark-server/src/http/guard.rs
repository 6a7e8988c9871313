//! What every API request passes on its way to a handler and back: the bound on requests in
//! flight (503 `overloaded` with `Retry-After` rather than an endless queue), the request
//! deadline, the refusal of a body announced over the limit before any of it is read, and the
//! cache headers of authenticated answers (PROTOCOL.md, v1.1 "Service", "Integrity and
//! caches"). One middleware, so their order is written once.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, VARY};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

/// Seconds a shed client is asked to wait before it tries again.
const RETRY_AFTER: u64 = 1;

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|len| len > state.config.body_limit as u64) {
        return AppError::PayloadTooLarge.into_response();
    }
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        tracing::warn!(
            limit = state.config.max_in_flight,
            "requests in flight at the limit: answering 503"
        );
        return AppError::Overloaded {
            retry_after: RETRY_AFTER,
        }
        .into_response();
    };
    let authenticated = request.headers().contains_key(AUTHORIZATION);
    let handled = state.store.scoped(next.run(request));
    let mut response = match tokio::time::timeout(state.config.request_timeout, handled).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout = ?state.config.request_timeout,
                "a request ran past its deadline: answering 503"
            );
            // Dropping the handler's future rolls back whatever it had begun.
            AppError::Overloaded {
                retry_after: RETRY_AFTER,
            }
            .into_response()
        }
    };
    if authenticated {
        // One user's answer is never served to another from a shared cache, and a private
        // cache revalidates it (with the ETag) before use.
        let headers = response.headers_mut();
        if !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        }
        headers.append(VARY, HeaderValue::from_static("Authorization"));
    }
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of an oversized body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    response
}
