//! Which servers the client trusts, and what to say when it refuses one.
//!
//! A library server's certificate is checked against the system's roots and, when the library
//! runs its own certificate authority, against that CA's file too (`--ca-cert`, the sign-in
//! screen's CA file). When a handshake fails, the person at the desk needs the case in plain
//! words (untrusted, expired, or for another name), not rustls's: the cause is found by walking
//! the error's source chain down to rustls's `CertificateError`.

use std::path::Path;

use reqwest::Certificate;
use rustls::CertificateError;
use rustls::pki_types::ServerName;

use crate::ClientError;

/// Why the server's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Not issued by an authority this computer trusts (a library's own CA whose file was not
    /// given, or a self-signed certificate).
    Untrusted,
    /// Past its end date (`YYYY-MM-DD`, when rustls said).
    Expired { on: Option<String> },
    /// Before its start date (often this computer's clock).
    NotYetValid,
    /// Issued for other names than the one the client asked for.
    ForAnotherName {
        presented: Vec<String>,
        expected: String,
    },
    /// Refused for another reason (rustls's words).
    Other(String),
}

impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateProblem::Untrusted => f.write_str(
                "the server's certificate is untrusted: its issuer is not an authority this \
                 computer knows (unknown issuer)",
            ),
            CertificateProblem::Expired { on: Some(day) } => {
                write!(f, "the server's certificate expired on {day}")
            }
            CertificateProblem::Expired { on: None } => {
                f.write_str("the server's certificate has expired")
            }
            CertificateProblem::NotYetValid => f.write_str(
                "the server's certificate is not valid yet (is this computer's clock right?)",
            ),
            CertificateProblem::ForAnotherName {
                presented,
                expected,
            } => {
                let names = match presented.as_slice() {
                    [] => "no name at all".to_owned(),
                    [one] => one.clone(),
                    [first @ .., last] => format!("{} or {last}", first.join(", ")),
                };
                write!(f, "the server's certificate is for {names}, not {expected}")
            }
            CertificateProblem::Other(why) => {
                write!(f, "the server's certificate was refused ({why})")
            }
        }
    }
}

/// Why a secure connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate was refused.
    Certificate(CertificateProblem),
    /// The handshake failed otherwise, often because the address is not a TLS server at all
    /// (`https://` to a plain HTTP port).
    Handshake(String),
}

