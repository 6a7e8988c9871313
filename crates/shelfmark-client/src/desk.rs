//! The desktop app's engine: the shared cache, the signed-in client, the remembered session and
//! the background sync loop, in one [`Desk`]. It signs in (from the sign-in screen, the
//! environment, or the remembered session), syncs (pull the change feed, push the outbox) at
//! once, every `sync_interval`, whenever asked and after each edit, signs in again when the
//! server says the session expired, and backs off while the server is unreachable. It knows no
//! window: it reports what [`Happened`] to a callback the shell maps to its events. What each
//! step means for the status bar is `shelfmark_core::sync_status`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use shelfmark_core::arrivals::{Arrival, Arrivals, Notice, arrival_notice, conflict_notice};
use shelfmark_core::sync_status::{Connection, SyncStatus};
use shelfmark_core::wire::UserInfo;
use tokio::sync::Notify;

use crate::session::{self, ServerSettings, Session};
use crate::{Client, ClientError, SharedStore, SignedOut, SyncEvent, backoff};

/// Where the app signs in and how often it syncs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The library server the environment names (`SHELFMARK_SERVER_URL`).
    pub server_url: Option<String>,
    /// The account the environment names (`SHELFMARK_USERNAME` / `SHELFMARK_PASSWORD`).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The library's CA file the environment names (`SHELFMARK_CA_CERT`), for its account.
    pub ca_cert: Option<PathBuf>,
    /// Time between background syncs.
    pub sync_interval: Duration,
}

/// What the desk tells whoever shows it.
#[derive(Debug, Clone)]
pub enum Happened {
    /// The status changed (for the status bar).
    Status(SyncStatus),
    /// A step of the running sync (for a progress bar).
    Step(SyncEvent),
    /// News worth a desktop notification (escalations a sync brought, conflicts it met).
    Notice(Notice),
}

type Report = Arc<dyn Fn(Happened) + Send + Sync>;

/// Shared between the loop and the commands (cheap to clone: every part is shared).
#[derive(Clone)]
pub struct Desk {
    store: SharedStore,
    settings: Settings,
    data_dir: PathBuf,
    client: Arc<tokio::sync::Mutex<Option<Client>>>,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
    /// Where the news goes, once the loop runs.
    report: Arc<OnceLock<Report>>,
    /// Set once the cache's counts have been read into `status` the first time.
    counted: Arc<tokio::sync::OnceCell<()>>,
    /// The open escalations already seen, to tell which ones a sync brought.
    arrivals: Arc<Mutex<Arrivals>>,
}

impl Desk {
    /// A desk for the cache `store`, remembering the session in `data_dir`. The cache's counts
    /// are read later, off the caller's thread ([`Desk::counted_status`]): on a large cache
    /// that is not yet in memory they take a while, and the window is opening meanwhile.
    pub fn new(store: SharedStore, settings: Settings, data_dir: PathBuf) -> Desk {
        let known = store
            .lock()
            .ok()
            .and_then(|s| s.open_escalations_if_synced().ok().flatten());
        Desk {
            status: Arc::new(Mutex::new(SyncStatus::new(settings.server_url.clone()))),
            store,
            settings,
            data_dir,
            client: Arc::new(tokio::sync::Mutex::new(None)),
            wake: Arc::new(Notify::new()),
            report: Arc::new(OnceLock::new()),
            counted: Arc::new(tokio::sync::OnceCell::new()),
            arrivals: Arc::new(Mutex::new(Arrivals::new(known))),
        }
    }

    /// The cache.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The status with the cache's counts: the first call reads them (on a blocking thread),
    /// later calls wait for that read if it is still running.
    pub async fn counted_status(&self) -> SyncStatus {
        self.counted
            .get_or_init(|| async {
                let desk = self.clone();
                let _ = tokio::task::spawn_blocking(move || desk.refresh_counts()).await;
            })
            .await;
        self.status()
    }

    pub fn status(&self) -> SyncStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The signed-in client, for the online-only actions (the manager's escalation actions).
    pub async fn client(&self) -> Option<Client> {
        self.client.lock().await.clone()
    }

    /// Asks the loop to sync now.
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// An edit was made in the cache: refresh the counts, report the status, and push soon.
    pub fn edited(&self) {
        self.refresh_counts();
        self.set(|_| {});
        self.sync_now();
    }

    /// Re-reads the cache's counts (after a sync, or an edit).
    fn refresh_counts(&self) {
        let counts = self.store.lock().ok().and_then(|s| s.sync_counts().ok());
        if let (Some(c), Ok(mut status)) = (counts, self.status.lock()) {
            status.counted(c);
        }
    }

    fn tell(&self, happened: Happened) {
        if let Some(report) = self.report.get() {
            report(happened);
        }
    }

    /// Changes the status and reports it.
    fn set(&self, f: impl FnOnce(&mut SyncStatus)) {
        let snapshot = {
            let mut guard = match self.status.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard);
            guard.clone()
        };
        self.tell(Happened::Status(snapshot));
    }

