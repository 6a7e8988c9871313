//! Logging in (`POST /v1/sessions`): a username and password for a bearer token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shelfmark_core::wire::{SessionRequest, SessionResponse, UserInfo};

use super::JsonBody;
use crate::auth::{new_token, token_hash, verify_password};
use crate::error::AppError;
use crate::state::AppState;

/// A valid argon2id hash of a random password: checked when the user does not exist, so that
/// an unknown name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2hlbGZtYXJrZGVjb3k$3J3BKxWmX2G7rT+Kf1hN0yq0aJ2kq9bq3b8O2y3Zk2w";

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    let request: SessionRequest = serde_json::from_value(body).map_err(|e| {
        AppError::field(
            "body",
            format!("expected {{\"username\",\"password\"}}: {e}"),
        )
    })?;
    // No user name holds a control character (and PostgreSQL refuses NUL in text).
    let user = if request.username.chars().any(char::is_control) {
        None
    } else {
        state.store.user_by_name(&request.username).await?
    };
    let hash = user
        .as_ref()
        .map_or(DECOY_HASH.to_owned(), |u| u.password_hash.clone());
    let password = request.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(AppError::Unauthorized("wrong username or password")),
    };
    let token = new_token();
    let expires_at = chrono::Utc::now().timestamp() + state.config.token_ttl.as_secs() as i64;
    state
        .store
        .insert_token(&token_hash(&token), user.id, expires_at)
        .await?;
    let response = SessionResponse {
        token,
        user: UserInfo {
            id: user.id,
            name: user.name,
            role: user.role,
        },
    };
    Ok((StatusCode::CREATED, axum::Json(response)).into_response())
}