/// The roots in a library's CA file (PEM, one certificate or several).
pub(crate) fn library_roots(path: &Path) -> Result<Vec<Certificate>, ClientError> {
    let bad = |reason: String| ClientError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let roots = Certificate::from_pem_bundle(&bytes)
        .map_err(|_| bad("it is not a PEM certificate file".into()))?;
    if roots.is_empty() {
        return Err(bad(
            "it holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

/// What went wrong with TLS in a failed request, if that is what failed.
pub(crate) fn tls_problem(e: &reqwest::Error) -> Option<TlsProblem> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(problem) => {
                    TlsProblem::Certificate(certificate_problem(problem, e))
                }
                rustls::Error::NoCertificatesPresented | rustls::Error::UnsupportedNameType => {
                    TlsProblem::Certificate(CertificateProblem::Other(tls.to_string()))
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

fn certificate_problem(problem: &CertificateError, request: &reqwest::Error) -> CertificateProblem {
    match problem {
        CertificateError::UnknownIssuer => CertificateProblem::Untrusted,
        CertificateError::Expired => CertificateProblem::Expired { on: None },
        CertificateError::ExpiredContext { not_after, .. } => CertificateProblem::Expired {
            on: i64::try_from(not_after.as_secs())
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .map(|at| at.format("%Y-%m-%d").to_string()),
        },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateProblem::NotYetValid
        }
        CertificateError::NotValidForName => CertificateProblem::ForAnotherName {
            presented: Vec::new(),
            expected: host_of(request),
        },
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => CertificateProblem::ForAnotherName {
            presented: presented.iter().filter_map(|p| presented_name(p)).collect(),
            expected: match expected {
                ServerName::DnsName(name) => name.as_ref().to_owned(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                _ => host_of(request),
            },
        },
        other => {
            CertificateProblem::Other(rustls::Error::InvalidCertificate(other.clone()).to_string())
        }
    }
}

/// The host a request went to (the name the certificate had to be for).
fn host_of(request: &reqwest::Error) -> String {
    request
        .url()
        .and_then(|u| u.host_str())
        .unwrap_or("this server")
        .to_owned()
}

/// A name as rustls reports it among a certificate's names (`DnsName("a.example")`,
/// `IpAddress(10.0.0.1)`), as a person writes it; None for kinds a server is not named by.
fn presented_name(presented: &str) -> Option<String> {
    if let Some(rest) = presented.strip_prefix("DnsName(\"") {
        return rest.strip_suffix("\")").map(str::to_owned);
    }
    presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_rustls_reports_them_are_written_as_a_person_would() {
        assert_eq!(
            presented_name("DnsName(\"other.example\")").as_deref(),
            Some("other.example")
        );
        assert_eq!(
            presented_name("IpAddress(10.0.0.1)").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(presented_name("DirectoryName"), None);
    }

    #[test]
    fn a_certificate_for_another_name_says_both_names() {
        let one = CertificateProblem::ForAnotherName {
            presented: vec!["other.example".into()],
            expected: "shelfmark.example".into(),
        };
        assert_eq!(
            one.to_string(),
            "the server's certificate is for other.example, not shelfmark.example"
        );
        let several = CertificateProblem::ForAnotherName {
            presented: vec!["a.example".into(), "b.example".into(), "c.example".into()],
            expected: "shelfmark.example".into(),
        };
        assert_eq!(
            several.to_string(),
            "the server's certificate is for a.example, b.example or c.example, not shelfmark.example"
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("a folder");
        let missing = dir.path().join("missing.pem");
        let e = library_roots(&missing).expect_err("no such file");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot use the CA file {}: ", missing.display())),
            "{e}"
        );
        let empty = dir.path().join("notes.txt");
        std::fs::write(&empty, "not a certificate\n").expect("writes");
        let e = library_roots(&empty).expect_err("no certificate in it");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
    }
}

#[cfg(test)]
mod handshakes {
    use super::*;
    use crate::Client;
    use crate::test_support::{TestCa, tls_server};

    /// Signs in to the test server at `addr` as `localhost`, trusting `ca` when given.
    async fn sign_in(addr: std::net::SocketAddr, ca: Option<&TestCa>) -> Result<(), ClientError> {
        let url = format!("https://localhost:{}", addr.port());
        let mut client = Client::trusting(&url, ca.map(|c| c.pem_file.path()))?;
        client.sign_in("librarian", "secret").await.map(drop)
    }

    fn problem_of(result: Result<(), ClientError>) -> CertificateProblem {
        match result {
            Err(ClientError::Certificate { problem, .. }) => problem,
            other => panic!("expected a refused certificate, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_given_the_librarys_ca_file_trusts_the_certificates_it_signed() {
        let ca = TestCa::new();
        let addr = tls_server(ca.server_cert("localhost")).await;
        sign_in(addr, Some(&ca)).await.expect("trusted");
    }

    #[tokio::test]
    async fn without_the_ca_file_the_certificate_is_plainly_untrusted() {
        let ca = TestCa::new();
        let addr = tls_server(ca.server_cert("localhost")).await;
        let e = sign_in(addr, None).await.expect_err("untrusted");
        assert!(e.to_string().contains("untrusted"), "{e}");
        assert!(!e.is_retryable());
        assert_eq!(problem_of(Err(e)), CertificateProblem::Untrusted);
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_says_which_name_it_is_for() {
        let ca = TestCa::new();
        let addr = tls_server(ca.server_cert("other.example")).await;
        let e = sign_in(addr, Some(&ca)).await.expect_err("another name");
        assert_eq!(
            e.to_string(),
            "the server's certificate is for other.example, not localhost"
        );
    }

    #[tokio::test]
    async fn an_expired_certificate_says_when_it_expired() {
        let ca = TestCa::new();
        let addr = tls_server(ca.expired_cert("localhost")).await;
        let e = sign_in(addr, Some(&ca)).await.expect_err("expired");
        assert_eq!(
            e.to_string(),
            "the server's certificate expired on 2021-01-01"
        );
    }

    #[test]
    fn a_ca_file_that_is_not_a_certificate_is_refused_before_any_request() {
        let mut file = tempfile::NamedTempFile::new().expect("a file");
        std::io::Write::write_all(
            &mut file,
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .expect("writes");
        let e = Client::trusting("https://localhost:1", Some(file.path()))
            .map(drop)
            .expect_err("not a certificate");
        assert!(matches!(e, ClientError::CaFile { .. }), "{e:?}");
    }
}
