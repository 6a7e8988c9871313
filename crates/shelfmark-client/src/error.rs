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

impl From<shelfmark_core::push::VerdictError> for ClientError {
    fn from(e: shelfmark_core::push::VerdictError) -> Self {
        ClientError::Protocol(e.to_string())
    }
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

/// Why a secure connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate is not one this computer trusts (self-signed, expired, issued
    /// for another name...).
    Certificate(String),
    /// The handshake failed otherwise, often because the address is not a TLS server at all
    /// (`https://` to a plain HTTP port).
    Handshake(String),
}

impl ClientError {
    /// What went wrong with TLS, when a request failed in its handshake.
    pub fn tls_problem(&self) -> Option<TlsProblem> {
        let ClientError::Network(e) = self else {
            return None;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(tls) = c.downcast_ref::<rustls::Error>() {
                return Some(match tls {
                    rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType => {
                        TlsProblem::Certificate(tls.to_string())
                    }
                    _ => TlsProblem::Handshake(tls.to_string()),
                });
            }
            // An I/O error's `source` skips the error it wraps: step into it instead.
            cause = match c
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => c.source(),
            };
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A plain HTTP server on loopback that answers anything with a 400.
    async fn plain_http_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_to_a_plain_http_port_is_a_tls_handshake_problem() {
        let addr = plain_http_server().await;
        let error = reqwest::get(format!("https://{addr}/"))
            .await
            .map(drop)
            .map_err(ClientError::from)
            .expect_err("no TLS there");
        assert!(
            matches!(error.tls_problem(), Some(TlsProblem::Handshake(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_a_tls_problem() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let error = reqwest::get(format!("https://{addr}/"))
            .await
            .map(drop)
            .map_err(ClientError::from)
            .expect_err("nobody listens");
        assert_eq!(error.tls_problem(), None, "{error:?}");
    }
}
