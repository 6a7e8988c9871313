//! What every handler shares: the store, the session cache and the settings, as
//! [`AppState`]. Its own module so that the HTTP layer and the crate root both use it while
//! it uses neither.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::SessionCache;
use crate::mail::compose::MailSettings;
use crate::records::Circulation;
use crate::store::Store;
use crate::store::ops::Rules;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted (413 above).
    pub body_limit: usize,
    /// How long a session token stays valid.
    pub token_ttl: Duration,
    /// Sender and manager addresses of the mails the server writes.
    pub mail: MailSettings,
    /// How long ready holds wait and loans last.
    pub circulation: Circulation,
    /// How often the server looks for ready holds past their pickup date.
    pub expiry_interval: Duration,
}

impl Config {
    /// What the store's operations need of these settings.
    pub fn rules(&self) -> Rules {
        Rules {
            mail: self.mail.clone(),
            circulation: self.circulation,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            body_limit: 1024 * 1024,
            token_ttl: Duration::from_secs(12 * 3600),
            mail: MailSettings::default(),
            circulation: Circulation::default(),
            expiry_interval: Duration::from_secs(30),
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
