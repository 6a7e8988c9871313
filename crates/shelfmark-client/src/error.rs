//! The sync engine's one error type. The answers a caller acts on are typed: a `409` edit
//! conflict carries base, mine and theirs with theirs' ETag, a duplicate the existing record's
//! id, a lost hold the escalation opened for it; nobody reads a 409's JSON by hand.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use shelfmark_core::wire::Problem;
use uuid::Uuid;

use crate::tls::{self, CertificateProblem, TlsProblem};

/// What caused a protocol error, when something did (a body that does not parse...).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a `409 edit-conflict` carries: the three versions of the record, to merge without
/// another round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct EditConflict {
    /// The revision the request's `If-Match` named, from the server's history (None when the
    /// history no longer has it).
    pub base: Option<Value>,
    pub base_etag: Option<String>,
    /// What the request sent (None when it sent no body).
    pub mine: Option<Value>,
    /// The server's current state (`null`: deleted meanwhile).
    pub theirs: Value,
    pub theirs_etag: String,
}

/// What can go wrong talking to the server or applying what it sent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not a valid server address: {0}")]
    InvalidUrl(String),
    #[error("cannot reach the server: {}", root_cause(.0))]
    Network(#[source] reqwest::Error),
    /// The server's certificate was refused: the message says which case (untrusted, expired,
    /// for another name). The failed request is kept, out of the message (it adds nothing a
    /// person can act on).
    #[error("{problem}")]
    Certificate {
        problem: CertificateProblem,
        request: Box<reqwest::Error>,
    },
    /// The library's CA file (`--ca-cert`, the sign-in screen's) cannot be used.
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("the server refused the sign-in: {0}")]
    Unauthorized(String),
    /// `429 too-many-attempts`: too many failed sign-ins for this user name from this address.
    #[error("Too many failed sign-ins for this name from this computer: try again {}", in_minutes(.retry_after))]
    TooManyAttempts { retry_after: Option<Duration> },
    #[error("not signed in")]
    NotSignedIn,
    #[error("the server answered {status}{}", problem.as_ref().map(|p| format!(": {} ({})", p.title, p.detail)).unwrap_or_default())]
    Server {
        status: u16,
        problem: Option<Box<Problem>>,
    },
    /// A 5xx or 429 (the server shedding load answers `503 overloaded`): like a network error,
    /// tried again later, after the server's `Retry-After` when it gave one.
    #[error("the server is busy or failing ({status}); trying again later")]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the record kept changing on the server while pushing; trying again later")]
    Busy,
    /// `409 edit-conflict`: the record changed on the server since the request's `If-Match`.
    #[error("the server answered 409: the record changed on the server meanwhile")]
    EditConflict(Box<EditConflict>),
    /// `409 duplicate`: another record holds the same ISBN or barcode.
    #[error("the server answered 409: {} ({})", problem.title, problem.detail)]
    Duplicate {
        existing_id: Option<Uuid>,
        problem: Box<Problem>,
    },
    /// `409 hold-unavailable`: every copy is taken, the hold is lost (for a premium patron the
    /// server opened an escalation).
    #[error("the server answered 409: {} ({})", problem.title, problem.detail)]
    HoldLost {
        escalation_id: Option<Uuid>,
        problem: Box<Problem>,
    },
    #[error("the server broke the protocol: {what}")]
    Protocol {
        what: String,
        #[source]
        source: Option<Cause>,
    },
    #[error("the {what} task failed")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Store(#[from] shelfmark_store::StoreError),
    #[error("the cache is unusable after an earlier failure; restart the app")]
    StorePoisoned,
}

impl From<reqwest::Error> for ClientError {
    /// A refused certificate becomes [`ClientError::Certificate`]; anything else that kept a
    /// request from being answered is [`ClientError::Network`].
    fn from(e: reqwest::Error) -> Self {
        match tls::tls_problem(&e) {
            Some(TlsProblem::Certificate(problem)) => ClientError::Certificate {
                problem,
                request: Box::new(e),
            },
            _ => ClientError::Network(e),
        }
    }
}

/// "in 15 minutes" (`wait_in_words`, as the server words it), "later" when it did not say.
fn in_minutes(after: &Option<Duration>) -> String {
    match after {
        Some(d) => format!("in {}", shelfmark_core::wire::wait_in_words(d.as_secs())),
        None => "later".to_owned(),
    }
}

impl From<shelfmark_core::push::VerdictError> for ClientError {
    fn from(e: shelfmark_core::push::VerdictError) -> Self {
        use shelfmark_core::push::VerdictError;
        match e {
            VerdictError::NoMergeData(source) => {
                ClientError::protocol_because("a 409 without its merge data", source)
            }
            VerdictError::Merge(source) => ClientError::protocol_because("cannot merge", source),
        }
    }
}

