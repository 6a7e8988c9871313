//! The cache a command works on and the session that goes with it: which server and user the
//! cache was signed in to (a small JSON file beside the cache), the token (the OS keyring, or a
//! private file beside the cache, see `shelfmark_client::credentials`), and signing in again
//! when the server says the token has expired, so that no command loses a pending edit to an
//! expired session.

use std::future::Future;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use shelfmark_client::credentials::{Backend, Kept, TokenStore};
use shelfmark_client::{Client, ClientError, SharedStore, SignedOut};
use shelfmark_core::wire::UserInfo;
use shelfmark_store::Store;

use crate::CliError;

/// The environment variable a password is read from instead of a prompt.
pub const PASSWORD_VAR: &str = "SHELFMARK_PASSWORD";

/// Where the cache lives, and the files kept beside it.
#[derive(Debug, Clone)]
pub struct Cache {
    path: PathBuf,
    /// The library's CA file given on the command line (`--ca-cert`), over the session's.
    ca_cert: Option<PathBuf>,
}

/// Which server and user a cache is signed in to (not secret: no token here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub user: String,
    /// The library's own certificate authority (a PEM file) the login trusted, trusted again
    /// by the commands after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

impl Cache {
    /// The cache at `path`, or at the platform's data directory
    /// (`~/.local/share/shelfmark/cache.db` on Linux) when none is given.
    pub fn new(path: Option<PathBuf>) -> Result<Cache, CliError> {
        let path = match path {
            Some(p) => p,
            None => dirs::data_dir()
                .map(|d| d.join("shelfmark").join("cache.db"))
                .ok_or_else(|| {
                    CliError::Usage("no data directory on this system: pass --cache PATH".into())
                })?,
        };
        Ok(Cache {
            path,
            ca_cert: None,
        })
    }

    /// This cache, its commands trusting the library's CA file `ca_cert` (`--ca-cert`) besides
    /// the system's certificate authorities; without one, the CA file the login took.
    pub fn trusting(mut self, ca_cert: Option<PathBuf>) -> Cache {
        self.ca_cert = ca_cert;
        self
    }

    /// The CA file a login with `--ca-cert` would keep.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// A client for `session`'s server, trusting its CA file.
    fn connect(&self, session: &Session) -> Result<Client, ClientError> {
        let ca_cert = self.ca_cert.as_deref().or(session.ca_cert.as_deref());
        Client::trusting(&session.server, ca_cert)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Opens (creating) the cache, answering for the user this cache is signed in as (their
    /// edits, conflicts and counts; a cache shared by several staff keeps each one's apart).
    pub fn open(&self) -> Result<Store, CliError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(CliError::io(dir))?;
        }
        let mut store = Store::open(&self.path)?;
        store.set_user(self.session()?.as_ref().map(|s| s.user.as_str()));
        Ok(store)
    }

    /// The cache behind a mutex, as the sync engine takes it.
    pub fn open_shared(&self) -> Result<SharedStore, CliError> {
        Ok(Arc::new(Mutex::new(self.open()?)))
    }

    fn session_file(&self) -> PathBuf {
        self.sibling(".session.json")
    }

    /// The session this cache was signed in to, if any.
    pub fn session(&self) -> Result<Option<Session>, CliError> {
        let path = self.session_file();
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::io(path)(e)),
        }
    }

    fn save_session(&self, session: &Session) -> Result<(), CliError> {
        let path = self.session_file();
        std::fs::write(&path, serde_json::to_vec_pretty(session)?).map_err(CliError::io(path))
    }

    fn forget_session(&self) -> Result<(), CliError> {
        let path = self.session_file();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CliError::io(path)(e)),
            _ => Ok(()),
        }
    }

    /// Where this session's token is kept.
    pub fn tokens(&self, session: &Session) -> Result<TokenStore, CliError> {
        Ok(TokenStore::new(
            &session.server,
            &session.user,
            self.sibling(".token"),
            Backend::from_env()?,
        ))
    }

    /// Signs in with `password` and keeps the session and its token.
    pub async fn login(&self, session: Session, password: &str) -> Result<UserInfo, CliError> {
        let mut client = self.connect(&session)?;
        let user = client.sign_in(&session.user, password).await?;
        self.keep(&session, &client)?;
        Ok(user)
    }

    /// Ends the session on the server (`DELETE /v1/sessions/current`) and forgets it and its
    /// token here, whatever the server answered or if it could not be reached; the cache and
    /// its pending edits stay.
    pub async fn logout(&self) -> Result<Option<(Session, SignedOut)>, CliError> {
        let Some(session) = self.session()? else {
            return Ok(None);
        };
        let tokens = self.tokens(&session)?;
        let outcome = match tokens.load()? {
            Some(token) => match self.connect(&session) {
                Ok(client) => client.resuming(&token, &session.user).sign_out().await,
                Err(e) => SignedOut::NotTold(e.to_string()),
            },
            None => SignedOut::AlreadyEnded,
        };
        tokens.forget()?;
        self.forget_session()?;
        Ok(Some((session, outcome)))
    }

    fn keep(&self, session: &Session, client: &Client) -> Result<(), CliError> {
        let token = client
            .token()
            .ok_or(CliError::Client(ClientError::NotSignedIn))?;
        self.save_session(session)?;
        if let Kept::File {
            path,
            first_time: true,
        } = self.tokens(session)?.save(token)?
        {
            eprintln!(
                "shelfmark: no keyring service in use here; the session token is kept in {} \
                 (readable only by you)",
                path.display()
            );
        }
        Ok(())
    }

    /// A client signed in to this cache's server: with the kept token, or signing in again
    /// with a password (SHELFMARK_PASSWORD or a prompt) when there is none.
    pub async fn client(&self) -> Result<Client, CliError> {
        let session = self.session()?.ok_or(CliError::NotLoggedIn)?;
        match self.tokens(&session)?.load()? {
            Some(token) => Ok(self.connect(&session)?.resuming(&token, &session.user)),
            None => self.sign_in_again(&session).await,
        }
    }

    async fn sign_in_again(&self, session: &Session) -> Result<Client, CliError> {
        let Some(password) = password_from_env_or_prompt(&session.user)? else {
            let pending = self.open()?.sync_counts()?.pending_edits;
            return Err(CliError::NeedPassword { pending });
        };
        let mut client = self.connect(session)?;
        client.sign_in(&session.user, &password).await?;
        self.keep(session, &client)?;
        Ok(client)
    }

    /// Runs `op` with a signed-in client; when the server answers 401 (the token expired or
    /// was revoked), signs in again and runs it once more. Edits stay in the outbox across the
    /// 401 (the engine never drops an edit it could not send), so nothing is lost.
    pub async fn with_client<T, F, Fut>(&self, op: F) -> Result<T, CliError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let client = self.client().await?;
        match op(client).await {
            Err(ClientError::Unauthorized(_)) => {
                let session = self.session()?.ok_or(CliError::NotLoggedIn)?;
                eprintln!("shelfmark: the session has expired; signing in again");
                let client = self.sign_in_again(&session).await?;
                Ok(op(client).await?)
            }
            other => Ok(other?),
        }
    }
}

/// The password from SHELFMARK_PASSWORD, else from a prompt on the terminal; None when there
/// is neither (a script without the variable).
pub fn password_from_env_or_prompt(user: &str) -> Result<Option<String>, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(Some(password));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    rpassword::prompt_password(format!("Password for {user}: "))
        .map(Some)
        .map_err(CliError::io("/dev/tty"))
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}
