//! The background sync loop and the session: signs in (from the sign-in screen, the
//! environment, or the remembered session), syncs (pull the change feed, push the outbox) at
//! once, every `sync_interval`, and whenever the UI asks, backs off while the server is
//! unreachable, and tells the window how things stand (`sync-status`) and how far each sync has
//! come (the channel `watch_sync` gave). What each step means for the status bar is
//! `shelfmark_core::sync_status`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use shelfmark_client::{Client, ClientError, SharedStore, SyncEvent, backoff};
use shelfmark_core::arrivals::conflict_notice;
use shelfmark_core::sync_status::{Connection, Counts, SyncStatus};
use shelfmark_core::wire::UserInfo;
use tauri::AppHandle;
use tauri::ipc::Channel;
use tokio::sync::Notify;

use crate::config::Config;
use crate::ipc::SyncStatusChanged;
use crate::session::{self, Session};

/// Shared between the loop and the commands.
#[derive(Clone)]
pub(crate) struct Engine {
    pub(crate) store: SharedStore,
    config: Config,
    data_dir: PathBuf,
    client: Arc<tokio::sync::Mutex<Option<Client>>>,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
    /// The app, once the loop runs (to emit events from commands).
    app: Arc<OnceLock<AppHandle>>,
    /// Set once the cache's counts have been read into `status` the first time.
    counted: Arc<tokio::sync::OnceCell<()>>,
    /// The window's channel for the steps of each sync (`watch_sync`).
    progress: Arc<Mutex<Option<Channel<SyncEvent>>>>,
}

impl Engine {
    pub(crate) fn new(store: SharedStore, config: Config, data_dir: PathBuf) -> Engine {
        let status = SyncStatus::new(config.server_url.clone());
        let engine = Engine {
            store,
            config,
            data_dir,
            client: Arc::new(tokio::sync::Mutex::new(None)),
            status: Arc::new(Mutex::new(status)),
            wake: Arc::new(Notify::new()),
            app: Arc::new(OnceLock::new()),
            counted: Arc::new(tokio::sync::OnceCell::new()),
            progress: Arc::new(Mutex::new(None)),
        };
        // The counts are read later, off the UI thread (`counted_status`): on a large cache
        // that is not yet in memory they take a while, and the window is opening meanwhile.
        engine
    }

    /// The status with the cache's counts: the first call reads them (on a blocking thread),
    /// later calls wait for that read if it is still running.
    pub(crate) async fn counted_status(&self) -> SyncStatus {
        self.counted
            .get_or_init(|| async {
                let engine = self.clone();
                let _ = tokio::task::spawn_blocking(move || engine.refresh_counts()).await;
            })
            .await;
        self.status()
    }

    pub(crate) fn status(&self) -> SyncStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The signed-in client, for the online-only actions (the manager's escalation actions).
    pub(crate) async fn client(&self) -> Option<Client> {
        self.client.lock().await.clone()
    }

    /// Asks the loop to sync now.
    pub(crate) fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// An edit was made in the window: refresh the counts, tell the window, and push soon.
    pub(crate) fn edited(&self) {
        self.refresh_counts();
        self.set(|_| {});
        self.sync_now();
    }

    /// Re-reads the cache's counts (after a sync, or an edit made in the window).
    fn refresh_counts(&self) {
        let counts = self.store.lock().ok().and_then(|s| s.sync_counts().ok());
        if let (Some(c), Ok(mut status)) = (counts, self.status.lock()) {
            status.counted(Counts {
                pending_edits: c.pending_edits,
                failed_edits: c.failed_edits,
                conflicts: c.conflicts,
                last_seq: c.last_seq,
                last_sync: c.last_sync,
            });
        }
    }

    /// Sends the steps of every sync from now on to `channel`.
    pub(crate) fn watch(&self, channel: Channel<SyncEvent>) {
        if let Ok(mut progress) = self.progress.lock() {
            *progress = Some(channel);
        }
    }

    /// Changes the status and tells the window.
    fn set(&self, f: impl FnOnce(&mut SyncStatus)) {
        let snapshot = {
            let mut guard = match self.status.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard);
            guard.clone()
        };
        if let Some(app) = self.app.get() {
            SyncStatusChanged::emit(app, &snapshot);
        }
    }

