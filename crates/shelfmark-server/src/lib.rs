//! The Shelfmark library server: the HTTP API of `PROTOCOL.md` over SQLite or PostgreSQL.
//!
//! [`app`] builds the axum router from an [`AppState`]; [`serve`] runs it on a listener until
//! a shutdown signal, letting in-flight requests finish. The binary (`src/main.rs`) only parses
//! the command line and calls these, so the integration tests run the very same server.
//!
//! Code map: `http` (routes, extractors, conditional requests; `holds` and `escalations` for
//! the business operations), `records` (the kinds of record and their rules: indexed columns,
//! validation, search text), `store` (the database: the storage rules written once over a
//! SQLite and a PostgreSQL backend; `store::ops` the multi-record operations), `mail`
//! (`mail::compose` writes the manager's and patrons' mails, `mail::deliver` sends the outbox
//! over SMTP or into a spool folder), `auth` (passwords, tokens, sessions), `state`
//! (what handlers share), `demo` (seed data), `error` (the one problem+json error type),
//! `expiry` (ready holds past their pickup date, cancelled by the server itself), `service`
//! (the accept loop and each connection's protocol and deadlines), `tls` (the certificate
//! files), `throttle` (failed sign-ins per name and address), `config` (the settings from
//! flags, environment, file and defaults), `backup` (SQLite's online backup and restore),
//! `catalogue` (the MARC import and export).
//!
//! Imports point inward, never back: `http` -> `state` -> `auth` -> `store` -> `records`,
//! `mail::compose`; `mail::deliver` -> `store`; `expiry` -> `state`; `state` -> `throttle`;
//! `service` -> `tls`, `state`; `config` -> `state`, `store`, `mail`, `records`; `backup` -> `store`,
//! `config`; `catalogue` -> `store`; this root only assembles `http`, `state`, `service` and `expiry`.
//! Neither `records` nor `mail::compose` imports the store.

pub mod auth;
pub mod backup;
pub mod catalogue;
pub mod config;
pub mod demo;
pub mod error;
pub mod expiry;
pub mod http;
pub mod mail;
pub mod records;
mod service;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::AppError;
pub use crate::state::{AppState, Config, Shared, TlsFiles};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API as a router, with the layers every answer passes: a request id (the
/// client's `x-request-id`, else a new one, sent back), the access log (when its lines are
/// written at all: a server logging only warnings pays nothing for it), panics as 500
/// problems, and gzip or brotli for the bodies worth it.
pub fn app(state: AppState) -> Router {
    let api = http::router(&state)
        .layer(CatchPanicLayer::custom(|_| {
            AppError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Precise(4))
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID));
    let logged = tracing::enabled!(target: "shelfmark_server::access", tracing::Level::INFO);
    let api = if logged {
        api.layer(
            TraceLayer::new_for_http()
                .make_span_with(access_span)
                .on_request(())
                .on_response(access_line),
        )
    } else {
        api
    };
    api.layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
        .with_state(state)
}

/// The ids given to requests that bring none: a random prefix drawn once per process, then a
/// counter. Unique across restarts and instances like a UUID, without a UUID's read of the
/// system's random source on every request (a system call, a measurable part of a 304's cost).
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> RequestIds {
        RequestIds {
            prefix: format!("{:016x}", rand::random::<u64>()).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one request: its method, its route (the pattern, never the path's values or
/// the query, which may hold a patron search) and its id.
fn access_span<B>(request: &Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("-", MatchedPath::as_str);
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map_or("-", |id| &id[..id.len().min(64)]);
    tracing::info_span!("request", method = %request.method(), route, id)
}

/// The access log's line, once the answer's head is sent.
fn access_line<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        target: "shelfmark_server::access",
        status = response.status().as_u16(),
        latency_ms = %format_args!("{:.3}", latency.as_secs_f64() * 1000.0),
        "answered"
    );
}

/// Serves `app(state)` on `listener` (HTTPS when `state.config.tls` names the files) until
/// `shutdown` completes, then lets in-flight requests finish. Meanwhile ready holds past
/// their pickup date are expired (`expiry`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let expiry = tokio::spawn(expiry::run(state.clone()));
    let served = service::run(listener, &state, app(state.clone()), shutdown).await;
    // A pass cut short rolls back: the next start does it again.
    expiry.abort();
    served
}
