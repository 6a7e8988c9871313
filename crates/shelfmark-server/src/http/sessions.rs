//! Signing in (`POST /v1/sessions`: a username and password for a bearer token) and out
//! (`DELETE /v1/sessions/current`). Failed sign-ins are throttled per name and client
//! address (`crate::throttle`), and password checks run a bounded number at a time, so a flood
//! of sign-ins takes neither the CPU nor the memory (argon2: 19 MiB each) from other requests.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shelfmark_core::wire::{SessionRequest, SessionResponse, UserInfo};

use super::JsonBody;
use super::staff::{Staff, bearer};
use crate::auth::{new_token, token_hash, verify_password};
use crate::error::AppError;
use crate::state::AppState;

/// A valid argon2id hash of a random password: checked when the user does not exist, so that
/// an unknown name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2hlbGZtYXJrZGVjb3k$3J3BKxWmX2G7rT+Kf1hN0yq0aJ2kq9bq3b8O2y3Zk2w";

pub async fn create(
    State(state): State<AppState>,
    extensions: Extensions,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    let request: SessionRequest = serde_json::from_value(body).map_err(|e| {
        AppError::field(
            "body",
            format!("expected {{\"username\",\"password\"}}: {e}"),
        )
    })?;
    // A router served without a peer address (an in-process test) counts as loopback.
    let addr = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::Ipv6Addr::LOCALHOST.into(), |ConnectInfo(a)| {
            a.ip()
        });
    state
        .throttle
        .check(&request.username, addr, Instant::now())
        .map_err(|retry_after| AppError::TooManyAttempts { retry_after })?;
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
    let ok = {
        // Waits its turn: a closed semaphore never happens (it lives as long as the state).
        let _turn = state
            .password_checks
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
    };
    let user = match user {
        Some(user) if ok => user,
        _ => {
            state
                .throttle
                .failed(&request.username, addr, Instant::now());
            return Err(AppError::Unauthorized("wrong username or password"));
        }
    };
    state.throttle.succeeded(&request.username, addr);
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
    let mut response = (StatusCode::CREATED, axum::Json(response)).into_response();
    // The answer carries a secret: no cache of any kind keeps it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /v1/sessions/current`: the token of this request answers 401 from now on.
pub async fn delete_current(
    State(state): State<AppState>,
    _staff: Staff,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = bearer(&headers) {
        state.store.end_session(&token_hash(token)).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
