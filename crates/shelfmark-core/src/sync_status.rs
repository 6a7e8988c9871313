//! What the desktop's status bar says ([`SyncStatus`]), and how each step of signing in and
//! syncing changes it. The shell's sync loop calls one method per step and sends the result to
//! the window; the rules of what each step means for the bar live here.

use serde::Serialize;

use crate::wire::Role;

/// Whether the app talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Nobody is signed in: the window shows the sign-in screen.
    SignedOut,
    Connecting,
    Online,
    Offline,
}

/// What the status bar shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncStatus {
    pub connection: Connection,
    pub server: Option<String>,
    pub user: Option<String>,
    /// The signed-in user's role: managers act on escalations, librarians only read them.
    pub role: Option<Role>,
    pub syncing: bool,
    pub last_error: Option<String>,
    /// The outbox by state and the feed position, as the cache last counted them (the
    /// window sees their fields beside the others).
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub counts: SyncCounts,
}

/// What the status bar counts in the cache: the outbox by state and the feed position (the
/// cache reads them in one cheap query, `shelfmark_store::Store::sync_counts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncCounts {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending_edits: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub failed_edits: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub conflicts: i64,
    /// Holds the server could not fill, not yet dismissed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub lost_holds: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_seq: i64,
    /// RFC 3339 time of the last successful sync.
    pub last_sync: Option<String>,
}

impl SyncStatus {
    /// At start: connecting to `server` (if one is configured), nothing counted yet.
    pub fn new(server: Option<String>) -> SyncStatus {
        SyncStatus {
            connection: Connection::Connecting,
            server,
            user: None,
            role: None,
            syncing: false,
            last_error: None,
            counts: SyncCounts::default(),
        }
    }

    /// Signed in (or a remembered session picked up): connecting until the first sync answers.
    pub fn signed_in(&mut self, server: String, user: String, role: Role) {
        self.connection = Connection::Connecting;
        self.server = Some(server);
        self.user = Some(user);
        self.role = Some(role);
        self.last_error = None;
    }

    /// Signed out, or no session to pick up: the sign-in screen.
    pub fn signed_out(&mut self) {
        self.connection = Connection::SignedOut;
        self.user = None;
        self.role = None;
        self.last_error = None;
    }

    /// Signing in to `server` failed: offline when it may work later, else signed out.
    pub fn sign_in_failed(&mut self, server: String, message: String, offline: bool) {
        self.connection = if offline {
            Connection::Offline
        } else {
            Connection::SignedOut
        };
        self.server = Some(server);
        self.last_error = Some(message);
    }

    /// The server refused the session and it could not be renewed.
    pub fn session_expired(&mut self) {
        self.connection = Connection::SignedOut;
        self.last_error = Some(
            "your session has expired: sign in again (nothing waiting to sync is lost)".into(),
        );
    }

    pub fn sync_started(&mut self) {
        self.syncing = true;
    }

    pub fn synced(&mut self) {
        self.connection = Connection::Online;
        self.syncing = false;
        self.last_error = None;
    }

    /// A sync failed: offline when the server could not be reached (or asked to wait).
    pub fn sync_failed(&mut self, message: String, offline: bool) {
        if offline {
            self.connection = Connection::Offline;
        }
        self.syncing = false;
        self.last_error = Some(message);
    }

    /// The cache's counts as just read; a last sync time is kept when the cache has none.
    pub fn counted(&mut self, counts: SyncCounts) {
        let last_sync = counts.last_sync.or(self.counts.last_sync.take());
        self.counts = SyncCounts {
            last_sync,
            ..counts
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_in_connects_and_a_sync_brings_the_bar_online_until_the_server_is_gone() {
        let mut s = SyncStatus::new(None);
        s.signed_in("https://lib".into(), "ann".into(), Role::Manager);
        assert_eq!(
            (s.connection, s.user.as_deref(), s.role),
            (Connection::Connecting, Some("ann"), Some(Role::Manager))
        );
        s.sync_started();
        assert!(s.syncing);
        s.synced();
        assert_eq!((s.connection, s.syncing), (Connection::Online, false));
        s.sync_started();
        s.sync_failed("refused".into(), false);
        assert_eq!(
            s.connection,
            Connection::Online,
            "a refusal is not being offline"
        );
        assert_eq!(s.last_error.as_deref(), Some("refused"));
        s.sync_failed("no route".into(), true);
        assert_eq!((s.connection, s.syncing), (Connection::Offline, false));
        s.synced();
        assert_eq!(s.last_error, None, "a good sync clears the error");
    }

    #[test]
    fn signing_out_or_an_expired_session_shows_the_sign_in_screen() {
        let mut s = SyncStatus::new(Some("https://lib".into()));
        s.signed_in("https://lib".into(), "ann".into(), Role::Librarian);
        s.session_expired();
        assert_eq!(s.connection, Connection::SignedOut);
        assert!(
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("nothing waiting to sync is lost"))
        );
        s.signed_out();
        assert_eq!((s.user, s.role, s.last_error), (None, None, None));
        assert_eq!(
            s.server.as_deref(),
            Some("https://lib"),
            "the server is remembered"
        );
    }

    #[test]
    fn a_failed_sign_in_is_offline_only_when_it_may_work_later() {
        let mut s = SyncStatus::new(None);
        s.sign_in_failed("https://lib".into(), "unreachable".into(), true);
        assert_eq!(
            (s.connection, s.server.as_deref()),
            (Connection::Offline, Some("https://lib"))
        );
        s.sign_in_failed("https://lib".into(), "wrong password".into(), false);
        assert_eq!(s.connection, Connection::SignedOut);
        assert_eq!(s.last_error.as_deref(), Some("wrong password"));
    }

    #[test]
    fn counts_replace_the_old_ones_but_a_missing_last_sync_keeps_the_known_one() {
        let mut s = SyncStatus::new(None);
        let at = Some("2026-12-01T10:00:00Z".to_owned());
        s.counted(SyncCounts {
            pending_edits: 2,
            failed_edits: 1,
            conflicts: 3,
            lost_holds: 0,
            last_seq: 9,
            last_sync: at.clone(),
        });
        assert_eq!(
            (
                s.counts.pending_edits,
                s.counts.failed_edits,
                s.counts.conflicts,
                s.counts.last_seq
            ),
            (2, 1, 3, 9)
        );
        s.counted(SyncCounts {
            last_seq: 10,
            ..SyncCounts::default()
        });
        assert_eq!(
            (
                s.counts.pending_edits,
                s.counts.last_seq,
                s.counts.last_sync
            ),
            (0, 10, at)
        );
    }
}
