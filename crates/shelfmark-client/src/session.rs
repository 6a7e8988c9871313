//! Which server and account the app signs in to, remembered between runs: `session.json`
//! beside the cache names them (nothing secret), the token itself goes to the OS keyring or a
//! private file (`crate::credentials`). The desktop app's
//! [`Desk`](crate::desk::Desk) picks it up at start and forgets it on signing out. The server
//! and the library's CA file are also kept apart (`server.json`), past signing out, for the
//! sign-in screen to offer again.

use std::path::{Path, PathBuf};

use crate::credentials::{Backend, CredentialError, Kept, TokenStore};
use serde::{Deserialize, Serialize};
use shelfmark_core::wire::Role;

/// The account the app last signed in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server_url: String,
    pub user: String,
    /// What the user may do (the server checks it again on every request).
    #[serde(default = "librarian")]
    pub role: Role,
    /// The library's own certificate authority (a PEM file), trusted besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

/// What the sign-in screen offers again: the server last signed in to and the CA file it
/// took (kept when signing out; nothing secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServerSettings {
    pub server_url: Option<String>,
    pub ca_cert: Option<String>,
}

impl ServerSettings {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("server.json")
    }

    /// The settings of the last sign-in (none yet, or an unreadable file: empty).
    pub fn load(data_dir: &Path) -> ServerSettings {
        std::fs::read_to_string(Self::path(data_dir))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(data_dir), json)
    }
}

fn librarian() -> Role {
    Role::Librarian
}

impl Session {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("session.json")
    }

    /// The remembered session, if any (an unreadable file counts as none).
    fn load(data_dir: &Path) -> Option<Session> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(data_dir), json)
    }

    fn forget(data_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(Self::path(data_dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Where this session's token is kept.
    fn tokens(&self, data_dir: &Path) -> Result<TokenStore, CredentialError> {
        Ok(TokenStore::new(
            &self.server_url,
            &self.user,
            data_dir.join("token"),
            Backend::from_env()?,
        ))
    }
}

/// Remembers a session that just signed in, and its token (a failure is logged: the next
/// start asks to sign in again).
pub fn remember(data_dir: &Path, session: &Session, token: &str) {
    let settings = ServerSettings {
        server_url: Some(session.server_url.clone()),
        ca_cert: session.ca_cert.as_ref().map(|p| p.display().to_string()),
    };
    if let Err(e) = settings.save(data_dir) {
        tracing::warn!("cannot remember the server's address: {e}");
    }
    let tokens = session
        .save(data_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| session.tokens(data_dir).map_err(|e| e.to_string()));
    match tokens {
        Ok(tokens) => keep_token(&tokens, token),
        Err(e) => tracing::warn!("cannot remember the session: {e}"),
    }
}

/// The remembered session and its token, if both are there.
pub fn remembered(data_dir: &Path) -> Option<(Session, String)> {
    let session = Session::load(data_dir)?;
    let token = session.tokens(data_dir).ok()?.load().ok()??;
    Some((session, token))
}

/// Forgets the remembered session and its token (signing out).
pub fn forget(data_dir: &Path) {
    if let Some(tokens) = Session::load(data_dir).and_then(|s| s.tokens(data_dir).ok())
        && let Err(e) = tokens.forget()
    {
        tracing::warn!("cannot forget the session token: {e}");
    }
    if let Err(e) = Session::forget(data_dir) {
        tracing::warn!("cannot forget the session: {e}");
    }
}

/// Keeps the token, saying once where when it lands in a file.
fn keep_token(tokens: &TokenStore, token: &str) {
    match tokens.save(token) {
        Ok(Kept::Keyring) => {}
        Ok(Kept::File { path, first_time }) => {
            if first_time {
                tracing::warn!(
                    "no keyring service on this machine: the session token is kept in {}, \
                     readable only by you",
                    path.display()
                );
            }
        }
        Err(e) => {
            tracing::warn!("cannot keep the session token ({e}); you will sign in again next time")
        }
    }
}
