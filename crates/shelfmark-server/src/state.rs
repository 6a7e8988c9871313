//! What every handler shares: the store, the settings and the semaphores, as
//! [`AppState`]. Its own module so that the HTTP layer and the crate root both use it while
//! it uses neither.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::mail::compose::MailSettings;
use crate::records::Circulation;
use crate::store::Store;
use crate::store::ops::Rules;
use crate::throttle::SignInThrottle;

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
    /// The certificate chain and key to serve HTTPS with; `None`: plain HTTP (loopback, or
    /// behind a TLS-terminating proxy).
    pub tls: Option<TlsFiles>,
    /// How long a client may take to send a request's head (a stalled client is closed); the
    /// same bound closes a kept-alive connection that sends nothing.
    pub header_read_timeout: Duration,
    /// How long a request may take from its head to its answer (body included).
    pub request_timeout: Duration,
    /// Requests served at once; beyond it the server answers `503 overloaded`.
    pub max_in_flight: usize,
    /// Password checks (argon2, 19 MiB each) run at once; more sign-ins wait their turn
    /// (default: the CPU's cores, at most 4).
    pub max_password_checks: usize,
}

/// PEM files of a server certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
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
            tls: None,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 512,
            // Argon2 is CPU-bound: more checks at once than cores buys nothing but memory.
            max_password_checks: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub config: Config,
    /// Failed sign-ins per name and address (429 after five in 15 minutes).
    pub throttle: SignInThrottle,
    /// Password checks running at once (`Config::max_password_checks`).
    pub password_checks: tokio::sync::Semaphore,
    /// Requests being served (`Config::max_in_flight`); none left: 503 overloaded.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Wakes the mail delivery task (`mail::deliver::spawn_delivery`) after a write that may have
    /// queued a mail.
    pub mail_wake: Arc<tokio::sync::Notify>,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> AppState {
        AppState(Arc::new(Shared {
            store,
            throttle: SignInThrottle::default(),
            password_checks: tokio::sync::Semaphore::new(config.max_password_checks.max(1)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
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
