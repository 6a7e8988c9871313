//! The HTTP surface: the router, and the small pieces every handler shares (JSON bodies and
//! query strings whose rejections become problem+json, entity-tag parsing and comparison).

pub mod changes;
pub mod escalations;
pub mod guard;
pub mod health;
pub mod holds;
pub mod loans;
pub mod openapi;
pub mod records;
pub mod sessions;
pub mod staff;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shelfmark_core::RecordType;

use crate::error::AppError;
use crate::state::AppState;

/// Every route of the API, as `(method, path)`: the OpenAPI document is checked against it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/sessions"),
    ("DELETE", "/v1/sessions/current"),
    ("GET", "/v1/changes"),
    ("GET", "/v1/books"),
    ("GET", "/v1/books/{id}"),
    ("PUT", "/v1/books/{id}"),
    ("DELETE", "/v1/books/{id}"),
    ("GET", "/v1/books/{id}/revisions"),
    ("GET", "/v1/books/{id}/contests"),
    ("GET", "/v1/copies"),
    ("GET", "/v1/copies/{id}"),
    ("PUT", "/v1/copies/{id}"),
    ("DELETE", "/v1/copies/{id}"),
    ("GET", "/v1/copies/{id}/revisions"),
    ("GET", "/v1/patrons"),
    ("GET", "/v1/patrons/{id}"),
    ("PUT", "/v1/patrons/{id}"),
    ("DELETE", "/v1/patrons/{id}"),
    ("GET", "/v1/patrons/{id}/revisions"),
    ("GET", "/v1/holds"),
    ("GET", "/v1/holds/{id}"),
    ("PUT", "/v1/holds/{id}"),
    ("DELETE", "/v1/holds/{id}"),
    ("GET", "/v1/holds/{id}/revisions"),
    ("GET", "/v1/loans"),
    ("GET", "/v1/loans/{id}"),
    ("PUT", "/v1/loans/{id}"),
    ("GET", "/v1/loans/{id}/revisions"),
    ("GET", "/v1/escalations"),
    ("GET", "/v1/escalations/{id}"),
    ("GET", "/v1/escalations/{id}/revisions"),
    ("POST", "/v1/escalations/{id}/reassign"),
    ("POST", "/v1/escalations/{id}/purchase"),
    ("POST", "/v1/escalations/{id}/resolve"),
    ("GET", "/v1/purchase-requests"),
    ("GET", "/v1/purchase-requests/{id}"),
    ("PUT", "/v1/purchase-requests/{id}"),
    ("DELETE", "/v1/purchase-requests/{id}"),
    ("GET", "/v1/purchase-requests/{id}/revisions"),
    ("GET", "/v1/openapi.json"),
];

/// The API's router (state still to be provided): the API behind [`guard::guard`], the
/// health endpoints beside it (they answer even when the API sheds load).
pub fn router(state: &AppState) -> Router<AppState> {
    api(state.config.body_limit)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}

fn api(body_limit: usize) -> Router<AppState> {
    use records::{Books, Copies, Escalations, Holds, Loans, Patrons, PurchaseRequests};
    Router::new()
        .route("/v1/sessions", post(sessions::create))
        .route(
            "/v1/sessions/current",
            axum::routing::delete(sessions::delete_current),
        )
        .route("/v1/changes", get(changes::feed))
        .route("/v1/openapi.json", get(openapi::serve))
        .merge(records::routes::<Books>())
        .route("/v1/books/{id}/contests", get(holds::contests))
        .merge(records::routes::<Copies>())
        .merge(records::routes::<Patrons>())
        .merge(records::read_routes::<Holds>())
        .route(
            "/v1/holds/{id}",
            get(records::get_one::<Holds>)
                .put(holds::put)
                .delete(holds::delete),
        )
        .merge(records::read_routes::<Loans>())
        .route(
            "/v1/loans/{id}",
            get(records::get_one::<Loans>).put(loans::put),
        )
        .merge(records::read_routes::<Escalations>())
        .merge(escalations::routes())
        .merge(records::routes::<PurchaseRequests>())
        .fallback(|| async { AppError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            AppError::MethodNotAllowed("this route does not answer that method".into())
        })
        .layer(DefaultBodyLimit::max(body_limit))
}

/// A JSON request body; malformed JSON is a 400 and an oversized body a 413, as problem+json.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody, AppError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::field("body", rejection.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AppError::field("body", format!("malformed JSON: {e}")))
    }
}

