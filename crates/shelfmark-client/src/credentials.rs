//! Where a session token is kept between runs, so that a librarian signs in once and not at
//! every start of the app or of `shelfmark`.
//!
//! The token goes into the operating system's keyring (Keychain, Windows Credential Manager,
//! the Secret Service on Linux) under the service `shelfmark` and the account
//! `<user>@<server>`. A headless machine or a CI runner has no keyring service (no D-Bus
//! session, nothing answering for the Secret Service): there the token goes into a file that
//! only its owner may read (mode 0600), beside the offline cache, and the caller is told the
//! first time so it can say so once. A token file whose mode lets anyone else read it is
//! refused rather than used.
//!
//! `SHELFMARK_CREDENTIAL_STORE` (`auto`, the default; `keyring`; `file`) chooses explicitly,
//! for example to keep test runs away from a developer's real keyring.
//!
//! The calls are blocking (the keyring talks D-Bus): from async code, call them in
//! `tokio::task::spawn_blocking`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The keyring service name every Shelfmark token is kept under.
pub const SERVICE: &str = "shelfmark";

/// The environment variable that chooses the [`Backend`].
pub const BACKEND_VAR: &str = "SHELFMARK_CREDENTIAL_STORE";

/// What can go wrong keeping or reading a token.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the keyring refused the token: {0}")]
    Keyring(#[from] keyring::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} can be read by other users: refusing to use the token in it (remove the file and \
         sign in again)",
        .0.display()
    )]
    InsecureFile(PathBuf),
    #[error("{} is not a token file; remove it and sign in again", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{BACKEND_VAR}={0} is not one of auto, keyring, file")]
    UnknownBackend(String),
}

/// Where tokens go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The keyring when one answers, else the file.
    Auto,
    /// The keyring only: an error when none answers.
    Keyring,
    /// The file only.
    File,
}

impl Backend {
    /// The backend `SHELFMARK_CREDENTIAL_STORE` names (`Auto` when unset).
    pub fn from_env() -> Result<Backend, CredentialError> {
        match std::env::var(BACKEND_VAR) {
            Err(_) => Ok(Backend::Auto),
            Ok(v) => match v.trim() {
                "" | "auto" => Ok(Backend::Auto),
                "keyring" => Ok(Backend::Keyring),
                "file" => Ok(Backend::File),
                other => Err(CredentialError::UnknownBackend(other.to_owned())),
            },
        }
    }
}

/// Where a token was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// In the operating system's keyring.
    Keyring,
    /// In a file readable only by the user. `first_time`: the file did not exist before, so
    /// the caller should say once that the token lives there.
    File { path: PathBuf, first_time: bool },
}

/// The token file's content: the account it belongs to, so that signing in as someone else
/// (or to another server) never reuses it.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    account: String,
    token: String,
}

/// The token of one account (user on one server).
#[derive(Debug, Clone)]
pub struct TokenStore {
    account: String,
    file: PathBuf,
    backend: Backend,
}

impl TokenStore {
    /// The token store of `user` on `server_url`; `file` is where the token goes when there is
    /// no keyring (beside the cache, for example `cache.db.token`).
    pub fn new(server_url: &str, user: &str, file: PathBuf, backend: Backend) -> TokenStore {
        TokenStore {
            account: format!("{user}@{}", server_url.trim_end_matches('/')),
            file,
            backend,
        }
    }

