//! `GET /healthz` and `GET /readyz` (PROTOCOL.md, v1.1 "Service"), for the admin's monitoring
//! and a load balancer: no token, and nothing in the answer about users, records or addresses.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;

/// The process serves.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// The database answers and its schema is this server's: requests can be served.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ready().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            AppError::NotReady("the database does not answer, or its schema is not this server's")
                .into_response()
        }
    }
}
