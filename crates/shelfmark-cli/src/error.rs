//! The one error type of the client subcommands (`login`, `sync`, `status`...): what the
//! binary prints before it exits with status 1.

use std::path::PathBuf;

use shelfmark_client::ClientError;
use shelfmark_client::credentials::CredentialError;
use shelfmark_store::StoreError;

/// Why a client subcommand could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot keep the session token: {0}")]
    Credentials(#[from] CredentialError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not signed in for this cache: run `shelfmark login --server URL --user NAME` first")]
    NotLoggedIn,
    #[error(
        "the session has expired and no password is at hand: set SHELFMARK_PASSWORD or run \
         `shelfmark login` again ({pending} pending edit(s) are kept in the cache)"
    )]
    NeedPassword { pending: i64 },
    #[error("no book {0} in the cache (run `shelfmark sync` first?)")]
    NoSuchBook(uuid::Uuid),
    #[error("no patron {0} in the cache (run `shelfmark sync` first?)")]
    NoSuchPatron(uuid::Uuid),
    #[error("{0}")]
    Usage(String),
    #[error("cannot read the MARC file: {0}")]
    Marc(#[from] shelfmark_client::marc::MarcFileError),
    #[error("cannot merge this inbox entry")]
    Merge(#[from] shelfmark_core::merge::SessionError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Io { path, source }
    }
}
