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
//! over SMTP or into a spool folder), `auth` (passwords, tokens), `demo` (seed data), `error`
//! (the one problem+json error type).
//!
//! Imports point inward: `http` -> `store` -> `records`, `mail::compose`;
//! `mail::deliver` -> `store`. Neither `records` nor `mail::compose` imports the store.

pub mod auth;
pub mod demo;
pub mod error;
pub mod http;
pub mod mail;
pub mod records;
pub mod store;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::SessionCache;
use crate::error::AppError;
use crate::mail::compose::MailSettings;
use crate::store::Store;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted (413 above).
    pub body_limit: usize,
    /// How long a session token stays valid.
    pub token_ttl: Duration,
    /// Sender and manager addresses of the mails the server writes.
    pub mail: MailSettings,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            body_limit: 1024 * 1024,
            token_ttl: Duration::from_secs(12 * 3600),
            mail: MailSettings::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub sessions: SessionCache,
    pub config: Config,
    /// Wakes the mail delivery task (`mail::deliver::spawn_delivery`) after a write that may have
    /// queued a mail.
    pub mail_wake: Arc<tokio::sync::Notify>,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> AppState {
        AppState(Arc::new(Shared {
            store,
            sessions: SessionCache::default(),
            config,
            mail_wake: Arc::new(tokio::sync::Notify::new()),
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The whole API as a router.
pub fn app(state: AppState) -> Router {
    http::router(state.config.body_limit)
        .layer(CatchPanicLayer::custom(|_| {
            AppError::Internal("a handler panicked".into()).into_response()
        }))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