    async fn wait(&self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.wake.notified() => {}
        }
    }

    /// The server and CA file the sign-in screen offers: the last sign-in's, else the
    /// environment's.
    pub async fn server_settings(&self) -> ServerSettings {
        let dir = self.data_dir.clone();
        let kept = tokio::task::spawn_blocking(move || ServerSettings::load(&dir))
            .await
            .unwrap_or_default();
        ServerSettings {
            server_url: kept.server_url.or_else(|| self.settings.server_url.clone()),
            ca_cert: kept.ca_cert.or_else(|| {
                let ca = self.settings.ca_cert.as_ref()?;
                Some(ca.display().to_string())
            }),
        }
    }

    /// Signs in with a user name and password (the sign-in screen, or the environment),
    /// trusting the library's CA file `ca_cert` besides the system's, and remembers the
    /// session; the loop then syncs with it.
    pub async fn sign_in(
        &self,
        server_url: &str,
        ca_cert: Option<&std::path::Path>,
        user: &str,
        password: &str,
    ) -> Result<UserInfo, ClientError> {
        // Without a scheme, https (shelfmark_core::address).
        let address = shelfmark_core::address::server_address(server_url)
            .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        let mut client = Client::trusting(&address.url, ca_cert)?;
        let info = client.sign_in(user.trim(), password).await?;
        let session = Session {
            server_url: address.url,
            user: info.name.clone(),
            role: info.role,
            ca_cert: ca_cert.map(std::path::Path::to_owned),
        };
        if let Some(token) = client.token() {
            let (dir, token, session) = (self.data_dir.clone(), token.to_owned(), session.clone());
            let _ = tokio::task::spawn_blocking(move || session::remember(&dir, &session, &token))
                .await;
        }
        *self.client.lock().await = Some(client);
        self.answer_for(Some(&info.name));
        self.set(|s| s.signed_in(session.server_url, info.name.clone(), info.role));
        self.sync_now();
        Ok(info)
    }

    /// Ends the session on the server and forgets it and its token here (whatever the
    /// server answered, or if it could not be reached); the cache and its pending edits stay.
    pub async fn sign_out(&self) -> SignedOut {
        let client = self.client.lock().await.take();
        let outcome = match client {
            Some(mut client) => client.sign_out().await,
            None => SignedOut::AlreadyEnded,
        };
        let dir = self.data_dir.clone();
        let _ = tokio::task::spawn_blocking(move || session::forget(&dir)).await;
        self.answer_for(None);
        self.set(SyncStatus::signed_out);
        outcome
    }

    /// The cache answers for `user` from now on (their edits, conflicts, counts: a desk is
    /// shared by several staff), and the status says so.
    fn answer_for(&self, user: Option<&str>) {
        if let Ok(mut store) = self.store.lock() {
            store.set_user(user);
        }
        self.refresh_counts();
    }

    /// The loop, reporting to `report`: signs in from the environment or the remembered
    /// session, then syncs at once, every `sync_interval`, on request, and backs off while the
    /// server is unreachable. Never returns.
    pub async fn run(self, report: impl Fn(Happened) + Send + Sync + 'static) {
        let _ = self.report.set(Arc::new(report));
        self.counted_status().await;
        self.resume().await;
        let interval = self.settings.sync_interval;
        let mut failures = 0u32;
        loop {
            let client = self.client.lock().await.clone();
            let Some(client) = client else {
                // Signed out, or the server was unreachable at sign-in: wait, then try again.
                self.wait(interval.min(Duration::from_secs(5))).await;
                let unreachable = self.status().connection == Connection::Offline;
                if unreachable && self.client.lock().await.is_none() {
                    self.sign_in_from_env().await;
                }
                continue;
            };
            let mut held_off = false;
            let delay = match self.sync(&client).await {
                Ok(()) => {
                    failures = 0;
                    interval
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
                    held_off = e.retry_after().is_some();
                    backoff::after_failure(failures, e.retry_after(), interval, rand::random())
                }
                Err(_) => interval,
            };
            if held_off {
                // The server asked for the wait (`Retry-After`): an edit made meanwhile is
                // pushed after it, not at once.
                tokio::time::sleep(delay).await;
            } else {
                self.wait(delay).await;
            }
        }
    }

    /// Signs in from the environment, else picks up the remembered session and its token.
    async fn resume(&self) {
        if self.settings.server_url.is_some() {
            self.sign_in_from_env().await;
            return;
        }
        let dir = self.data_dir.clone();
        let remembered = tokio::task::spawn_blocking(move || session::remembered(&dir))
            .await
            .ok()
            .flatten();
        let resumed = remembered.and_then(|(session, token)| {
            match Client::trusting(&session.server_url, session.ca_cert.as_deref()) {
                Ok(c) => Some((c.resuming(&token, &session.user), session)),
                Err(e) => {
                    tracing::warn!("cannot resume the session: {e}");
                    None
                }
            }
        });
        match resumed {
            Some((client, session)) => {
                *self.client.lock().await = Some(client);
                self.answer_for(Some(&session.user));
                self.set(|s| s.signed_in(session.server_url, session.user, session.role));
            }
            None => self.set(SyncStatus::signed_out),
        }
    }

    /// Signs in with the account the environment names; false when it names none or fails.
    async fn sign_in_from_env(&self) -> bool {
        let (Some(url), Some(user), Some(password)) = (
            &self.settings.server_url,
            &self.settings.username,
            &self.settings.password,
        ) else {
            return false;
        };
        let ca_cert = self.settings.ca_cert.clone();
        match self.sign_in(url, ca_cert.as_deref(), user, password).await {
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
            let desk = self.clone();
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    desk.tell(Happened::Step(event));
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
                if report.pull.changes > 0 {
                    self.announce_arrivals().await;
                }
                if let Some(notice) = conflict_notice(report.push.conflicts) {
                    self.tell(Happened::Notice(notice));
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

    /// After a sync that brought changes: one notice for the open escalations that were not
    /// there before (one for several).
    async fn announce_arrivals(&self) {
        let store = self.store.clone();
        let rows = tokio::task::spawn_blocking(move || store.lock().ok()?.escalations().ok());
        let Some(rows) = rows.await.ok().flatten() else {
            return;
        };
        let new = match self.arrivals.lock() {
            Ok(mut a) => a.arrived(rows.iter().map(|r| &r.escalation)),
            Err(poisoned) => poisoned
                .into_inner()
                .arrived(rows.iter().map(|r| &r.escalation)),
        };
        let named: Vec<Arrival<'_>> = rows
            .iter()
            .filter(|r| new.contains(&r.escalation.id))
            .map(|r| Arrival {
                patron: r.patron_name.as_deref(),
                book: r.book_title.as_deref(),
                branch: r.branch.as_deref(),
            })
            .collect();
        if let Some(notice) = arrival_notice(&named) {
            tracing::info!(count = named.len(), "new escalations: notifying");
            self.tell(Happened::Notice(notice));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shelfmark_store::Store;

    fn desk(data_dir: &std::path::Path) -> Desk {
        let store = Store::open_in_memory().expect("a cache");
        let settings = Settings {
            server_url: None,
            username: None,
            password: None,
            ca_cert: None,
            sync_interval: Duration::from_secs(30),
        };
        Desk::new(Arc::new(Mutex::new(store)), settings, data_dir.to_owned())
    }

    async fn next_status(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Happened>) -> SyncStatus {
        loop {
            let happened = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("the desk reports in time")
                .expect("the desk runs");
            if let Happened::Status(status) = happened {
                return status;
            }
        }
    }

    #[tokio::test]
    async fn without_an_account_or_a_remembered_session_the_desk_reports_signed_out() {
        let dir = tempfile::tempdir().expect("a folder");
        let desk = desk(dir.path());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let running = tokio::spawn(desk.clone().run(move |h| drop(tx.send(h))));
        let status = next_status(&mut rx).await;
        assert_eq!(status.connection, Connection::SignedOut);
        assert_eq!(desk.client().await.map(|_| ()), None);
        running.abort();
    }

    #[tokio::test]
    async fn an_edit_reports_the_status_again_with_the_cache_counts() {
        let dir = tempfile::tempdir().expect("a folder");
        let desk = desk(dir.path());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let running = tokio::spawn(desk.clone().run(move |h| drop(tx.send(h))));
        next_status(&mut rx).await;
        desk.edited();
        let status = next_status(&mut rx).await;
        assert_eq!(status.connection, Connection::SignedOut);
        assert_eq!(status.counts.pending_edits, 0);
        running.abort();
    }
}
