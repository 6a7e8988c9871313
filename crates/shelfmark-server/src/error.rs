//! The one error type every handler returns, and its rendering as RFC 9457 problem+json.
//!
//! Every non-2xx answer of the server goes through [`AppError`], including the rejections of
//! axum's extractors (bad JSON, body too large, unknown route, wrong method), so a client only
//! ever has to parse one shape of error. Internal errors are logged with their cause and
//! answered with a generic detail: the cause may contain SQL or paths that are nobody's business.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use shelfmark_core::ValidationErrors;
use shelfmark_core::wire::Problem;
use uuid::Uuid;

use crate::store::StoreError;

/// Everything that can go wrong while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("invalid request: {0}")]
    Validation(ValidationErrors),
    /// The `If-Match` tag is not the current state; carries what the client needs to merge.
    #[error("the record changed since the version the request is based on")]
    EditConflict(shelfmark_core::wire::EditConflict),
    #[error("{detail}")]
    Duplicate { detail: String, existing_id: Uuid },
    /// No copy of the book was free for a hold; a premium patron's loss opened an escalation.
    #[error("{}", hold_unavailable_detail(*escalation_id))]
    HoldUnavailable {
        book_id: Uuid,
        patron_premium: bool,
        escalation_id: Option<Uuid>,
    },
    /// A check-out of a copy that is not available to this patron: the copy as it is.
    #[error("{}", copy_unavailable_detail(copy))]
    CopyUnavailable { copy: Value },
    /// A deletion of a record others still depend on: what they are, and what to end first.
    #[error("{}", shelfmark_core::wire::InUse { dependents: dependents.clone() }.reason(*kind))]
    InUse {
        kind: shelfmark_core::RecordType,
        dependents: Vec<shelfmark_core::wire::Dependents>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error(
        "this write must be conditional: send If-Match (update, delete) or If-None-Match: * (create)"
    )]
    PreconditionRequired,
    #[error("the request body is larger than this server accepts")]
    PayloadTooLarge,
    /// Sign-ins for this name from this address failed too often: wait `retry_after` seconds.
    #[error(
        "too many failed sign-ins for this name from this address: try again in {}",
        shelfmark_core::wire::wait_in_words(*retry_after)
    )]
    TooManyAttempts { retry_after: u64 },
    /// The server sheds load (too many requests at once, or one that took too long): retry
    /// after `retry_after` seconds; nothing was done.
    #[error("the server is busy: nothing was done, try again in {retry_after} s")]
    Overloaded { retry_after: u64 },
    /// The database does not answer, or its schema is not this server's.
    #[error("{0}")]
    NotReady(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A 400 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> AppError {
        let mut errors = ValidationErrors::default();
        errors.push(field, message);
        AppError::Validation(errors)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Validation(_) => StatusCode::BAD_REQUEST,
            AppError::EditConflict(_)
            | AppError::Duplicate { .. }
            | AppError::HoldUnavailable { .. }
            | AppError::CopyUnavailable { .. }
            | AppError::InUse { .. } => StatusCode::CONFLICT,
            AppError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            AppError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded { .. } | AppError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's name, the last segment of its `type`.
    pub fn name(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::MethodNotAllowed(_) => "method-not-allowed",
            AppError::Validation(_) => "validation",
            AppError::EditConflict(_) => "edit-conflict",
            AppError::Duplicate { .. } => "duplicate",
            AppError::HoldUnavailable { .. } => "hold-unavailable",
            AppError::CopyUnavailable { .. } => "copy-unavailable",
            AppError::InUse { .. } => "in-use",
            AppError::PreconditionFailed(_) => "precondition-failed",
            AppError::PreconditionRequired => "precondition-required",
            AppError::PayloadTooLarge => "payload-too-large",
            AppError::TooManyAttempts { .. } => "too-many-attempts",
            AppError::Overloaded { .. } => "overloaded",
            AppError::NotReady(_) => "not-ready",
            AppError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "Authentication required",
            AppError::Forbidden(_) => "Not allowed for this role",
            AppError::NotFound(_) => "Not found",
            AppError::MethodNotAllowed(_) => "Method not allowed",
            AppError::Validation(_) => "Invalid request",
            AppError::EditConflict(_) => "Edit conflict",
            AppError::Duplicate { .. } => "Duplicate",
            AppError::HoldUnavailable { .. } => "No copy available",
            AppError::CopyUnavailable { .. } => "Copy not available",
            AppError::InUse { .. } => "Still in use",
            AppError::PreconditionFailed(_) => "Precondition failed",
            AppError::PreconditionRequired => "Precondition required",
            AppError::PayloadTooLarge => "Payload too large",
            AppError::TooManyAttempts { .. } => "Too many failed sign-ins",
            AppError::Overloaded { .. } => "Server busy",
            AppError::NotReady(_) => "Not ready",
            AppError::Internal(_) => "Internal server error",
        }
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        let mut extensions = Map::new();
        let mut errors = Vec::new();
        let detail = match self {
            AppError::Internal(_) => "the server failed to answer; the cause is in its log".into(),
            other => other.to_string(),
        };
        match self {
            AppError::Validation(e) => errors = e.0.clone(),
            AppError::EditConflict(c) => {
                if let Ok(Value::Object(map)) = serde_json::to_value(c) {
                    extensions = map;
                }
            }
            AppError::Duplicate { existing_id, .. } => {
                extensions.insert("existing_id".into(), json!(existing_id));
            }
            AppError::HoldUnavailable {
                book_id,
                patron_premium,
                escalation_id,
            } => {
                extensions.insert("book_id".into(), json!(book_id));
                extensions.insert("patron_premium".into(), json!(patron_premium));
                if let Some(id) = escalation_id {
                    extensions.insert("escalation_id".into(), json!(id));
                }
            }
            AppError::CopyUnavailable { copy } => {
                extensions.insert("copy".into(), copy.clone());
            }
            AppError::InUse { dependents, .. } => {
                extensions.insert("dependents".into(), json!(dependents));
            }
            AppError::TooManyAttempts { retry_after } | AppError::Overloaded { retry_after } => {
                extensions.insert("retry_after".into(), json!(retry_after));
            }
            _ => {}
        }
        Problem {
            kind: format!("/problems/{}", self.name()),
            title: self.title().into(),
            status: self.status().as_u16(),
            detail,
            errors,
            extensions,
        }
    }
}

