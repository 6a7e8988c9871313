//! The sync engine's one error type.

use shelfmark_core::wire::Problem;

/// What can go wrong talking to the server or applying what it sent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not a valid server address: {0}")]
    InvalidUrl(String),
    #[error("cannot reach the server: {}", root_cause(.0))]
    Network(#[from] reqwest::Error),
    #[error("the server refused the sign-in: {0}")]
    Unauthorized(String),
    #[error("not signed in")]
    NotSignedIn,
    #[error("the server answered {status}{}", problem.as_ref().map(|p| format!(": {} ({})", p.title, p.detail)).unwrap_or_default())]
    Server {
        status: u16,
        problem: Option<Box<Problem>>,
    },
    #[error("the server is busy or failing ({status}); trying again later")]
    Unavailable {
        status: u16,
        retry_after: Option<std::time::Duration>,
    },
    #[error("the record kept changing on the server while pushing; trying again later")]
    Busy,
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] shelfmark_store::StoreError),
    #[error("the cache is unusable after an earlier failure; restart the app")]
    StorePoisoned,
}

impl ClientError {
    /// How long the server asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ClientError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether trying the same request again later may succeed (network trouble, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Network(_) | ClientError::Unavailable { .. } | ClientError::Busy => true,
            ClientError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The innermost cause of an error ("Connection refused"), which is what a person can act on;
/// reqwest's own message only says that sending failed.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