/// The query string as key/value pairs; handlers parse and validate each value.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, AppError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| Params(map))
            .map_err(|rejection| AppError::field("query", rejection.body_text()))
    }
}

impl Params {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// An integer parameter within bounds, or a 400 naming it.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, AppError> {
        match self.text(name) {
            None => Ok(default),
            Some(raw) => match raw.parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(AppError::field(
                    name,
                    format!("expected an integer from {min} to {max}"),
                )),
            },
        }
    }

    pub fn uuid(&self, name: &str) -> Result<Option<uuid::Uuid>, AppError> {
        self.text(name)
            .map(|raw| {
                uuid::Uuid::parse_str(raw).map_err(|_| AppError::field(name, "expected a UUID"))
            })
            .transpose()
    }
}

/// The value of `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    Any,
    /// Entity-tags as sent, weak ones with their `W/` prefix.
    List(Vec<String>),
}

impl Tags {
    /// The header's tags, `None` when the request does not carry it.
    pub fn from_headers(headers: &HeaderMap, name: HeaderName) -> Option<Tags> {
        let mut values = headers.get_all(name).iter().peekable();
        values.peek()?;
        let mut tags = Vec::new();
        for value in values {
            // A header that is not visible ASCII names no tag of ours: it matches nothing.
            let Ok(text) = value.to_str() else { continue };
            if text.trim() == "*" {
                return Some(Tags::Any);
            }
            tags.extend(parse_tag_list(text));
        }
        Some(Tags::List(tags))
    }

    /// Strong comparison (`If-Match`): a weak tag never matches.
    pub fn matches_strong(&self, etag: &str) -> bool {
        match self {
            Tags::Any => true,
            Tags::List(tags) => tags.iter().any(|t| !t.starts_with("W/") && t == etag),
        }
    }

    /// Weak comparison (`If-None-Match`).
    pub fn matches_weak(&self, etag: &str) -> bool {
        let opaque = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_owned();
        match self {
            Tags::Any => true,
            Tags::List(tags) => tags.iter().any(|t| opaque(t) == opaque(etag)),
        }
    }
}

/// Splits `"a", W/"b" ,"c"` into its entity-tags; junk between them is skipped.
fn parse_tag_list(text: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return tags;
        }
        let weak = rest.starts_with("W/");
        let body = if weak { &rest[2..] } else { rest };
        if let Some((tag, after)) = body.strip_prefix('"').and_then(|q| q.split_once('"')) {
            tags.push(format!("{}\"{tag}\"", if weak { "W/" } else { "" }));
            rest = after;
            continue;
        }
        // Not a tag: skip to the next comma.
        match rest.find(',') {
            Some(i) => rest = &rest[i + 1..],
            None => return tags,
        }
    }
}

/// `304 Not Modified` with the tag and no body.
pub fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = etag.parse() {
        response
            .headers_mut()
            .insert(axum::http::header::ETAG, value);
    }
    response
}

/// A JSON answer with an ETag (and a Location, for creations).
pub fn json_with_etag(
    status: StatusCode,
    etag: &str,
    location: Option<String>,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = etag.parse() {
        headers.insert(axum::http::header::ETAG, value);
    }
    if let Some(value) = location.and_then(|l| l.parse().ok()) {
        headers.insert(axum::http::header::LOCATION, value);
    }
    response
}

/// The path of a record.
pub fn location(kind: RecordType, id: uuid::Uuid) -> String {
    format!("/v1/{}/{id}", kind.collection())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::IF_MATCH;

    fn tags(values: &[&str]) -> Option<Tags> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(IF_MATCH, HeaderValue::from_str(v).expect("valid header"));
        }
        Tags::from_headers(&headers, IF_MATCH)
    }

    #[test]
    fn tag_lists_are_split_across_commas_and_header_lines() {
        assert_eq!(tags(&[]), None);
        assert_eq!(tags(&["*"]), Some(Tags::Any));
        assert_eq!(
            tags(&["\"v1\", W/\"v2\"", "junk, \"v3\""]),
            Some(Tags::List(vec![
                "\"v1\"".into(),
                "W/\"v2\"".into(),
                "\"v3\"".into()
            ]))
        );
    }

    #[test]
    fn weak_tags_never_match_strongly_but_match_weakly() {
        let t = tags(&["W/\"v2\""]).expect("present");
        assert!(!t.matches_strong("\"v2\""));
        assert!(t.matches_weak("\"v2\""));
        assert!(tags(&["\"v2\""]).expect("present").matches_strong("\"v2\""));
    }
}