/// What the desk reads when a hold loses: plain words, and for a premium patron what happens
/// next.
fn hold_unavailable_detail(escalation_id: Option<Uuid>) -> String {
    match escalation_id {
        None => "All copies of this book are taken: the hold cannot be placed now.".into(),
        Some(id) => format!(
            "All copies of this book are taken. The patron is premium: the manager has been told \
             (escalation {id}) and will contact them."
        ),
    }
}

/// Why a copy cannot be checked out, from its status.
fn copy_unavailable_detail(copy: &Value) -> String {
    match copy.get("status").and_then(Value::as_str) {
        Some("on_loan") => "This copy is on loan: check it in first.".into(),
        Some("held") => "This copy is held for another patron.".into(),
        Some("missing") => "This copy is marked missing.".into(),
        _ => "This copy cannot be checked out now.".into(),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        AppError::Internal(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(cause) = &self {
            // Debug-quoted: a cause may quote stored text (a record's JSON), whose line breaks
            // must not start a forged log line.
            tracing::error!(?cause, "answering 500");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let AppError::TooManyAttempts { retry_after } | AppError::Overloaded { retry_after } =
            &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"shelfmark\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problems_list_their_field_errors() {
        let p = AppError::field("title", "a book needs a title").problem();
        assert_eq!(p.kind, "/problems/validation");
        assert_eq!(p.status, 400);
        assert_eq!(p.errors[0].field, "title");
    }

    #[test]
    fn hold_unavailable_says_so_plainly_and_names_the_escalation_for_premium_patrons() {
        let book_id = Uuid::nil();
        let regular = AppError::HoldUnavailable {
            book_id,
            patron_premium: false,
            escalation_id: None,
        }
        .problem();
        assert_eq!(
            (regular.kind.as_str(), regular.status),
            ("/problems/hold-unavailable", 409)
        );
        assert!(regular.detail.contains("All copies of this book are taken"));
        assert_eq!(regular.extensions["patron_premium"], false);
        assert!(!regular.extensions.contains_key("escalation_id"));
        let id = Uuid::now_v7();
        let premium = AppError::HoldUnavailable {
            book_id,
            patron_premium: true,
            escalation_id: Some(id),
        }
        .problem();
        assert_eq!(premium.extensions["escalation_id"], json!(id));
        assert!(premium.detail.contains(&id.to_string()));
    }

    #[test]
    fn copy_unavailable_carries_the_copy_and_says_why_from_its_status() {
        let copy = json!({"id": Uuid::nil(), "status": "held", "barcode": "3100"});
        let p = AppError::CopyUnavailable { copy: copy.clone() }.problem();
        assert_eq!(
            (p.kind.as_str(), p.status),
            ("/problems/copy-unavailable", 409)
        );
        assert_eq!(p.extensions["copy"], copy);
        assert_eq!(p.detail, "This copy is held for another patron.");
    }

    #[test]
    fn in_use_lists_the_dependents_and_says_what_to_end_first() {
        let ids = vec![Uuid::from_u128(1), Uuid::from_u128(2)];
        let p = AppError::InUse {
            kind: shelfmark_core::RecordType::Book,
            dependents: vec![shelfmark_core::wire::Dependents {
                kind: shelfmark_core::RecordType::Copy,
                count: 2,
                ids: ids.clone(),
            }],
        }
        .problem();
        assert_eq!((p.kind.as_str(), p.status), ("/problems/in-use", 409));
        assert_eq!(
            p.extensions["dependents"],
            json!([{"type": "copy", "count": 2, "ids": ids}])
        );
        assert_eq!(p.detail, "This book still has 2 copies: delete them first.");
    }

    #[test]
    fn throttled_and_shed_answers_say_when_to_come_back_in_a_header() {
        let throttled = AppError::TooManyAttempts { retry_after: 601 }.into_response();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "601");
        let p = AppError::TooManyAttempts { retry_after: 601 }.problem();
        assert!(
            p.detail.ends_with("try again in 11 minutes"),
            "{}",
            p.detail
        );
        let shed = AppError::Overloaded { retry_after: 1 }.into_response();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn internal_problems_hide_their_cause() {
        let p = AppError::Internal("SELECT secret FROM x".into()).problem();
        assert!(!p.detail.contains("secret"));
    }
}
