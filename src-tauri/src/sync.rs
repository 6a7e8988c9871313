//! The background sync loop: signs in, pulls the change feed into the cache now, every
//! `sync_interval`, and whenever the UI asks, and tells the window how things stand through
//! the `sync-status` and `sync-event` events.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use shelfmark_client::{Client, ClientError, SharedStore, SyncEvent};
use tauri::{AppHandle, Emitter as _};
use tokio::sync::Notify;

use crate::config::Config;

/// Whether the app talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Connection {
    /// No server configured: the cache is all there is.
    NotConfigured,
    Connecting,
    Online,
    Offline,
}

/// What the status bar shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SyncStatus {
    pub connection: Connection,
    pub server: Option<String>,
    pub user: Option<String>,
    pub syncing: bool,
    /// RFC 3339 time of the last successful sync.
    pub last_sync: Option<String>,
    pub last_error: Option<String>,
    pub last_seq: i64,
}

/// Shared between the loop and the commands.
#[derive(Clone)]
pub(crate) struct Engine {
    pub(crate) store: SharedStore,
    config: Config,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
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
        };
        Engine {
            store,
            config,
            status: Arc::new(Mutex::new(status)),
            wake: Arc::new(Notify::new()),
        }
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

    async fn wait(&self) {
        tokio::select! {
            _ = tokio::time::sleep(self.config.sync_interval) => {}
            _ = self.wake.notified() => {}
        }
    }

    /// The loop; returns only when there is no server to talk to.
    pub(crate) async fn run(self, app: AppHandle) {
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
        loop {
            if !signed_in {
                signed_in = self.sign_in(&app, &mut client).await;
            }
            if signed_in {
                // An expired session: sign in again on the next round.
                if let Err(ClientError::Unauthorized(_)) = self.pull(&app, &client).await {
                    signed_in = false;
                }
            }
            self.wait().await;
        }
    }

    async fn sign_in(&self, app: &AppHandle, client: &mut Client) -> bool {
        let (Some(user), Some(password)) = (&self.config.username, &self.config.password) else {
            self.update(app, |s| {
                s.connection = Connection::Offline;
                s.last_error = Some("no account configured (SHELFMARK_USERNAME)".into());
            });
            return false;
        };
        match client.sign_in(user, password).await {
            Ok(info) => {
                self.update(app, |s| {
                    s.user = Some(info.name);
                    s.last_error = None;
                });
                true
            }
            Err(e) => {
                tracing::warn!("sign-in failed: {e}");
                self.update(app, |s| {
                    s.connection = Connection::Offline;
                    s.last_error = Some(e.to_string());
                });
                false
            }
        }
    }

    async fn pull(&self, app: &AppHandle, client: &Client) -> Result<(), ClientError> {
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
        let result = client.pull(&self.store, &tx).await;
        drop(tx);
        let _ = forward.await;
        match &result {
            Ok(report) => {
                tracing::info!(pages = report.pages, changes = report.changes, "synced");
                let seq = report.last_seq;
                self.update(app, |s| {
                    s.connection = Connection::Online;
                    s.syncing = false;
                    s.last_sync = Some(chrono_now());
                    s.last_error = None;
                    s.last_seq = seq;
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

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
