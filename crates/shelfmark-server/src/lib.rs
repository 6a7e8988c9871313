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
//! over SMTP or into a spool folder), `auth` (passwords, tokens, the session cache), `state`
//! (what handlers share), `demo` (seed data), `error` (the one problem+json error type),
//! `expiry` (ready holds past their pickup date, cancelled by the server itself).
//!
//! Imports point inward, never back: `http` -> `state` -> `auth` -> `store` -> `records`,
//! `mail::compose`; `mail::deliver` -> `store`; `expiry` -> `state`; this root only assembles
//! `http`, `state` and `expiry`.
//! Neither `records` nor `mail::compose` imports the store.

pub mod auth;
pub mod backup;
pub mod config;
pub mod demo;
pub mod error;
pub mod expiry;
pub mod http;
pub mod mail;
pub mod records;
pub mod state;
pub mod store;

use std::future::Future;

use axum::Router;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::AppError;
pub use crate::state::{AppState, Config, Shared, TlsFiles};

/// The whole API as a router.
pub fn app(state: AppState) -> Router {
    http::router(state.config.body_limit)
        .layer(CatchPanicLayer::custom(|_| {
            AppError::Internal("a handler panicked".into()).into_response()
        }))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish. Meanwhile ready holds past their pickup date are expired (`expiry`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let expiry = tokio::spawn(expiry::run(state.clone()));
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    // A pass cut short rolls back: the next start does it again.
    expiry.abort();
    served
}