impl ClientError {
    /// The server broke the protocol, with nothing more to say.
    pub fn protocol(what: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            what: what.into(),
            source: None,
        }
    }

    /// The server broke the protocol; `source` says how.
    pub fn protocol_because(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ClientError {
        ClientError::Protocol {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A refusal as its typed error: the 409s a caller acts on become [`ClientError::EditConflict`],
    /// [`ClientError::Duplicate`] and [`ClientError::HoldLost`]; `mine` is what the request sent.
    pub fn refused(status: u16, problem: Option<Problem>, mine: Option<&Value>) -> ClientError {
        use shelfmark_core::{push, wire};
        let Some(problem) = problem else {
            return ClientError::Server {
                status,
                problem: None,
            };
        };
        match (status, problem.name()) {
            (409, "edit-conflict") => match serde_json::from_value::<wire::EditConflict>(
                Value::Object(problem.extensions.clone()),
            ) {
                Ok(c) => ClientError::EditConflict(Box::new(EditConflict {
                    base: c.base,
                    base_etag: c.base_etag,
                    mine: mine.cloned(),
                    theirs: c.current,
                    theirs_etag: c.current_etag,
                })),
                Err(e) => ClientError::protocol_because("a 409 without its merge data", e),
            },
            (409, "duplicate") => ClientError::Duplicate {
                existing_id: push::existing_of_duplicate(&problem),
                problem: Box::new(problem),
            },
            (409, "hold-unavailable") => ClientError::HoldLost {
                escalation_id: push::escalation_of_lost_hold(&problem),
                problem: Box::new(problem),
            },
            _ => ClientError::Server {
                status,
                problem: Some(Box::new(problem)),
            },
        }
    }

    /// How long the server asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Unavailable { retry_after, .. }
            | ClientError::TooManyAttempts { retry_after } => *retry_after,
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

impl ClientError {
    /// What went wrong with TLS, when a request failed in its handshake.
    pub fn tls_problem(&self) -> Option<TlsProblem> {
        match self {
            ClientError::Certificate { problem, .. } => {
                Some(TlsProblem::Certificate(problem.clone()))
            }
            ClientError::Network(e) => tls::tls_problem(e),
            _ => None,
        }
    }
}

/// The innermost cause of an error ("Connection refused"), which is what a person can act on;
/// reqwest's own message only says that sending failed.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "01890000-0000-7000-8000-000000000001";

    fn problem(status: u16, name: &str, extensions: Value) -> Option<Problem> {
        Some(Problem {
            kind: format!("/problems/{name}"),
            title: name.into(),
            status,
            detail: format!("{name} detail"),
            errors: Vec::new(),
            extensions: extensions.as_object().cloned().unwrap_or_default(),
        })
    }

    #[test]
    fn an_edit_conflict_carries_base_mine_and_theirs_with_its_etag() {
        let mine = json!({"status": "reassigned"});
        let extensions = json!({"current": {"status": "resolved"}, "current_etag": "\"9\"",
                                "base": {"status": "open"}, "base_etag": "\"8\""});
        let e = ClientError::refused(409, problem(409, "edit-conflict", extensions), Some(&mine));
        let ClientError::EditConflict(c) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(c.theirs, json!({"status": "resolved"}));
        assert_eq!(c.theirs_etag, "\"9\"");
        assert_eq!(c.base, Some(json!({"status": "open"})));
        assert_eq!(c.base_etag.as_deref(), Some("\"8\""));
        assert_eq!(c.mine, Some(mine));
        assert!(!e.is_retryable());
        assert_eq!(
            crate::escalations::conflict_current(&e),
            Some(&json!({"status": "resolved"}))
        );
    }

    #[test]
    fn an_edit_conflict_without_its_data_is_a_protocol_error_that_keeps_its_cause() {
        let e = ClientError::refused(409, problem(409, "edit-conflict", json!({})), None);
        assert!(matches!(e, ClientError::Protocol { .. }), "{e:?}");
        let source = std::error::Error::source(&e).expect("a cause");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
    }

    #[test]
    fn a_duplicate_names_the_existing_record() {
        let e = ClientError::refused(
            409,
            problem(409, "duplicate", json!({"existing_id": ID})),
            None,
        );
        assert!(
            matches!(&e, ClientError::Duplicate { existing_id: Some(id), .. } if id.to_string() == ID),
            "{e:?}"
        );
    }

    #[test]
    fn a_lost_hold_names_its_escalation_when_there_is_one() {
        let premium = ClientError::refused(
            409,
            problem(
                409,
                "hold-unavailable",
                json!({"escalation_id": ID, "patron_premium": true}),
            ),
            None,
        );
        assert!(
            matches!(&premium, ClientError::HoldLost { escalation_id: Some(id), .. } if id.to_string() == ID),
            "{premium:?}"
        );
        let plain = ClientError::refused(
            409,
            problem(409, "hold-unavailable", json!({"patron_premium": false})),
            None,
        );
        assert!(matches!(
            plain,
            ClientError::HoldLost {
                escalation_id: None,
                ..
            }
        ));
    }

    #[test]
    fn other_refusals_stay_server_errors_with_their_problem() {
        let in_use = ClientError::refused(409, problem(409, "in-use", json!({})), None);
        assert!(matches!(
            in_use,
            ClientError::Server {
                status: 409,
                problem: Some(_)
            }
        ));
        let stale = ClientError::refused(412, problem(412, "precondition-failed", json!({})), None);
        assert!(matches!(stale, ClientError::Server { status: 412, .. }));
        let bare = ClientError::refused(409, None, None);
        assert!(matches!(
            bare,
            ClientError::Server {
                status: 409,
                problem: None
            }
        ));
    }
    use crate::test_support::plain_http_server;

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