    /// The keyring account name (`<user>@<server>`).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Keeps `token`, replacing any earlier one of this account.
    pub fn save(&self, token: &str) -> Result<Kept, CredentialError> {
        if self.backend != Backend::File {
            match self.entry().and_then(|e| e.set_password(token)) {
                Ok(()) => {
                    // An older token left in the file must not outlive this one.
                    remove_file(&self.file)?;
                    return Ok(Kept::Keyring);
                }
                Err(e) if self.backend == Backend::Auto && unavailable(&e) => {
                    tracing::debug!("no keyring ({e}); keeping the token in a file");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let first_time = !self.file.exists();
        write_private(
            &self.file,
            &TokenFile {
                account: self.account.clone(),
                token: token.to_owned(),
            },
        )?;
        Ok(Kept::File {
            path: self.file.clone(),
            first_time,
        })
    }

    /// The kept token of this account, if any.
    pub fn load(&self) -> Result<Option<String>, CredentialError> {
        if self.backend != Backend::File {
            match self.entry().and_then(|e| e.get_password()) {
                Ok(token) => return Ok(Some(token)),
                Err(keyring::Error::NoEntry) if self.backend == Backend::Keyring => {
                    return Ok(None);
                }
                Err(keyring::Error::NoEntry) => {}
                Err(e) if self.backend == Backend::Auto && unavailable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        read_private(&self.file, &self.account)
    }

    /// Forgets the token (signing out); nothing kept is not an error.
    pub fn forget(&self) -> Result<(), CredentialError> {
        if self.backend != Backend::File {
            match self.entry().and_then(|e| e.delete_credential()) {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) if self.backend == Backend::Auto && unavailable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        remove_file(&self.file)
    }

    fn entry(&self) -> keyring::Result<keyring::Entry> {
        keyring::Entry::new(SERVICE, &self.account)
    }
}

/// Errors that mean "there is no usable keyring here", as opposed to a keyring that refused.
fn unavailable(e: &keyring::Error) -> bool {
    matches!(
        e,
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_)
    )
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CredentialError + '_ {
    move |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    }
}

fn remove_file(path: &Path) -> Result<(), CredentialError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

/// Writes the file readable by its owner only: a fresh 0600 file beside it, synced, then
/// renamed over, so a crash never leaves a half-written or briefly world-readable token.
fn write_private(path: &Path, content: &TokenFile) -> Result<(), CredentialError> {
    let json = serde_json::to_vec(content).map_err(|source| CredentialError::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    remove_file(&tmp)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    file.write_all(&json).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_error(path))
}

fn read_private(path: &Path, account: &str) -> Result<Option<String>, CredentialError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .map_err(io_error(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CredentialError::InsecureFile(path.to_owned()));
        }
    }
    let file: TokenFile =
        serde_json::from_slice(&bytes).map_err(|source| CredentialError::Corrupt {
            path: path.to_owned(),
            source,
        })?;
    Ok((file.account == account).then_some(file.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, user: &str) -> TokenStore {
        TokenStore::new(
            "http://127.0.0.1:8080/",
            user,
            dir.join("cache.db.token"),
            Backend::File,
        )
    }

    #[test]
    fn a_token_kept_in_the_file_reads_back_and_only_the_first_save_asks_for_the_notice()
    -> Result<(), CredentialError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new(".")))?;
        let tokens = store(dir.path(), "librarian");
        assert_eq!(tokens.load()?, None);
        let first = tokens.save("t1")?;
        assert!(matches!(
            first,
            Kept::File {
                first_time: true,
                ..
            }
        ));
        let second = tokens.save("t2")?;
        assert!(matches!(
            second,
            Kept::File {
                first_time: false,
                ..
            }
        ));
        assert_eq!(tokens.load()?.as_deref(), Some("t2"));
        tokens.forget()?;
        assert_eq!(tokens.load()?, None);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn the_token_file_is_readable_by_its_owner_only() -> Result<(), CredentialError> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().map_err(io_error(Path::new(".")))?;
        let tokens = store(dir.path(), "librarian");
        tokens.save("secret")?;
        let path = dir.path().join("cache.db.token");
        let mode = fs::metadata(&path).map_err(io_error(&path))?.permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_refused() -> Result<(), CredentialError> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().map_err(io_error(Path::new(".")))?;
        let tokens = store(dir.path(), "librarian");
        tokens.save("secret")?;
        let path = dir.path().join("cache.db.token");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io_error(&path))?;
        assert!(matches!(
            tokens.load(),
            Err(CredentialError::InsecureFile(_))
        ));
        Ok(())
    }

    #[test]
    fn another_accounts_token_is_never_used() -> Result<(), CredentialError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new(".")))?;
        store(dir.path(), "librarian").save("theirs")?;
        assert_eq!(store(dir.path(), "manager").load()?, None);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_that_is_not_json_is_corrupt_and_keeps_the_parse_error()
    -> Result<(), CredentialError> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().map_err(io_error(Path::new(".")))?;
        let path = dir.path().join("cache.db.token");
        fs::write(&path, b"not json").map_err(io_error(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_error(&path))?;
        let err = store(dir.path(), "librarian")
            .load()
            .expect_err("not a token file");
        assert!(matches!(err, CredentialError::Corrupt { .. }), "{err:?}");
        let source = std::error::Error::source(&err).expect("the parse error is kept");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
        Ok(())
    }
}