    async fn wait(&self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.wake.notified() => {}
        }
    }

    /// Signs in with a user name and password (the sign-in screen, or the environment) and
    /// remembers the session; the loop then syncs with it.
    pub(crate) async fn sign_in(
        &self,
        server_url: &str,
        user: &str,
        password: &str,
    ) -> Result<UserInfo, ClientError> {
        let mut client = Client::new(server_url.trim())?;
        let info = client.sign_in(user.trim(), password).await?;
        let session = Session {
            server_url: server_url.trim().to_owned(),
            user: info.name.clone(),
            role: info.role,
        };
        if let Some(token) = client.token() {
            let (dir, token, session) = (self.data_dir.clone(), token.to_owned(), session.clone());
            let _ = tokio::task::spawn_blocking(move || session::remember(&dir, &session, &token))
                .await;
        }
        *self.client.lock().await = Some(client);
        self.set(|s| s.signed_in(session.server_url, info.name.clone(), info.role));
        self.sync_now();
        Ok(info)
    }

    /// Forgets the session and its token; the cache and its pending edits stay.
    pub(crate) async fn sign_out(&self) {
        *self.client.lock().await = None;
        let dir = self.data_dir.clone();
        let _ = tokio::task::spawn_blocking(move || session::forget(&dir)).await;
        self.set(SyncStatus::signed_out);
    }

    /// The loop: signs in from the environment or the remembered session, then syncs at once,
    /// every `sync_interval`, on request, and backs off while the server is unreachable.
    pub(crate) async fn run(self, app: AppHandle) {
        let _ = self.app.set(app);
        self.counted_status().await;
        self.resume().await;
        let mut failures = 0u32;
        loop {
            let client = self.client.lock().await.clone();
            let Some(client) = client else {
                // Signed out, or the server was unreachable at sign-in: wait, then try again.
                self.wait(self.config.sync_interval.min(Duration::from_secs(5)))
                    .await;
                let unreachable = self.status().connection == Connection::Offline;
                if unreachable && self.client.lock().await.is_none() {
                    self.sign_in_from_env().await;
                }
                continue;
            };
            let delay = match self.sync(&client).await {
                Ok(()) => {
                    failures = 0;
                    self.config.sync_interval
                }
                Err(ClientError::Unauthorized(_)) => {
                    // The session expired: sign in again (pending edits stay in the cache).
                    if !self.sign_in_from_env().await {
                        *self.client.lock().await = None;
                        self.set(SyncStatus::session_expired);
                    }
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

    /// Signs in from the environment, else picks up the remembered session and its token.
    async fn resume(&self) {
        if self.config.server_url.is_some() {
            self.sign_in_from_env().await;
            return;
        }
        let dir = self.data_dir.clone();
        let remembered = tokio::task::spawn_blocking(move || session::remembered(&dir))
            .await
            .ok()
            .flatten();
        let resumed = remembered.and_then(|(session, token)| {
            Client::with_token(&session.server_url, &token)
                .ok()
                .map(|c| (c, session))
        });
        match resumed {
            Some((client, session)) => {
                *self.client.lock().await = Some(client);
                self.set(|s| s.signed_in(session.server_url, session.user, session.role));
            }
            None => self.set(SyncStatus::signed_out),
        }
    }

    /// Signs in with the account the environment names; false when it names none or fails.
    async fn sign_in_from_env(&self) -> bool {
        let (Some(url), Some(user), Some(password)) = (
            &self.config.server_url,
            &self.config.username,
            &self.config.password,
        ) else {
            return false;
        };
        match self.sign_in(url, user, password).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("sign-in failed: {e}");
                self.set(|s| s.sign_in_failed(url.clone(), e.to_string(), e.is_retryable()));
                false
            }
        }
    }

    async fn sync(&self, client: &Client) -> Result<(), ClientError> {
        self.set(SyncStatus::sync_started);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SyncEvent>();
        let forward = {
            let progress = self.progress.clone();
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    let channel = progress.lock().ok().and_then(|p| p.clone());
                    if let Some(channel) = channel
                        && let Err(e) = channel.send(event)
                    {
                        tracing::warn!("cannot send a sync step to the window: {e}");
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
                if report.pull.changes > 0
                    && let Some(app) = self.app.get()
                {
                    crate::escalations::announce_arrivals(app, &self.store).await;
                }
                if let (Some(app), Some(notice)) =
                    (self.app.get(), conflict_notice(report.push.conflicts))
                {
                    crate::notify(app, notice);
                }
                self.set(SyncStatus::synced);
            }
            Err(e) => {
                tracing::warn!("sync failed: {e}");
                self.set(|s| s.sync_failed(e.to_string(), e.is_retryable()));
            }
        }
        result.map(|_| ())
    }
}
