//! The background sync loop: signs in, syncs (pull the change feed, push the outbox) at once,
//! every `sync_interval`, and whenever the UI asks, backing off when the server is unreachable,
//! and tells the window how things stand through the `sync-status` and `sync-event` events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use shelfmark_client::{Client, ClientError, SharedStore, SyncEvent, backoff};
use tauri::{AppHandle, Emitter as _};
use tokio::sync::Notify;

use crate::config::Config;

/// Whether the app talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Connection {
    /// No server configured: the cache is all there is.
    NotConfigured,
    Connecting,
    Online,
    Offline,
}

/// What the status bar shows.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub(crate) struct SyncStatus {
    connection: Connection,
    server: Option<String>,
    user: Option<String>,
    syncing: bool,
    /// RFC 3339 time of the last successful sync.
    last_sync: Option<String>,
    last_error: Option<String>,
    #[ts(type = "number")]
    last_seq: i64,
    /// Edits waiting for the server, refused by it, and waiting for the librarian.
    #[ts(type = "number")]
    pending_edits: i64,
    #[ts(type = "number")]
    failed_edits: i64,
    #[ts(type = "number")]
    conflicts: i64,
}

/// Shared between the loop and the commands.
#[derive(Clone)]
pub(crate) struct Engine {
    pub(crate) store: SharedStore,
    config: Config,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
    /// The app, once the loop runs (to emit events from commands).
    app: Arc<std::sync::OnceLock<AppHandle>>,
}

impl Engine {
    pub(crate) fn new(store: SharedStore, config: Config) -> Engine {
        let status = SyncStatus {
            connection: if config.server_url.is_some() {
                Connection::Connecting
            } else {
                Connection::NotConfigured
            },
            server: config.server_url.clone(),
            user: None,
            syncing: false,
            last_sync: None,
            last_error: None,
            last_seq: 0,
            pending_edits: 0,
            failed_edits: 0,
            conflicts: 0,
        };
        let engine = Engine {
            store,
            config,
            status: Arc::new(Mutex::new(status)),
            wake: Arc::new(Notify::new()),
            app: Arc::new(std::sync::OnceLock::new()),
        };
        engine.refresh_counts();
        engine
    }

    pub(crate) fn status(&self) -> SyncStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Asks the loop to sync now.
    pub(crate) fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// An edit was made in the window: refresh the counts, tell the window, and push soon.
    pub(crate) fn edited(&self) {
        self.refresh_counts();
        if let Some(app) = self.app.get() {
            let snapshot = self.status();
            if let Err(e) = app.emit("sync-status", snapshot) {
                tracing::warn!("cannot tell the window the sync status: {e}");
            }
        }
        self.sync_now();
    }

    /// Re-reads the cache's counts (after a sync, or an edit made in the window).
    pub(crate) fn refresh_counts(&self) {
        let counts = self.store.lock().ok().and_then(|s| s.status().ok());
        if let (Some(c), Ok(mut status)) = (counts, self.status.lock()) {
            status.pending_edits = c.pending_edits;
            status.failed_edits = c.failed_edits;
            status.conflicts = c.conflicts;
            status.last_seq = c.last_seq;
            status.last_sync = c.last_sync.or(status.last_sync.take());
        }
    }

    fn update(&self, app: &AppHandle, f: impl FnOnce(&mut SyncStatus)) {
        let snapshot = {
            let mut guard = match self.status.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard);
            guard.clone()
        };
        if let Err(e) = app.emit("sync-status", snapshot) {
            tracing::warn!("cannot tell the window the sync status: {e}");
        }
    }

    async fn wait(&self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.wake.notified() => {}
        }
    }

    /// The loop; returns only when there is no server to talk to.
    pub(crate) async fn run(self, app: AppHandle) {
        let _ = self.app.set(app.clone());
        let Some(url) = self.config.server_url.clone() else {
            self.update(&app, |s| s.connection = Connection::NotConfigured);
            return;
        };
        let mut client = match Client::new(&url) {
            Ok(c) => c,
            Err(e) => {
                self.update(&app, |s| {
                    s.connection = Connection::NotConfigured;
                    s.last_error = Some(e.to_string());
                });
                return;
            }
        };
        let mut signed_in = false;
        let mut failures = 0u32;
        loop {
            let result = if signed_in {
                self.sync(&app, &client).await
            } else {
                match self.sign_in(&app, &mut client).await {
                    Ok(()) => {
                        signed_in = true;
                        self.sync(&app, &client).await
                    }
                    Err(e) => Err(e),
                }
            };
            let delay = match result {
                Ok(()) => {
                    failures = 0;
                    self.config.sync_interval
                }
                // An expired session: sign in again at once.
                Err(ClientError::Unauthorized(_)) if signed_in => {
                    signed_in = false;
                    continue;
                }
                Err(e) if e.is_retryable() => {
                    failures += 1;
                    backoff::delay(failures, e.retry_after(), rand::random::<f64>())
                        .min(self.config.sync_interval.max(backoff::BASE))
                }
                Err(_) => self.config.sync_interval,
            };
            self.wait(delay).await;
        }
    }

    async fn sign_in(&self, app: &AppHandle, client: &mut Client) -> Result<(), ClientError> {
        let (Some(user), Some(password)) = (&self.config.username, &self.config.password) else {
            self.update(app, |s| {
                s.connection = Connection::Offline;
                s.last_error = Some("no account configured (SHELFMARK_USERNAME)".into());
            });
            return Err(ClientError::NotSignedIn);
        };
        match client.sign_in(user, password).await {
            Ok(info) => {
                self.update(app, |s| {
                    s.user = Some(info.name);
                    s.last_error = None;
                });
                Ok(())
            }
            Err(e) => {
                tracing::warn!("sign-in failed: {e}");
                let message = e.to_string();
                self.update(app, |s| {
                    s.connection = Connection::Offline;
                    s.last_error = Some(message);
                });
                Err(e)
            }
        }
    }

    async fn sync(&self, app: &AppHandle, client: &Client) -> Result<(), ClientError> {
        self.update(app, |s| s.syncing = true);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SyncEvent>();
        let forward = {
            let app = app.clone();
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    if let Err(e) = app.emit("sync-event", &event) {
                        tracing::warn!("cannot forward a sync event: {e}");
                    }
                }
            })
        };
        let result = client.sync(&self.store, &tx).await;
        drop(tx);
        let _ = forward.await;
        self.refresh_counts();
        match &result {
            Ok(report) => {
                tracing::info!(
                    pages = report.pull.pages,
                    changes = report.pull.changes,
                    pushed = report.push.pushed,
                    conflicts = report.push.conflicts,
                    "synced"
                );
                self.update(app, |s| {
                    s.connection = Connection::Online;
                    s.syncing = false;
                    s.last_error = None;
                });
            }
            Err(e) => {
                tracing::warn!("sync failed: {e}");
                let offline = e.is_retryable();
                let message = e.to_string();
                self.update(app, |s| {
                    if offline {
                        s.connection = Connection::Offline;
                    }
                    s.syncing = false;
                    s.last_error = Some(message);
                });
            }
        }
        result.map(|_| ())
    }
}
