//! The [`Staff`] extractor every protected handler takes first (so 401/403 come before
//! anything else, as the protocol's order of evaluation requires): the bearer token checked
//! against the session cache, else the database.

use axum::extract::FromRequestParts;
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
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized(
                "send Authorization: Bearer <token> (POST /v1/sessions gives one)",
            ))?;
        let hash = token_hash(token);
        let now = chrono::Utc::now().timestamp();
        if let Some(user) = state.sessions.get(&hash, now) {
            return Ok(Staff(user));
        }
        match state.store.session(&hash).await? {
            Some((user, expires_at)) if expires_at > now => {
                let info = UserInfo {
                    id: user.id,
                    name: user.name,
                    role: user.role,
                };
                state.sessions.put(hash, info.clone(), expires_at);
                Ok(Staff(info))
            }
            _ => Err(AppError::Unauthorized(
                "the token is unknown or has expired: log in again",
            )),
        }
    }
}
