//! The [`Staff`] extractor every protected handler takes first (so 401/403 come before
//! anything else, as the protocol's order of evaluation requires): the bearer token checked
//! against the database on every request (a point read), so that a sign-out, a disabled user,
//! a new password or a changed role takes effect on the very next request, whichever process
//! made the change (the `user` commands run beside the server).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use shelfmark_core::wire::{Role, UserInfo};

use crate::auth::token_hash;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Actor;

/// The authenticated staff member making a request.
#[derive(Debug, Clone)]
pub struct Staff(pub UserInfo);

/// The bearer token of a request, as sent.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

impl Staff {
    /// 403 unless the user has at least `role` (a manager can do everything).
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        match (role, self.0.role) {
            (Role::Librarian, _) | (Role::Manager, Role::Manager) => Ok(()),
            (Role::Manager, Role::Librarian) => {
                Err(AppError::Forbidden("this needs the manager role"))
            }
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            name: self.0.name.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Staff, AppError> {
        let token = bearer(&parts.headers).ok_or(AppError::Unauthorized(
            "send Authorization: Bearer <token> (POST /v1/sessions gives one)",
        ))?;
        let hash = token_hash(token);
        let now = chrono::Utc::now().timestamp();
        match state.store.session(&hash).await? {
            Some((user, expires_at)) if expires_at > now => Ok(Staff(UserInfo {
                id: user.id,
                name: user.name,
                role: user.role,
            })),
            _ => Err(AppError::Unauthorized(
                "the token is unknown or has expired: log in again",
            )),
        }
    }
}
