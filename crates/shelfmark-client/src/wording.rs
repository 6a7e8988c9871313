//! What a person is told when the client fails: the sign-in screen's sentence (what to fix:
//! the password, the address, the network, or the server's certificate), the one for the
//! online-only actions (the manager's escalation actions) and the one for a record's history
//! (which only the server keeps). The words are a rule about the client's errors, so they
//! live next to them; the shells only show them.

use shelfmark_core::FieldError;

use crate::{CertificateProblem, ClientError, TlsProblem};

/// What the history screen says offline, or when the server cannot be reached.
const HISTORY_NEEDS_THE_SERVER: &str = "History needs a connection to the server.";

impl ClientError {
    /// What the sign-in screen says when signing in to `server` failed.
    pub fn sign_in_message(&self, server: &str) -> String {
        match (self.tls_problem(), self) {
            (Some(TlsProblem::Certificate(CertificateProblem::Untrusted)), _) => format!(
                "The server at {server} cannot be trusted: its certificate is untrusted (unknown \
                 issuer). If your library runs its own certificate authority, choose its CA \
                 file (ask your IT admin for it)."
            ),
            (
                Some(TlsProblem::Certificate(problem @ CertificateProblem::ForAnotherName { .. })),
                _,
            ) => {
                let problem = problem.to_string();
                format!(
                    "{}{}. Check the address (it must be the name on the certificate).",
                    problem[..1].to_uppercase(),
                    &problem[1..]
                )
            }
            (Some(TlsProblem::Certificate(problem @ CertificateProblem::Expired { .. })), _) => {
                format!(
                    "The server at {server} cannot be trusted: {problem}. Ask your IT admin to \
                     renew it."
                )
            }
            (Some(TlsProblem::Certificate(problem)), _) => {
                format!("The server at {server} cannot be trusted: {problem}.")
            }
            (Some(TlsProblem::Handshake(why)), _) => format!(
                "Could not open a secure connection to {server} ({why}). Is it the https:// \
                 address of the library server? A server without TLS takes http://."
            ),
            (None, ClientError::Unauthorized(_)) => "Wrong user name or password.".into(),
            (None, e @ (ClientError::TooManyAttempts { .. } | ClientError::CaFile { .. })) => {
                format!("{e}.")
            }
            (None, ClientError::Unavailable { .. } | ClientError::Server { status: 500.., .. }) => {
                format!(
                    "The server at {server} is too busy to answer just now: try again in a moment."
                )
            }
            (None, ClientError::InvalidUrl(_)) => {
                format!("“{server}” is not a server address (like https://library.example.org).")
            }
            (None, e @ ClientError::Network(_)) => {
                format!("Cannot reach the server at {server}: {e}")
            }
            (None, other) => other.to_string(),
        }
    }

    /// What the window says when the server refused or could not answer an online-only action:
    /// what to do, or for a refused form each field's message.
    pub fn action_message(&self) -> String {
        match self {
            ClientError::Server { status: 403, .. } => {
                "Only a manager can act on escalations.".to_owned()
            }
            ClientError::Server {
                status: 400,
                problem: Some(problem),
            } => {
                if problem.errors.is_empty() {
                    problem.detail.clone()
                } else {
                    let messages: Vec<_> =
                        problem.errors.iter().map(|f| f.message.as_str()).collect();
                    messages.join("; ")
                }
            }
            ClientError::NotSignedIn => "Sign in to act on escalations.".to_owned(),
            e if e.is_retryable() => format!(
                "This needs the server, and it cannot be reached now ({e}). Try again when \
                 the status bar says Online."
            ),
            e => e.to_string(),
        }
    }

    /// What the history screen says when it cannot show a record's history: the history is
    /// the server's, so without the server there is none to show, and that is all a person
    /// needs to hear (no error text).
    pub fn history_message(&self) -> String {
        match self {
            ClientError::NotSignedIn => HISTORY_NEEDS_THE_SERVER.to_owned(),
            e if e.is_retryable() => HISTORY_NEEDS_THE_SERVER.to_owned(),
            ClientError::Server { status: 403, .. } => {
                "Only a manager can read this record's history.".to_owned()
            }
            ClientError::Unauthorized(_) => {
                "The session has ended: sign in again to read the history.".to_owned()
            }
            e => e.to_string(),
        }
    }

    /// The fields a refused form (`400` with a problem) marks; none for any other error.
    pub fn refused_fields(&self) -> &[FieldError] {
        match self {
            ClientError::Server {
                status: 400,
                problem: Some(problem),
            } => &problem.errors,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;
    use shelfmark_core::wire::Problem;

    /// Signs in to `url` and returns what the sign-in screen would say.
    async fn message_for(url: &str) -> String {
        let mut client = Client::new(url).expect("a URL");
        let e = client
            .sign_in("librarian", "secret")
            .await
            .expect_err("cannot sign in there");
        e.sign_in_message(url)
    }

    #[tokio::test]
    async fn https_to_a_server_without_tls_says_the_secure_connection_failed() {
        let addr = crate::test_support::plain_http_server().await;
        let message = message_for(&format!("https://{addr}")).await;
        assert!(
            message.starts_with("Could not open a secure connection to https://127.0.0.1:"),
            "{message}"
        );
        assert!(message.contains("http://"), "{message}");
    }

    #[tokio::test]
    async fn nobody_listening_says_the_server_cannot_be_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        drop(listener);
        let message = message_for(&url).await;
        assert!(
            message.starts_with(&format!("Cannot reach the server at {url}")),
            "{message}"
        );
    }

    #[test]
    fn a_refused_form_lists_each_field_message_and_marks_the_fields() {
        let field = |name: &str, message: &str| FieldError {
            field: name.into(),
            message: message.into(),
        };
        let e = ClientError::Server {
            status: 400,
            problem: Some(Box::new(Problem {
                kind: "/problems/validation".into(),
                title: "invalid".into(),
                status: 400,
                detail: "the request is invalid".into(),
                errors: vec![field("note", "too long"), field("quantity", "at least 1")],
                extensions: Default::default(),
            })),
        };
        assert_eq!(e.action_message(), "too long; at least 1");
        assert_eq!(e.refused_fields().len(), 2);
        assert!(ClientError::NotSignedIn.refused_fields().is_empty());
    }

    #[tokio::test]
    async fn without_the_server_the_history_says_it_needs_a_connection_and_nothing_more() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        drop(listener);
        let client = Client::with_token(&url, "a-token", "librarian").expect("a client");
        let unreachable = client
            .revisions(shelfmark_core::RecordType::Book, uuid::Uuid::nil())
            .await
            .expect_err("nobody answers");
        let server_error = ClientError::Server {
            status: 503,
            problem: None,
        };
        for e in [unreachable, ClientError::NotSignedIn, server_error] {
            assert_eq!(
                e.history_message(),
                "History needs a connection to the server.",
                "{e:?}"
            );
        }
        let refused = ClientError::Server {
            status: 403,
            problem: None,
        };
        assert_eq!(
            refused.history_message(),
            "Only a manager can read this record's history."
        );
    }

    #[test]
    fn a_librarian_is_told_only_a_manager_acts_on_escalations() {
        let e = ClientError::Server {
            status: 403,
            problem: None,
        };
        assert_eq!(e.action_message(), "Only a manager can act on escalations.");
        assert_eq!(
            ClientError::NotSignedIn.action_message(),
            "Sign in to act on escalations."
        );
    }
}
